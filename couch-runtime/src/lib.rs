#![warn(missing_docs)]
//! The run-time half of couch-sql: executes the plans `couch_sql!` builds
//! at compile time against a CouchDB server over HTTP.
//!
//! Most users depend on the `couch-sql` facade crate, which re-exports what
//! is public here.

pub mod blocking;
mod builder;
mod client;
mod collate;
mod doc_path;
mod dynamic;
mod error;
mod exec;
mod executor;
mod ids;
#[doc(hidden)]
pub mod model;
pub mod param;
mod planned;
mod query;
mod rows;
#[doc(hidden)]
pub mod testing;
#[cfg(feature = "embedded")]
mod watch;
mod write;

pub use builder::{DatabaseBuilder, RetryPolicy};
#[cfg(feature = "chrono")]
#[doc(hidden)]
pub use chrono as __chrono;
pub use client::{
    encode_segment, index_name, validate_db_name, Database, IndexPolicy, ServerInfo, DEFAULT_PAGE_SIZE,
    DEFAULT_WRITE_BATCH,
};
pub use dynamic::{query, query_as, DynQuery};
pub use error::{Error, Result};
pub use exec::{ExplainIndex, Explanation, RequestSketch, SqlText};
pub use executor::{BoxFuture, Executor};
/// `next()` on a row stream ([`Query::fetch`]) or a live query ([`Watch`]), without a
/// `futures` dependency of your own.
pub use futures_util::StreamExt;
pub use ids::new_id;
#[doc(hidden)]
pub use inventory;
pub use planned::{planned_indexes, planned_views, EnsuredIndex, IndexSpec, PlannedIndex, PlannedView, ViewSpec};
pub use query::{
    Aggregated, Batch, CanWatch, Command, Explain, Prepared, Query, QueryAs, RowStream, SkipInvalid, Watchable,
    Windowed,
};
pub use rows::{decode_find_response, Checked, ExecutionStats, FieldKey, Rows, Skipped};
#[cfg(feature = "embedded")]
pub use watch::{Change, Watch, WatchIter};
pub use write::{DocOutcome, ExecuteResult};
