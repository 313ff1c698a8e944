//! Running plans against the server: reads (`find`, `by_id`), writes, and index/EXPLAIN statements.

mod admin;
mod aggregate;
mod by_id;
mod find;
mod modify;
mod sketch;

pub(crate) use admin::{create_index, drop_index, explain, explain_plan};
pub use admin::{ExplainIndex, Explanation};
pub(crate) use aggregate::{aggregate, create_view};
pub(crate) use find::matching_ids;
pub(crate) use find::{
    decode_map, decode_row, execution_stats, first_find_body, select, select_each, select_source, FindTemplate, Pager,
    RowColumns, Source,
};
pub(crate) use modify::{delete, insert, prepare, update, PendingDocs};
pub use sketch::{sketch, RequestSketch};

use crate::error::{Error, Result};
use std::fmt;
use std::sync::Arc;

/// A statement's SQL text, cheap to clone: borrowed from the binary for
/// `couch_sql!`, shared for run-time SQL.
#[derive(Clone, Debug)]
pub enum SqlText {
    /// The SQL of a `couch_sql!`, in the binary.
    Static(&'static str),
    /// The SQL of a run-time query.
    Shared(Arc<str>),
}

impl std::ops::Deref for SqlText {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            SqlText::Static(s) => s,
            SqlText::Shared(s) => s,
        }
    }
}

impl fmt::Display for SqlText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}
use couch_translate::{Count, RenderError};
use serde_json::Value;

/// The partition a partitioned table's statement is confined to: the value its
/// WHERE fixes, if that is one CouchDB accepts as a partition. A value it refuses
/// (`_x`, `a:b`, not a string) is no document's partition: the statement runs
/// across all partitions and finds none.
pub(crate) fn partition_value(p: &couch_translate::Partition, params: &[Value]) -> Option<String> {
    let value = p.value.as_ref()?.to_value(params).ok()?;
    value.as_str().filter(|v| couch_semantics::ids::valid_partition(v)).map(str::to_string)
}

pub(crate) fn render_error(e: RenderError) -> Error {
    Error::Param(e.to_string())
}

/// A template rendered by `render` (with its parameters, for a dialect), read back as JSON.
pub(crate) fn render_json(render: impl FnOnce(&mut Vec<u8>) -> std::result::Result<(), RenderError>) -> Result<Value> {
    let mut out = Vec::new();
    render(&mut out).map_err(render_error)?;
    serde_json::from_slice(&out).map_err(|e| Error::decode(None, None, e))
}

fn count(c: Option<Count>, params: &[Value], what: &str) -> Result<Option<u64>> {
    match c {
        None => Ok(None),
        Some(Count::Literal(n)) => Ok(Some(n)),
        Some(Count::Param(i)) => match params.get(i) {
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::Param(format!("{what} must be a whole number of rows (0 or more), not {v}"))),
            None => Err(render_error(RenderError::MissingParam(i))),
        },
    }
}
