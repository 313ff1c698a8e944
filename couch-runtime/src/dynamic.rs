//! Run-time SQL: statements known only while the program runs (a report
//! builder, an admin console, the `couch-sql` command).
//!
//! They go through the same translator and the same execution paths as
//! `couch_sql!`; what they lack is a model, so columns are not checked (any
//! column is a document field), parameters are checked only when bound, and
//! ORDER BY — which cannot know whether a column may be NULL — is always
//! finished in the client (correct for missing fields, but it reads every match).

use crate::command::{Command, Explain};
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::outcome::ExecuteResult;
use crate::query::{Prepared, Query, RowStream, Stmt};
use crate::rows::Rows;
use crate::run::{self, RequestSketch};
use crate::Explanation;
use couch_translate::{Plan, Translation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::marker::PhantomData;
use std::sync::Arc;

/// A statement translated at run time, rows decoded as JSON objects.
///
/// ```no_run
/// # async fn demo(db: &couch_runtime::Database) -> couch_runtime::Result<()> {
/// let rows = couch_runtime::query("SELECT name, age FROM users WHERE age >= ? ORDER BY age")
///     .bind(18)
///     .fetch_all(db)
///     .await?;
/// for row in &rows {
///     println!("{}", row["name"]);
/// }
/// # Ok(()) }
/// ```
pub fn query(sql: &str) -> DynQuery<Map<String, Value>> {
    query_as(sql)
}

/// A statement translated at run time, rows decoded into `R`.
pub fn query_as<R: DeserializeOwned>(sql: &str) -> DynQuery<R> {
    let translated = couch_translate::translate(sql, None).map_err(|e| e.to_string());
    DynQuery {
        stmt: translated.map(|t| (Stmt::Shared(Arc::new(Prepared::translated(sql, t.plan.clone()))), Arc::new(t))),
        params: Vec::new(),
        bind_error: None,
        page_size: None,
        _row: PhantomData,
    }
}

/// A run-time statement with its bound parameters. Built by [`query`] / [`query_as`].
#[must_use = "a query does nothing until it is run"]
pub struct DynQuery<R> {
    /// The translated statement, or the SQL error's message.
    stmt: std::result::Result<(Stmt, Arc<Translation>), String>,
    params: Vec<Value>,
    bind_error: Option<String>,
    page_size: Option<usize>,
    _row: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for DynQuery<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sql = self.stmt.as_ref().ok().map(|(s, _)| s.sql());
        f.debug_struct("DynQuery").field("sql", &sql).field("params", &self.params).finish()
    }
}

