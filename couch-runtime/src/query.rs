//! Query values built by `couch_sql!`: a prepared plan plus bound parameters.

use crate::client::Database;
use crate::error::{Error, Result};
use crate::exec;
use crate::rows::Rows;
use crate::write::ExecuteResult;
use couch_translate::Plan;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::marker::PhantomData;
use std::sync::OnceLock;

/// A statement translated at compile time: its SQL and its plan (embedded as
/// JSON by the macro, parsed once per process on first use).
#[doc(hidden)]
pub struct Prepared {
    sql: &'static str,
    plan_json: &'static str,
    plan: OnceLock<std::result::Result<Plan, String>>,
}

impl Prepared {
    #[doc(hidden)]
    pub const fn new(sql: &'static str, plan_json: &'static str) -> Self {
        Prepared { sql, plan_json, plan: OnceLock::new() }
    }

    /// The SQL text.
    pub fn sql(&self) -> &'static str {
        self.sql
    }

    pub(crate) fn plan(&self) -> Result<&Plan> {
        self.plan.get_or_init(|| serde_json::from_str(self.plan_json).map_err(|e| e.to_string())).as_ref().map_err(
            |e| Error::Invalid {
                what: "compiled query",
                message: format!("{e} (couch-macros and couch-runtime versions differ?)"),
            },
        )
    }
}

/// A `SELECT` with its parameters bound. Run it with `fetch_all`,
/// `fetch_one` or `fetch_optional`.
#[must_use = "a query does nothing until it is fetched"]
pub struct Query<R> {
    prepared: &'static Prepared,
    params: Vec<Value>,
    _row: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Query<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query").field("sql", &self.prepared.sql).field("params", &self.params).finish()
    }
}

impl<R: DeserializeOwned> Query<R> {
    #[doc(hidden)]
    pub fn new(prepared: &'static Prepared, params: Vec<Value>) -> Self {
        Query { prepared, params, _row: PhantomData }
    }

    /// The SQL text of the query.
    pub fn sql(&self) -> &'static str {
        self.prepared.sql
    }

    /// The `_find` request body of the first page, as JSON (for logging and tests).
    pub fn find_body(&self) -> Result<String> {
        match self.prepared.plan()? {
            Plan::Select(s) => {
                let sel = s.selector.render_string(&self.params).map_err(exec::render_error)?;
                Ok(match &s.fields {
                    Some(f) => {
                        format!(r#"{{"selector":{sel},"fields":{}}}"#, serde_json::to_string(f).unwrap_or_default())
                    }
                    None => format!(r#"{{"selector":{sel}}}"#),
                })
            }
            _ => Err(Error::Invalid { what: "query", message: "not a SELECT".into() }),
        }
    }

    async fn run(self, db: &Database, cap: Option<u64>) -> Result<Vec<R>> {
        match self.prepared.plan()? {
            Plan::Select(s) => exec::select(db, s, &self.params, cap, self.prepared.sql).await,
            _ => Err(Error::Invalid { what: "query", message: "not a SELECT: use execute()".into() }),
        }
    }

    /// Reads every matching row (paging as needed) into memory.
    pub async fn fetch_all(self, db: &Database) -> Result<Rows<R>> {
        self.run(db, None).await.map(Rows::new)
    }

    /// The first row; [`Error::RowNotFound`] if there is none.
    pub async fn fetch_one(self, db: &Database) -> Result<R> {
        self.fetch_optional(db).await?.ok_or(Error::RowNotFound)
    }

    /// The first row, if any.
    pub async fn fetch_optional(self, db: &Database) -> Result<Option<R>> {
        Ok(self.run(db, Some(1)).await?.into_iter().next())
    }
}

/// An `INSERT`, `UPDATE` or `DELETE` with its parameters bound. Run it with `execute`.
#[must_use = "a statement does nothing until it is executed"]
pub struct Command {
    prepared: &'static Prepared,
    params: Vec<Value>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command").field("sql", &self.prepared.sql).field("params", &self.params).finish()
    }
}

impl Command {
    #[doc(hidden)]
    pub fn new(prepared: &'static Prepared, params: Vec<Value>) -> Self {
        Command { prepared, params }
    }

    /// The SQL text of the statement.
    pub fn sql(&self) -> &'static str {
        self.prepared.sql
    }

    /// Runs the statement. UPDATE and DELETE first read every matching
    /// document, then write them back with their `_rev` through `_bulk_docs`.
    pub async fn execute(self, db: &Database) -> Result<ExecuteResult> {
        let sql = self.prepared.sql;
        match self.prepared.plan()? {
            Plan::Insert(i) => exec::insert(db, i, &self.params).await,
            Plan::Update(u) => exec::update(db, u, &self.params, sql).await,
            Plan::Delete(d) => exec::delete(db, d, &self.params, sql).await,
            Plan::Select(_) => {
                Err(Error::Invalid { what: "statement", message: "a SELECT is fetched, not executed".into() })
            }
        }
    }
}
