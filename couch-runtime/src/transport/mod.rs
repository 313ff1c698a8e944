//! The one seam between a [`Database`](crate::Database) and whatever answers it.
//!
//! A [`Transport`] sends one request (method, path from the server's root, body,
//! credentials) and returns the status and body. Everything above it — retries,
//! session renewal, error mapping, paging, every verb — is written once, for
//! every transport. [`http`] talks to a server (CouchDB, pouchdb-server,
//! `couch-sql serve`); [`engine`] (the `embedded` feature) answers `mem://` and
//! `file://` URLs in process. The builder picks one from the URL's scheme.

use crate::error::Result;
use crate::executor::BoxFuture;
use bytes::Bytes;
use reqwest::Method;
use std::time::Duration;

#[cfg(feature = "embedded")]
pub(crate) mod engine;
pub(crate) mod http;

/// User name and password; never printed.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) user: String,
    pub(crate) password: String,
}

/// How one request proves who sends it.
pub(crate) enum Credential<'a> {
    /// `Authorization: Basic …`.
    Basic(&'a Credentials),
    /// A session cookie (`AuthSession=…`).
    Cookie(String),
}

/// One request.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a Method,
    /// From the server's root, with its query string (`shop/_find`).
    pub(crate) path: &'a str,
    /// A JSON body.
    pub(crate) body: Option<Bytes>,
    pub(crate) credential: Option<Credential<'a>>,
    /// A long wait (a changes feed): the answer may take as long as it likes, but
    /// a silence this long (no data, not even a heartbeat) is a dropped connection.
    pub(crate) idle: Option<Duration>,
}

/// One answer.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
    /// The `AuthSession=…` cookie the server set, if it set one.
    pub(crate) session: Option<String>,
}

/// Sends requests to one server.
pub(crate) trait Transport: Send + Sync {
    /// Sends `req` once (no retries: the caller decides those).
    fn send<'a>(&'a self, req: Request<'a>) -> BoxFuture<'a, Result<Reply>>;

    /// Where requests go, without credentials (`http://127.0.0.1:5984/`, `mem:///`).
    fn base(&self) -> &str;

    /// The longest one waiting request should wait (a changes feed's `heartbeat`),
    /// if this transport needs it shorter than the caller asks.
    fn longest_wait(&self) -> Option<Duration> {
        None
    }
}
