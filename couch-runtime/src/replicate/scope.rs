//! Sync scoped by a SELECT: the documents of its table that its WHERE selects.

use crate::error::{Error, Result};
use crate::query::{Query, QueryAs};
use couch_translate::{Dialect, TableKey};
use serde_json::{json, Value};

/// What a scoped replication sends: a selector every document it sends matches.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The table and the WHERE, with the parameters filled in.
    pub(crate) selector: Value,
    /// Whether deletions are let through by `_deleted` (a tombstone keeps no fields).
    pub(crate) tombstones_lack_fields: bool,
}

impl Scope {
    /// The `_selector` filter of the changes feed: the scope, and every deletion
    /// (a deleted document's tombstone has no `type` to match).
    pub(crate) fn filter(&self) -> Value {
        if self.tombstones_lack_fields {
            json!({"$or": [self.selector, {"_deleted": true}]})
        } else {
            self.selector.clone()
        }
    }

    /// Whether a document (from `include_docs`) is in scope, for a source that
    /// cannot filter its changes feed itself.
    pub(crate) fn admits(&self, doc: &Value) -> bool {
        doc.get("_deleted") == Some(&Value::Bool(true)) || couch_semantics::mango::matches(&self.selector, doc)
    }
}

/// A query that can scope a replication (see [`Replication::only`](super::Replication::only)):
/// a SELECT without ORDER BY, LIMIT, OFFSET or aggregates.
pub trait IntoScope {
    /// The selector of the query's table and WHERE.
    fn into_scope(self) -> Result<Scope>;
}

impl<R, W> IntoScope for Query<R, W> {
    fn into_scope(self) -> Result<Scope> {
        crate::param::check_finite(&self.params)?;
        let invalid = |message: &str| Error::Invalid { what: "replication scope", message: message.into() };
        if let Ok(couch_translate::Plan::Aggregate(_)) = self.prepared.plan() {
            return Err(invalid("an aggregate selects no documents: scope the sync with a plain SELECT"));
        }
        let (s, _) = self.prepared.select()?;
        if !s.order_by.is_empty() || s.limit.is_some() || s.offset.is_some() {
            return Err(invalid("ORDER BY, LIMIT and OFFSET do not choose documents to sync: leave them out"));
        }
        let render = |sel: &couch_translate::Tmpl, params: &[Value]| -> Result<Value> {
            let mut out = Vec::new();
            sel.render_in(params, Dialect::embedded(), &mut out).map_err(crate::run::render_error)?;
            serde_json::from_slice(&out).map_err(|e| Error::decode(None, None, e))
        };
        let table = render(&s.key.selector(&s.table), &[])?;
        let selector = json!({"$and": [table, render(&s.selector, &self.params)?]});
        Ok(Scope { selector, tombstones_lack_fields: matches!(s.key, TableKey::Field(_)) })
    }
}

impl<R, T, W> IntoScope for QueryAs<R, T, W> {
    fn into_scope(self) -> Result<Scope> {
        self.query.into_scope()
    }
}

impl<R: serde::de::DeserializeOwned + Send + 'static> IntoScope for crate::DynQuery<R> {
    fn into_scope(self) -> Result<Scope> {
        self.query()?.into_scope()
    }
}

impl IntoScope for Scope {
    fn into_scope(self) -> Result<Scope> {
        Ok(self)
    }
}
