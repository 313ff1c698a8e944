//! Replication: any two databases (`mem://`, `file://`, CouchDB, pouchdb-server,
//! `couch-sql serve`) exchange documents with CouchDB's replication protocol —
//! every revision with its history, so conflicts are kept, not lost, and both
//! sides agree on each document's winner.
//!
//! ```no_run
//! # async fn demo(local: couch_runtime::Database, remote: couch_runtime::Database) -> couch_runtime::Result<()> {
//! let pushed = local.replicate_to(&remote).await?;
//! let pulled = local.replicate_from(&remote).await?;
//! println!("{} read, {} written, {} failed", pulled.docs_read, pulled.docs_written, pulled.doc_write_failures);
//! let (pushed, pulled) = local.sync(&remote).await?;
//! # Ok(()) }
//! ```

mod checkpoint;
mod live;
mod pass;
mod scope;

use crate::client::Database;
use crate::error::Result;
use crate::executor::BoxFuture;
pub use live::{LiveSync, SyncEvent};
pub use scope::{IntoScope, Scope};

/// What one replication did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicationReport {
    /// Revisions read from the source.
    pub docs_read: u64,
    /// Revisions the target took.
    pub docs_written: u64,
    /// Revisions the target refused (each in [`ReplicationReport::failures`]).
    pub doc_write_failures: u64,
    /// Revisions the target was asked about (`_revs_diff`).
    pub missing_checked: u64,
    /// Revisions the target lacked.
    pub missing_found: u64,
    /// Rows of the source's changes feed read.
    pub changes_read: u64,
    /// The source sequence this run started from (`0`: from the beginning).
    pub start_seq: String,
    /// The source sequence everything before which is now on the target.
    pub end_seq: String,
    /// Whether the run resumed from a checkpoint rather than from the beginning.
    pub resumed: bool,
    /// The revisions the target refused, with its reasons.
    pub failures: Vec<ReplicationFailure>,
}

/// A revision the target refused (a `validate_doc_update`, a missing right).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationFailure {
    /// The document.
    pub id: String,
    /// The revision, when the target said.
    pub rev: Option<String>,
    /// CouchDB's `error` (`forbidden`, `unauthorized`, …).
    pub error: String,
    /// CouchDB's `reason`.
    pub reason: String,
}

/// What a replication or a sync runs: its directions (source, target), in order,
/// its scope and its batch size.
struct Directions<'a> {
    pairs: Vec<(&'a Database, &'a Database)>,
    scope: Option<Result<Scope>>,
    batch: usize,
}

impl<'a> Directions<'a> {
    fn new(pairs: Vec<(&'a Database, &'a Database)>) -> Self {
        Directions { pairs, scope: None, batch: pass::DEFAULT_BATCH }
    }

    fn only(mut self, query: impl IntoScope) -> Self {
        self.scope = Some(query.into_scope());
        self
    }

    fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    fn live(self) -> LiveSync {
        let pairs = self.pairs.iter().map(|(s, t)| ((*s).clone(), (*t).clone())).collect();
        LiveSync::new(pairs, self.scope, self.batch)
    }

    /// One pass per direction, in order.
    async fn run(self) -> Result<Vec<ReplicationReport>> {
        let scope = self.scope.transpose()?;
        let mut reports = Vec::with_capacity(self.pairs.len());
        for (source, target) in self.pairs {
            reports.push(pass::Pass { source, target, scope: scope.as_ref(), batch: self.batch }.run().await?);
        }
        Ok(reports)
    }
}

/// A one-way replication, run by awaiting it: [`Database::replicate_to`] and
/// [`Database::replicate_from`].
#[must_use = "a replication does nothing until it is awaited (or made `live`)"]
pub struct Replication<'a>(Directions<'a>);

impl<'a> Replication<'a> {
    /// Only the documents `query` selects — its table and WHERE — are replicated
    /// (and deletions). The selector is sent as the source's `_selector` filter
    /// where it has one, and matched here where it does not.
    ///
    /// ```no_run
    /// # async fn demo(local: couch_runtime::Database, remote: couch_runtime::Database) -> couch_runtime::Result<()> {
    /// let north = couch_runtime::query("SELECT * FROM orders WHERE region = ?").bind("north");
    /// local.replicate_from(&remote).only(north).await?;
    /// # Ok(()) }
    /// ```
    pub fn only(self, query: impl IntoScope) -> Self {
        Replication(self.0.only(query))
    }

    /// Changes read per batch (500 by default, as CouchDB's replicator).
    pub fn batch_size(self, n: usize) -> Self {
        Replication(self.0.batch_size(n))
    }

    /// Replicates continuously until the stream is dropped: each pass that moves
    /// documents is a [`SyncEvent`]; between passes it waits for the source's next
    /// change; an outage is retried with backoff.
    pub fn live(self) -> LiveSync {
        self.0.live()
    }

    /// Runs the replication once: every change the source has now.
    pub async fn run(self) -> Result<ReplicationReport> {
        Ok(self.0.run().await?.remove(0))
    }
}

impl<'a> std::future::IntoFuture for Replication<'a> {
    type Output = Result<ReplicationReport>;
    type IntoFuture = BoxFuture<'a, Result<ReplicationReport>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// A replication both ways ([`Database::sync`]): awaited, it pushes then pulls and
/// answers `(pushed, pulled)`.
#[must_use = "a sync does nothing until it is awaited (or made `live`)"]
pub struct Sync<'a>(Directions<'a>);

impl<'a> Sync<'a> {
    /// Only the documents `query` selects, both ways (see [`Replication::only`]).
    pub fn only(self, query: impl IntoScope) -> Self {
        Sync(self.0.only(query))
    }

    /// Changes read per batch (500 by default).
    pub fn batch_size(self, n: usize) -> Self {
        Sync(self.0.batch_size(n))
    }

    /// Syncs continuously both ways until the stream is dropped (see [`Replication::live`]).
    pub fn live(self) -> LiveSync {
        self.0.live()
    }

    /// Pushes, then pulls.
    pub async fn run(self) -> Result<(ReplicationReport, ReplicationReport)> {
        let mut reports = self.0.run().await?;
        let pulled = reports.pop().expect("two directions");
        Ok((reports.pop().expect("two directions"), pulled))
    }
}

impl<'a> std::future::IntoFuture for Sync<'a> {
    type Output = Result<(ReplicationReport, ReplicationReport)>;
    type IntoFuture = BoxFuture<'a, Result<(ReplicationReport, ReplicationReport)>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl Database {
    /// Replicates this database's documents to `target` (created if missing): every
    /// revision with its history, so the target keeps conflicts as they are. A run
    /// resumes from the checkpoint the last one left on both sides.
    pub fn replicate_to<'a>(&'a self, target: &'a Database) -> Replication<'a> {
        Replication(Directions::new(vec![(self, target)]))
    }

    /// Replicates `source`'s documents into this database (see [`Database::replicate_to`]).
    pub fn replicate_from<'a>(&'a self, source: &'a Database) -> Replication<'a> {
        Replication(Directions::new(vec![(source, self)]))
    }

    /// Replicates both ways: pushes to `remote`, then pulls from it.
    pub fn sync<'a>(&'a self, remote: &'a Database) -> Sync<'a> {
        Sync(Directions::new(vec![(self, remote), (remote, self)]))
    }
}
