//! A synchronous API, for programs without an async runtime (like `reqwest::blocking`).
//!
//! The same `couch_sql!` values run on it, with the same verbs, returning
//! values instead of futures:
//!
//! ```no_run
//! # use couch_runtime::blocking::Database;
//! let db = Database::connect("http://127.0.0.1:5984/shop")?;
//! db.create_if_missing()?;
//! # Ok::<(), couch_runtime::Error>(())
//! ```
//!
//! It owns a small tokio runtime, shared by its clones. Do not use it from
//! inside an async context (a tokio task): use the async `Database` there.

use crate::error::{Error, Result};
use crate::executor::{BoxFuture, Executor};
use crate::ServerInfo;
use std::sync::Arc;

/// A CouchDB database with a blocking API. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Database {
    inner: crate::Database,
    rt: Arc<tokio::runtime::Runtime>,
}

impl Database {
    /// Connects (and pings the server), like [`crate::Database::connect`].
    pub fn connect(url: &str) -> Result<Database> {
        let db = Database::from_async(crate::Database::connect_lazy(url)?)?;
        db.ping()?;
        Ok(db)
    }

    /// Wraps an async [`crate::Database`] (for instance one made with its builder).
    pub fn from_async(inner: crate::Database) -> Result<Database> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("couch-sql-blocking")
            .enable_all()
            .build()
            .map_err(|e| Error::Transport(format!("could not start the blocking runtime: {e}")))?;
        Ok(Database { inner, rt: Arc::new(rt) })
    }

    /// The runtime this handle blocks on.
    pub(crate) fn runtime(&self) -> Arc<tokio::runtime::Runtime> {
        self.rt.clone()
    }

    /// The async database behind this one.
    pub fn as_async(&self) -> &crate::Database {
        &self.inner
    }

    /// Another database on the same server.
    pub fn database(&self, name: &str) -> Result<Database> {
        Ok(Database { inner: self.inner.database(name)?, rt: self.rt.clone() })
    }

    /// The database name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Documents per `_find` request (see [`crate::Database::with_page_size`]).
    pub fn with_page_size(self, n: usize) -> Self {
        Database { inner: self.inner.with_page_size(n), ..self }
    }

    /// CouchDB's `r` for this handle's reads (see [`crate::Database::with_read_quorum`]).
    pub fn with_read_quorum(self, r: u32) -> Self {
        Database { inner: self.inner.with_read_quorum(r), ..self }
    }

    /// CouchDB's `w` for this handle's writes (see [`crate::Database::with_write_quorum`]).
    pub fn with_write_quorum(self, w: u32) -> Self {
        Database { inner: self.inner.with_write_quorum(w), ..self }
    }

    /// `GET /`: checks the server answers, and what it is.
    pub fn ping(&self) -> Result<ServerInfo> {
        self.rt.block_on(self.inner.ping())
    }

    /// Whether the database exists.
    pub fn exists(&self) -> Result<bool> {
        self.rt.block_on(self.inner.exists())
    }

    /// Creates the database; `Ok(false)` if it already existed.
    pub fn create_if_missing(&self) -> Result<bool> {
        self.rt.block_on(self.inner.create_if_missing())
    }

    /// Creates the database partitioned (see [`crate::Database::create_partitioned_if_missing`]).
    pub fn create_partitioned_if_missing(&self) -> Result<bool> {
        self.rt.block_on(self.inner.create_partitioned_if_missing())
    }

    /// Whether the database is partitioned (see [`crate::Database::is_partitioned`]).
    pub fn is_partitioned(&self) -> Result<bool> {
        self.rt.block_on(self.inner.is_partitioned())
    }

    /// Deletes the database and every document in it.
    pub fn drop_database(&self) -> Result<()> {
        self.rt.block_on(self.inner.drop_database())
    }
}

impl Executor for Database {
    type Output<'a, T: 'a> = Result<T>;

    fn database(&self) -> &crate::Database {
        &self.inner
    }

    fn run<'a, T: Send + 'a>(&'a self, job: BoxFuture<'a, Result<T>>) -> Result<T> {
        self.rt.block_on(job)
    }
}
