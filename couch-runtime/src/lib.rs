#![warn(missing_docs)]
//! The run-time half of couch-sql: executes the plans `couch_sql!` builds
//! at compile time against a CouchDB server over HTTP (or, with the `embedded`
//! feature, couch-sql's engine in process).
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! Most users depend on the `couch-sql` facade crate, which re-exports what
//! is public here.

pub mod blocking;
mod builder;
mod client;
mod dynamic;
mod error;
mod exec;
mod executor;
#[doc(hidden)]
pub mod model;
pub mod param;
mod planned;
mod profile;
mod query;
mod rows;
mod sort;
#[doc(hidden)]
pub mod testing;
mod transport;
mod watch;
mod write;

pub use builder::{DatabaseBuilder, RetryPolicy};
#[cfg(feature = "chrono")]
#[doc(hidden)]
pub use chrono as __chrono;
pub use client::{
    encode_segment, index_name, validate_db_name, Database, IndexPolicy, DEFAULT_PAGE_SIZE, DEFAULT_WRITE_BATCH,
};
pub use couch_semantics::collate::Collation;
pub use couch_semantics::ids::new_id;
pub use dynamic::{query, query_as, DynQuery};
pub use error::{Error, Result};
pub use exec::{ExplainIndex, Explanation, RequestSketch, SqlText};
pub use executor::{BoxFuture, Executor};
/// `next()` on a row stream ([`Query::fetch`]) or a live query ([`Watch`]), without a
/// `futures` dependency of your own.
pub use futures_util::StreamExt;
#[doc(hidden)]
pub use inventory;
pub use planned::{planned_indexes, planned_views, EnsuredIndex, IndexSpec, PlannedIndex, PlannedView, ViewSpec};
pub use profile::{ServerInfo, ServerProfile};
pub use query::{
    Aggregated, Batch, CanWatch, Command, Explain, Prepared, Query, QueryAs, RowStream, SkipInvalid, Watchable,
    Windowed,
};
pub use rows::{decode_find_response, Checked, ExecutionStats, FieldKey, Rows, Skipped};
pub use watch::{Change, Watch, WatchIter};
pub use write::{DocOutcome, ExecuteResult};
