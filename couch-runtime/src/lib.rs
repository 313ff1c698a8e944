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
mod command;
mod conflicts;
mod dynamic;
mod error;
mod executor;
mod indexes;
#[doc(hidden)]
pub mod model;
mod outcome;
pub mod param;
mod planned;
mod profile;
mod query;
mod replicate;
mod retry;
mod rows;
mod run;
mod sort;
mod table;
#[doc(hidden)]
pub mod testing;
mod transport;
mod watch;

pub use builder::DatabaseBuilder;
#[cfg(feature = "chrono")]
#[doc(hidden)]
pub use chrono as __chrono;
pub use client::{encode_segment, validate_db_name, Database, DEFAULT_PAGE_SIZE, DEFAULT_WRITE_BATCH};
pub use command::{Batch, Command, Explain};
pub use conflicts::{Conflict, Revision};
pub use couch_semantics::collate::Collation;
pub use couch_semantics::ids::new_id;
pub use dynamic::{query, query_as, DynQuery};
pub use error::{Error, Result};
pub use executor::{BoxFuture, Executor};
/// `next()` on a row stream ([`Query::fetch`]) or a live query ([`Watch`]), without a
/// `futures` dependency of your own.
pub use futures_util::StreamExt;
pub use indexes::{index_name, IndexPolicy};
#[doc(hidden)]
pub use inventory;
pub use outcome::{DocOutcome, ExecuteResult};
pub use planned::{planned_indexes, planned_views, EnsuredIndex, IndexSpec, PlannedIndex, PlannedView, ViewSpec};
pub use profile::{ServerInfo, ServerProfile};
pub use query::{Aggregated, CanWatch, Prepared, Query, QueryAs, RowStream, SkipInvalid, Watchable, Windowed};
pub use replicate::{IntoScope, LiveSync, Replication, ReplicationFailure, ReplicationReport, Scope, Sync, SyncEvent};
pub use retry::RetryPolicy;
pub use rows::{decode_find_response, Checked, ExecutionStats, FieldKey, Rows, Skipped};
pub use run::{ExplainIndex, Explanation, RequestSketch, SqlText};
pub use table::{CouchRow, TableKind};
#[doc(hidden)]
pub use table::{FieldJson, OpaqueField, SerializeField};
pub use watch::{Change, Watch, WatchIter};
