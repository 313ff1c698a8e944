//! One set of query verbs, two executors: the async [`Database`] returns a
//! future, the [`blocking::Database`](crate::blocking::Database) the value.

use crate::client::Database;
use crate::error::Result;
use std::future::Future;
use std::pin::Pin;

/// A boxed, `Send` future, as returned by the async query verbs.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something queries run on: [`Database`] (async) or
/// [`blocking::Database`](crate::blocking::Database).
///
/// `fetch_all`, `fetch_one`, `fetch_optional` and `execute` are written once,
/// as futures; the executor decides whether the caller awaits the future or
/// gets the value.
pub trait Executor {
    /// What a verb returns: a future (`async`) or the result itself (blocking).
    type Output<'a, T: 'a>
    where
        Self: 'a;

    #[doc(hidden)]
    fn database(&self) -> &Database;

    #[doc(hidden)]
    fn run<'a, T: Send + 'a>(&'a self, job: BoxFuture<'a, Result<T>>) -> Self::Output<'a, T>;
}

impl Executor for Database {
    type Output<'a, T: 'a> = BoxFuture<'a, Result<T>>;

    fn database(&self) -> &Database {
        self
    }

    fn run<'a, T: Send + 'a>(&'a self, job: BoxFuture<'a, Result<T>>) -> Self::Output<'a, T> {
        job
    }
}
