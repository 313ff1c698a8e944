//! The one error type of couch-sql.

use std::fmt;

/// Result alias used throughout couch-sql.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong at run time.
///
/// Server errors keep CouchDB's own `error` and `reason` strings. No variant
/// ever contains credentials: URLs are stripped of user info before they are
/// stored, and transport errors are reported without their URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 404: the database or document does not exist.
    #[error("not found: {reason}")]
    NotFound {
        /// CouchDB's `reason` (`missing`, `deleted`, `Database does not exist.`).
        reason: String,
    },
    /// 409: the document was changed by someone else (stale `_rev`), or already exists.
    #[error("conflict on document {id:?}: {reason}")]
    Conflict {
        /// The document, when known.
        id: Option<String>,
        /// CouchDB's `reason`.
        reason: String,
    },
    /// 401: missing or wrong credentials.
    #[error("unauthorized: {reason}")]
    Unauthorized {
        /// CouchDB's `reason`.
        reason: String,
    },
    /// 403: the credentials are valid but not allowed to do this.
    #[error("forbidden: {reason}")]
    Forbidden {
        /// CouchDB's `reason` (a `validate_doc_update`'s message, say).
        reason: String,
    },
    /// 400 (and 412): the server refused the request.
    #[error("bad request ({error}): {reason}")]
    BadRequest {
        /// CouchDB's `error` (`bad_request`, `no_usable_index`, …).
        error: String,
        /// CouchDB's `reason`.
        reason: String,
    },
    /// Any other error status, 5xx included.
    #[error("server error {status} ({error}): {reason}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// CouchDB's `error`.
        error: String,
        /// CouchDB's `reason`.
        reason: String,
    },
    /// The request took longer than the configured timeout.
    #[error("the request to CouchDB timed out")]
    Timeout,
    /// The server could not be reached, or the connection failed.
    #[error("could not talk to CouchDB: {0}")]
    Transport(String),
    /// A response or a document could not be decoded into the expected type.
    #[error("{}", decode_message(.doc_id, .field, .message))]
    Decode {
        /// The document that did not decode, when known.
        doc_id: Option<String>,
        /// The path of the field, when known (`lines[3].qty`).
        field: Option<String>,
        /// What was wrong.
        message: String,
    },
    /// `fetch_one` found no row.
    #[error("the query returned no rows")]
    RowNotFound,
    /// The URL or a name is not valid (checked before any request is sent).
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was invalid (`CouchDB URL`, `database name`, …).
        what: &'static str,
        /// Why.
        message: String,
    },
    /// Run-time SQL that does not translate (the same messages as `couch_sql!`'s compile errors).
    #[error("SQL error: {0}")]
    Sql(String),
    /// A bound parameter cannot be used (e.g. a negative LIMIT, a NaN).
    #[error("parameter error: {0}")]
    Param(String),
    /// A write left documents unwritten: a duplicate `_id`, a conflict that
    /// outlasted the retries, a `validate_doc_update` refusal, a value the
    /// column cannot hold. `result` has every document's outcome, the written
    /// ones included (they did land: CouchDB has no multi-document rollback).
    #[error("{}", write_message(.result))]
    Write {
        /// Every document's outcome.
        result: crate::outcome::ExecuteResult,
    },
}

fn write_message(result: &crate::outcome::ExecuteResult) -> String {
    let failed: Vec<_> = result.failures().collect();
    let mut s = format!("{} of {} documents were not written", failed.len(), result.outcomes().len());
    if let Some(f) = failed.first() {
        if let Some((error, reason)) = &f.error {
            s.push_str(&format!("; the first, {:?}: {error} ({reason})", f.id));
        }
    }
    s
}

fn decode_message(doc_id: &Option<String>, field: &Option<String>, message: &str) -> String {
    let mut s = String::from("could not decode ");
    if let Some(f) = field {
        s.push_str(&format!("field `{f}` of "));
    }
    match doc_id {
        Some(id) => s.push_str(&format!("document {id:?}")),
        None => s.push_str("the server's response"),
    }
    s.push_str(": ");
    s.push_str(message);
    s
}

impl Error {
    /// CouchDB's `error` string, for errors the server reported.
    pub fn couch_error(&self) -> Option<&str> {
        match self {
            Error::BadRequest { error, .. } | Error::Server { error, .. } => Some(error),
            Error::NotFound { .. } => Some("not_found"),
            Error::Conflict { .. } => Some("conflict"),
            Error::Unauthorized { .. } => Some("unauthorized"),
            Error::Forbidden { .. } => Some("forbidden"),
            Error::Write { result } => result.failures().find_map(|f| f.error.as_ref().map(|(e, _)| e.as_str())),
            _ => None,
        }
    }

    /// The server refused the request to this user: 401, 403, 400, or CouchDB's
    /// `500 error_saving_ddoc … forbidden` for a member creating an index.
    pub(crate) fn is_refusal(&self) -> bool {
        match self {
            Error::Unauthorized { .. } | Error::Forbidden { .. } | Error::BadRequest { .. } => true,
            Error::Server { error, reason, .. } => error == "error_saving_ddoc" && reason.contains("forbidden"),
            _ => false,
        }
    }

    /// The per-document outcomes of a write that was not complete.
    pub fn write_result(&self) -> Option<&crate::outcome::ExecuteResult> {
        match self {
            Error::Write { result } => Some(result),
            _ => None,
        }
    }

    pub(crate) fn from_status(status: u16, error: String, reason: String) -> Error {
        match status {
            400 | 412 | 415 => Error::BadRequest { error, reason },
            401 => Error::Unauthorized { reason },
            403 => Error::Forbidden { reason },
            404 => Error::NotFound { reason },
            409 => Error::Conflict { id: None, reason },
            _ => Error::Server { status, error, reason },
        }
    }

    pub(crate) fn transport(e: reqwest::Error) -> Error {
        if e.is_timeout() {
            return Error::Timeout;
        }
        // reqwest puts the URL in its messages; ours may carry no secrets, but strip it anyway.
        let e = e.without_url();
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        Error::Transport(msg)
    }

    pub(crate) fn decode(doc_id: Option<String>, field: Option<String>, message: impl fmt::Display) -> Error {
        Error::Decode { doc_id, field, message: message.to_string() }
    }
}

/// What a write's outcomes mean as a `Result` (here, beside the errors they become).
impl crate::outcome::ExecuteResult {
    /// `Ok(self)` if every document was written (or `allow` is set), else [`Error::Write`].
    pub(crate) fn or_partial(self, allow: bool) -> Result<Self> {
        if allow || self.is_complete() {
            Ok(self)
        } else {
            Err(Error::Write { result: self })
        }
    }

    /// `Ok(self)` if every document was written, else the first failure as an error.
    pub fn check(self) -> Result<Self> {
        let err = match self.failures().next() {
            Some(crate::outcome::DocOutcome { id, error: Some((error, reason)), .. }) => Some(if error == "conflict" {
                Error::Conflict { id: Some(id.clone()), reason: reason.clone() }
            } else {
                let status = if error == "forbidden" { 403 } else { 400 };
                Error::from_status(status, error.clone(), format!("{id}: {reason}"))
            }),
            _ => None,
        };
        match err {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }
}
