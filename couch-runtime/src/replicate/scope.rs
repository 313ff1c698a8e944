//! Sync scoped by a SELECT: the documents of its table that its WHERE selects.

use crate::error::{Error, Result};
use crate::query::{Query, QueryAs};
use crate::run::render_json;
use couch_translate::Dialect;
use serde_json::{json, Value};

/// What a scoped replication sends: a selector every document it sends matches.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The table and the WHERE, with the parameters filled in.
    pub(crate) selector: Value,
    /// The `_selector` filter of the changes feed: the scope, and the deletions (a
    /// deleted document's tombstone need not have the `type` it is matched by).
    pub(crate) filter: Value,
}

impl Scope {
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
        let table = render_json(|out| s.key.selector(&s.table).render_in(&[], Dialect::embedded(), out))?;
        let wanted = render_json(|out| s.selector.render_in(&self.params, Dialect::embedded(), out))?;
        let selector = json!({ "$and": [table, wanted] });
        let filter = crate::watch::with_deletions(&s.key, selector.clone());
        Ok(Scope { selector, filter })
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
