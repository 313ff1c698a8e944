//! The indexes planned at compile time, registered at link time.
//!
//! Every `couch_sql!` whose query an index can serve submits its plan to an
//! `inventory` registry, so the indexes of a whole program are known to the
//! program itself: deploy tooling calls [`planned_indexes`] or
//! [`Database::ensure_indexes`](crate::Database::ensure_indexes) from the
//! application's own binary.

use crate::client::Database;
use crate::error::Result;
use crate::indexes::index_name;

/// One query's planned index, as `couch_sql!` registers it.
#[doc(hidden)]
#[derive(Debug)]
pub struct PlannedIndex {
    pub table: &'static str,
    pub fields: &'static [&'static str],
    pub sql: &'static str,
    /// The compiled statement.
    pub prepared: &'static crate::Prepared,
    /// Example parameters of the right types (JSON), for explaining the plan.
    pub example_params: &'static str,
}

impl PlannedIndex {
    /// Every query registered by the program's `couch_sql!` invocations that plan an index.
    pub fn all() -> impl Iterator<Item = &'static PlannedIndex> {
        inventory::iter::<PlannedIndex>.into_iter()
    }

    /// The index's name.
    pub fn name(&self) -> String {
        index_name(&self.fields.iter().map(|f| f.to_string()).collect::<Vec<_>>())
    }

    /// Asks the server (`_explain`) which index this query's read would use,
    /// with the example parameters and the database's index policy.
    pub async fn explain(&self, db: &Database) -> Result<crate::Explanation> {
        let params: Vec<serde_json::Value> =
            serde_json::from_str(self.example_params).map_err(|e| crate::Error::Param(e.to_string()))?;
        crate::run::explain_plan(db, self.prepared.plan()?, &params).await
    }
}

inventory::collect!(PlannedIndex);

/// One aggregate query's planned view (design document), as `couch_sql!` registers it.
#[doc(hidden)]
#[derive(Debug)]
pub struct PlannedView {
    pub table: &'static str,
    /// The design document's name, a hash of its content.
    pub ddoc: &'static str,
    pub sql: &'static str,
    pub prepared: &'static crate::Prepared,
}

inventory::collect!(PlannedView);

/// A design document of map/reduce views the program's aggregate queries need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewSpec {
    /// The design document's name (`couchsql-agg-…`), a hash of its content.
    pub name: String,
    /// The tables whose queries use it.
    pub tables: Vec<&'static str>,
    /// The SQL of those queries.
    pub queries: Vec<&'static str>,
}

/// Every view planned by the program's aggregate `couch_sql!` queries (the ones
/// whose WHERE a view can answer), one entry per design document, sorted by name.
pub fn planned_views() -> Vec<ViewSpec> {
    let mut out: Vec<ViewSpec> = Vec::new();
    for p in inventory::iter::<PlannedView> {
        let at = match out.iter().position(|s| s.name == p.ddoc) {
            Some(i) => i,
            None => {
                out.push(ViewSpec { name: p.ddoc.to_string(), tables: vec![], queries: vec![] });
                out.len() - 1
            }
        };
        let spec = &mut out[at];
        used_by(&mut spec.tables, &mut spec.queries, p.table, p.sql);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// An index the program's queries need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// Its name (and design document), e.g. `couchsql-type-city-age`.
    pub name: String,
    /// Indexed fields, `type` first.
    pub fields: Vec<String>,
    /// The tables whose queries use it.
    pub tables: Vec<&'static str>,
    /// The SQL of those queries.
    pub queries: Vec<&'static str>,
}

/// Every index planned by the program's `couch_sql!` queries, one entry per
/// distinct field list, sorted by name.
pub fn planned_indexes() -> Vec<IndexSpec> {
    let mut out: Vec<IndexSpec> = Vec::new();
    for p in inventory::iter::<PlannedIndex> {
        let fields: Vec<String> = p.fields.iter().map(|f| f.to_string()).collect();
        let at = match out.iter().position(|s| s.fields == fields) {
            Some(i) => i,
            None => {
                out.push(IndexSpec { name: index_name(&fields), fields, tables: vec![], queries: vec![] });
                out.len() - 1
            }
        };
        let spec = &mut out[at];
        used_by(&mut spec.tables, &mut spec.queries, p.table, p.sql);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What [`Database::ensure_indexes`] did for one index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsuredIndex {
    /// The index's (or view's design document's) name.
    pub name: String,
    /// `true` if it was created now, `false` if it existed.
    pub created: bool,
}

impl Database {
    /// Creates every planned index that does not exist yet (idempotent: one
    /// `POST /db/_index` each), then every planned view's design document
    /// ([`planned_views`]), and reports which were created.
    pub async fn ensure_indexes(&self) -> Result<Vec<EnsuredIndex>> {
        let mut out = Vec::new();
        for spec in planned_indexes() {
            let created = self.ensure_index_reporting(&spec.fields, crate::indexes::IndexScope::Database).await?;
            out.push(EnsuredIndex { name: spec.name, created });
        }
        let mut done: Vec<&str> = Vec::new();
        for p in inventory::iter::<PlannedView> {
            if done.contains(&p.ddoc) {
                continue;
            }
            done.push(p.ddoc);
            if let couch_translate::Plan::Aggregate(a) = p.prepared.plan()? {
                if let Some(view) = &a.view {
                    let created = crate::run::create_view(self, view, false).await?;
                    out.push(EnsuredIndex { name: view.ddoc.clone(), created });
                }
            }
        }
        Ok(out)
    }
}

/// Notes that a planned index or view serves `sql`, a query of `table` (each once).
fn used_by(tables: &mut Vec<&'static str>, queries: &mut Vec<&'static str>, table: &'static str, sql: &'static str) {
    if !tables.contains(&table) {
        tables.push(table);
    }
    if !queries.contains(&sql) {
        queries.push(sql);
    }
}
