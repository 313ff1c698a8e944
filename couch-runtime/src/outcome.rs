//! The outcome of INSERT, UPDATE and DELETE.

/// What happened to one document of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocOutcome {
    /// The document id.
    pub id: String,
    /// The new revision, when the write succeeded.
    pub rev: Option<String>,
    /// CouchDB's `(error, reason)` when it did not (e.g. `("conflict", "Document update conflict.")`).
    pub error: Option<(String, String)>,
    /// The write was *accepted* (HTTP 202), not confirmed (201): a CouchDB cluster
    /// stored it on fewer copies than its write quorum `w`, because copies were down
    /// or disagreed. The document is written; the missing copies get it from their
    /// peers later. See [`ExecuteResult::accepted_below_quorum`].
    pub accepted: bool,
}

impl DocOutcome {
    /// Whether the document was written.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// Whether it was refused for a stale or missing `_rev`.
    pub fn is_conflict(&self) -> bool {
        matches!(&self.error, Some((e, _)) if e == "conflict")
    }
}

/// The result of `execute`: one outcome per document written.
///
/// CouchDB writes each document on its own (`_bulk_docs` is not a
/// transaction), so some documents can succeed while others conflict. Nothing
/// is dropped: every failure is listed in [`ExecuteResult::failures`]. An
/// `execute` that left a document unwritten is an [`Error::Write`](crate::Error::Write) carrying
/// this result, unless the statement was run with `allow_partial()`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecuteResult {
    outcomes: Vec<DocOutcome>,
}

impl ExecuteResult {
    pub(crate) fn new(outcomes: Vec<DocOutcome>) -> Self {
        ExecuteResult { outcomes }
    }

    /// How many documents were written.
    pub fn rows_affected(&self) -> u64 {
        self.outcomes.iter().filter(|o| o.is_ok()).count() as u64
    }

    /// Every document's outcome, in the order written.
    pub fn outcomes(&self) -> &[DocOutcome] {
        &self.outcomes
    }

    /// Ids and new revisions of the documents written.
    pub fn written(&self) -> impl Iterator<Item = (&str, &str)> {
        self.outcomes.iter().filter(|o| o.is_ok()).filter_map(|o| o.rev.as_deref().map(|r| (o.id.as_str(), r)))
    }

    /// How many of the documents written were only *accepted* (HTTP 202): stored on
    /// fewer copies than the cluster's write quorum (a node down, or copies that
    /// disagreed). Zero on a single node and on a healthy cluster.
    ///
    /// An UPDATE whose `SET` computes from the row (`SET n = n + 1`) is never counted
    /// here: accepted below quorum, it may have merged with a concurrent writer's
    /// identical revision, so it is reported as not written (`accepted_below_quorum`
    /// error) instead of as a success that may have been lost.
    pub fn accepted_below_quorum(&self) -> u64 {
        self.outcomes.iter().filter(|o| o.is_ok() && o.accepted).count() as u64
    }

    /// Ids of the documents written.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.written().map(|(id, _)| id)
    }

    /// The documents that were not written.
    pub fn failures(&self) -> impl Iterator<Item = &DocOutcome> {
        self.outcomes.iter().filter(|o| !o.is_ok())
    }

    /// True when every document was written.
    pub fn is_complete(&self) -> bool {
        self.outcomes.iter().all(DocOutcome::is_ok)
    }
}