impl<R: DeserializeOwned + Send + 'static> DynQuery<R> {
    /// Binds the next `?` to a value (anything `Serialize`; it is sent as JSON data).
    pub fn bind<T: Serialize>(mut self, value: T) -> Self {
        match crate::param::to_param(&value) {
            Ok(v) => self.params.push(v),
            Err(e) => {
                self.bind_error
                    .get_or_insert_with(|| format!("parameter {} cannot be serialized: {e}", self.params.len() + 1));
            }
        }
        self
    }

    /// Rows per `_find` request.
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = Some(n.max(1));
        self
    }

    /// The SQL text, if it translated.
    pub fn sql(&self) -> Option<&str> {
        self.stmt.as_ref().ok().map(|(s, _)| s.sql())
    }

    /// The translation: the plan and what each `?` is used for; or the SQL error.
    pub fn translation(&self) -> Result<&Translation> {
        match &self.stmt {
            Ok((_, t)) => Ok(t),
            Err(e) => Err(Error::Sql(e.clone())),
        }
    }

    /// The HTTP requests the statement sends, in order (what `couch-sql translate` prints).
    /// Parameters not bound yet are shown as the strings `"?1"`, `"?2"`, ….
    pub fn requests(&self, database: &str, page_size: usize) -> Result<Vec<RequestSketch>> {
        let t = self.translation()?;
        let mut params = self.params.clone();
        for i in params.len()..t.params.len() {
            params.push(Value::String(format!("?{}", i + 1)));
        }
        run::sketch(&t.plan, &params, database, self.page_size.unwrap_or(page_size))
    }

    /// Checks the statement as running it would, without a server: the SQL
    /// translates, every value bound serializes, and one value is bound per `?`.
    ///
    /// ```
    /// let err = couch_runtime::query("SELECT name FROM users WHERE age > ?").check().unwrap_err();
    /// assert!(matches!(err, couch_runtime::Error::Param(_)));
    /// assert!(couch_runtime::query("SELECT name FROM users WHERE age > ?").bind(18).check().is_ok());
    /// ```
    pub fn check(&self) -> Result<()> {
        let t = self.translation()?;
        if let Some(e) = &self.bind_error {
            return Err(Error::Param(e.clone()));
        }
        if self.params.len() != t.params.len() {
            return Err(Error::Param(format!(
                "the statement has {} `?` parameters, but {} values were bound",
                t.params.len(),
                self.params.len()
            )));
        }
        Ok(())
    }

    /// The statement and parameters, checked: the SQL translated, every `?` bound.
    fn checked(self) -> Result<(Stmt, Vec<Value>, Option<usize>)> {
        self.check()?;
        let (stmt, _) = self.stmt.map_err(Error::Sql)?;
        Ok((stmt, self.params, self.page_size))
    }

    pub(crate) fn query(self) -> Result<Query<R>> {
        let (stmt, params, page_size) = self.checked()?;
        match stmt.plan()? {
            Plan::Select(_) | Plan::Aggregate(_) => Ok(Query::from_stmt(stmt, params, page_size)),
            _ => Err(Error::Invalid { what: "statement", message: "only a SELECT returns rows: use execute()".into() }),
        }
    }

    fn failed<'a, E: Executor + ?Sized, T: Send + 'a>(db: &'a E, e: Error) -> E::Output<'a, T> {
        db.run(Box::pin(async move { Err(e) }))
    }

    /// Reads every matching row.
    pub fn fetch_all<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, Rows<R>> {
        match self.query() {
            Ok(q) => q.fetch_all(db),
            Err(e) => Self::failed(db, e),
        }
    }

    /// The first row; [`Error::RowNotFound`] if there is none.
    pub fn fetch_one<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, R> {
        match self.query() {
            Ok(q) => q.fetch_one(db),
            Err(e) => Self::failed(db, e),
        }
    }

    /// The first row, if any.
    pub fn fetch_optional<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, Option<R>> {
        match self.query() {
            Ok(q) => q.fetch_optional(db),
            Err(e) => Self::failed(db, e),
        }
    }

    /// Streams the rows page by page.
    pub fn fetch(self, db: &crate::Database) -> RowStream<R> {
        match self.query() {
            Ok(q) => q.fetch(db),
            Err(e) => Box::pin(futures_util::stream::iter([Err(e)])),
        }
    }

    /// Runs an INSERT, UPDATE, DELETE, CREATE INDEX or DROP INDEX; `Ok` only when
    /// every document was written (see [`Command::execute`]).
    pub fn execute<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, ExecuteResult> {
        self.execute_with(db, false)
    }

    /// Like [`DynQuery::execute`], `Ok` also when some documents were not written
    /// (see [`Command::allow_partial`]).
    pub fn execute_partial<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, ExecuteResult> {
        self.execute_with(db, true)
    }

    fn execute_with<'a, E: Executor + ?Sized>(self, db: &'a E, partial: bool) -> E::Output<'a, ExecuteResult> {
        match self.checked() {
            Ok((stmt, params, _)) => {
                let c = Command::from_stmt(stmt, params);
                if partial { c.allow_partial() } else { c }.execute(db)
            }
            Err(e) => Self::failed(db, e),
        }
    }

    /// Runs an `EXPLAIN SELECT …`.
    pub fn explain<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, Explanation> {
        match self.checked() {
            Ok((stmt, params, _)) => Explain::from_stmt(stmt, params).explain(db),
            Err(e) => Self::failed(db, e),
        }
    }
}
