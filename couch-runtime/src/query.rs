//! Query values built by `couch_sql!`: a prepared plan plus bound parameters.

use crate::client::Database;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::rows::{ExecutionStats, Rows};
use crate::run;
use crate::run::SqlText;
use couch_translate::{Plan, Select};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// A statement translated at compile time: its SQL and its plan (embedded as
/// JSON by the macro, parsed once per process on first use).
#[doc(hidden)]
#[derive(Debug)]
pub struct Prepared {
    pub(crate) sql: SqlText,
    plan_json: &'static str,
    plan: OnceLock<std::result::Result<Plan, String>>,
    /// The SELECT's `_find` body with its static parts pre-rendered.
    find: OnceLock<run::FindTemplate>,
    /// Rows are made of the SELECT's named columns by the runtime (run-time SQL,
    /// which has no generated row type to read the document's fields): those
    /// columns, known once the plan is.
    named_rows: bool,
    row_columns: OnceLock<Option<run::RowColumns>>,
}

impl std::fmt::Debug for run::FindTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FindTemplate")
    }
}

impl Prepared {
    #[doc(hidden)]
    pub const fn new(sql: &'static str, plan_json: &'static str) -> Self {
        Prepared {
            sql: SqlText::Static(sql),
            plan_json,
            plan: OnceLock::new(),
            find: OnceLock::new(),
            named_rows: false,
            row_columns: OnceLock::new(),
        }
    }

    /// A statement translated at run time.
    pub(crate) fn translated(sql: &str, plan: Plan) -> Self {
        Prepared {
            sql: SqlText::Shared(sql.into()),
            plan_json: "",
            plan: OnceLock::from(Ok(plan)),
            find: OnceLock::new(),
            named_rows: true,
            row_columns: OnceLock::new(),
        }
    }

    /// The columns a row is made of, when the runtime makes rows from documents
    /// (run-time SQL with a column list).
    pub(crate) fn named_columns(&self) -> Option<&run::RowColumns> {
        if !self.named_rows {
            return None;
        }
        self.row_columns
            .get_or_init(|| match self.plan() {
                Ok(Plan::Select(s)) => s.projection.as_deref().map(run::RowColumns::of),
                _ => None,
            })
            .as_ref()
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The aggregate plan and the `_find` template of its read, if it is one.
    pub(crate) fn aggregate(&self) -> Result<Option<(&couch_translate::Aggregate, &run::FindTemplate)>> {
        Ok(match self.plan()? {
            Plan::Aggregate(a) => Some((a, self.find.get_or_init(|| run::FindTemplate::of(&a.read)))),
            _ => None,
        })
    }

    /// The SELECT plan and its `_find` template.
    pub(crate) fn select(&self) -> Result<(&Select, &run::FindTemplate)> {
        match self.plan()? {
            Plan::Select(s) => Ok((s, self.find.get_or_init(|| run::FindTemplate::of(s)))),
            _ => Err(Error::Invalid { what: "query", message: "not a SELECT".into() }),
        }
    }

    /// The name of the index planned for this statement, if any.
    pub fn planned_index(&self) -> Option<String> {
        let planned = match self.plan().ok()? {
            Plan::Select(s) | Plan::Explain(s) => s.planned.as_ref(),
            Plan::Update(u) => u.planned.as_ref(),
            Plan::Delete(d) => d.planned.as_ref(),
            _ => None,
        };
        planned.map(|f| crate::index_name(f))
    }

    #[doc(hidden)]
    pub fn plan(&self) -> Result<&Plan> {
        self.plan.get_or_init(|| serde_json::from_str(self.plan_json).map_err(|e| e.to_string())).as_ref().map_err(
            |e| Error::Invalid {
                what: "compiled query",
                message: format!("{e} (couch-macros and couch-runtime versions differ?)"),
            },
        )
    }
}

/// A statement: a `couch_sql!` one, living in the binary, or one translated at run time.
#[derive(Clone, Debug)]
pub(crate) enum Stmt {
    Static(&'static Prepared),
    Shared(Arc<Prepared>),
}

impl std::ops::Deref for Stmt {
    type Target = Prepared;
    fn deref(&self) -> &Prepared {
        match self {
            Stmt::Static(p) => p,
            Stmt::Shared(p) => p,
        }
    }
}

/// A stream of typed rows, read from the server page by page.
pub type RowStream<R> = std::pin::Pin<Box<dyn futures_core::Stream<Item = Result<R>> + Send>>;

/// A `SELECT` with its parameters bound. Run it with `fetch_all`,
/// `fetch_one`, `fetch_optional` (on an async or a blocking database), or
/// stream it with `fetch`.
///
/// The second parameter says whether the query can be watched (see
/// [`Watchable`]); `couch_sql!` chooses it from the SQL.
#[must_use = "a query does nothing until it is fetched"]
pub struct Query<R, W = Watchable> {
    pub(crate) prepared: Stmt,
    pub(crate) params: Vec<Value>,
    page_size: Option<usize>,
    _row: PhantomData<fn() -> (R, W)>,
}

/// Marks a query that can be watched as a live query: a plain SELECT.
#[derive(Debug, Clone, Copy)]
pub enum Watchable {}

/// Marks a SELECT with ORDER BY, LIMIT or OFFSET: a window of rows, which a
/// stream of changes cannot keep, so it cannot be watched.
#[derive(Debug, Clone, Copy)]
pub enum Windowed {}

/// Marks an aggregate (COUNT, SUM, GROUP BY, …): a summary, not rows a change
/// adds or removes, so it cannot be watched.
#[derive(Debug, Clone, Copy)]
pub enum Aggregated {}

/// Implemented by [`Watchable`] alone: what `watch` asks of a query's second
/// type parameter, so that watching anything but a plain SELECT is a compile error.
#[diagnostic::on_unimplemented(
    message = "only a plain SELECT can be watched; this query is `{Self}`",
    label = "a live query cannot be a window of rows or an aggregate",
    note = "a live query is a stream of changes to the rows matching its WHERE: ORDER BY, LIMIT, OFFSET, GROUP BY and aggregates have no meaning there",
    note = "watch the SELECT without them, and sort, cut or count the rows you keep as the changes arrive"
)]
pub trait CanWatch: 'static {}

impl CanWatch for Watchable {}

impl<R, W> std::fmt::Debug for Query<R, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query").field("sql", &self.prepared.sql).field("params", &self.params).finish()
    }
}

impl<R: DeserializeOwned + Send + 'static, W: 'static> Query<R, W> {
    #[doc(hidden)]
    pub fn new(prepared: &'static Prepared, params: Vec<Value>) -> Self {
        Query { prepared: Stmt::Static(prepared), params, page_size: None, _row: PhantomData }
    }

    pub(crate) fn from_stmt(prepared: Stmt, params: Vec<Value>, page_size: Option<usize>) -> Self {
        Query { prepared, params, page_size, _row: PhantomData }
    }

    /// The SQL text of the query.
    pub fn sql(&self) -> &str {
        self.prepared.sql()
    }

    /// The name of the json index planned for this query (`couchsql-type-…`), if any.
    pub fn planned_index(&self) -> Option<String> {
        self.prepared.planned_index()
    }

    /// Rows per `_find` request for this query (default: the database's page size).
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = Some(n.max(1));
        self
    }

    /// The body of the query's first `_find` request, exactly as it is sent
    /// with `page_size` rows per page (for logging, tests and benchmarks).
    pub fn find_body(&self, page_size: usize) -> Result<Vec<u8>> {
        let (s, tmpl) = self.prepared.select()?;
        run::first_find_body(s, tmpl, &self.params, self.page_size.unwrap_or(page_size))
    }

    /// The page size of a read that keeps every row: the query's own, else the database's.
    async fn read_all_page_size(&self, db: &Database) -> Result<usize> {
        match self.page_size {
            Some(n) => Ok(n),
            None => db.read_all_page_size().await,
        }
    }

    async fn run(self, db: &Database, cap: Option<u64>) -> Result<Vec<R>> {
        crate::param::check_finite(&self.params)?;
        let page_size = self.read_all_page_size(db).await?;
        if let Some((a, tmpl)) = self.prepared.aggregate()? {
            let rows = run::aggregate(db, a, tmpl, &self.params, page_size, &self.prepared.sql).await?;
            let cap = cap.map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
            return rows.into_iter().take(cap).map(run::decode_map).collect();
        }
        let (s, tmpl) = self.prepared.select()?;
        if let Some(cols) = self.prepared.named_columns() {
            let docs: Vec<serde_json::Map<String, Value>> =
                run::select(db, s, tmpl, &self.params, cap, page_size, &self.prepared.sql).await?;
            return docs.into_iter().map(|d| run::decode_row(Some(cols), d)).collect();
        }
        run::select(db, s, tmpl, &self.params, cap, page_size, &self.prepared.sql).await
    }

    /// Reads every matching row (paging as needed) into memory.
    pub fn fetch_all<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, Rows<R>> {
        let inner = db.database();
        db.run(Box::pin(async move { self.run(inner, None).await.map(Rows::new) }))
    }

    /// Runs the query with CouchDB's `execution_stats` and returns them, summed
    /// over its pages (the rows are read and dropped): how many index entries
    /// and documents the server examined for the rows returned. `None` from a
    /// server without statistics (pouchdb-server) and for lookups by `_id`.
    ///
    /// ```no_run
    /// # async fn demo<R: serde::de::DeserializeOwned + Send + 'static>(q: couch_runtime::Query<R>, db: &couch_runtime::Database) -> couch_runtime::Result<()> {
    /// if let Some(stats) = q.execution_stats(db).await? {
    ///     println!("{} documents examined for {} rows", stats.total_docs_examined, stats.results_returned);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn execution_stats<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, Option<ExecutionStats>> {
        let inner = db.database();
        db.run(Box::pin(async move {
            crate::param::check_finite(&self.params)?;
            let page_size = self.read_all_page_size(inner).await?;
            let (s, tmpl) = self.prepared.select()?;
            run::execution_stats(inner, s, tmpl, &self.params, page_size, &self.prepared.sql).await
        }))
    }

    /// Reads documents other programs wrote without failing on the ones that do
    /// not fit the row type: [`SkipInvalid::fetch_all`] returns the rows that
    /// decode, and for each skipped document its id and the decode error.
    /// (By default a query is strict: one such document fails the whole read
    /// with [`Error::Decode`]. The [`fetch`](Self::fetch) stream yields that
    /// `Err` in the document's place and goes on.)
    ///
    /// ```no_run
    /// # async fn demo<R: serde::de::DeserializeOwned + Send + 'static>(q: couch_runtime::Query<R>, db: &couch_runtime::Database) -> couch_runtime::Result<()> {
    /// let checked = q.skip_invalid().fetch_all(db).await?;
    /// for s in &checked.skipped {
    ///     eprintln!("skipped {:?}: {}", s.id, s.error);
    /// }
    /// let rows = checked.rows;
    /// # Ok(()) }
    /// ```
    pub fn skip_invalid(self) -> SkipInvalid<R> {
        SkipInvalid(self.remark())
    }

    /// The first row; [`Error::RowNotFound`] if there is none.
    pub fn fetch_one<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, R> {
        let inner = db.database();
        db.run(Box::pin(async move { self.run(inner, Some(1)).await?.into_iter().next().ok_or(Error::RowNotFound) }))
    }

    /// The first row, if any.
    pub fn fetch_optional<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, Option<R>> {
        let inner = db.database();
        db.run(Box::pin(async move { Ok(self.run(inner, Some(1)).await?.into_iter().next()) }))
    }

    /// Streams the rows, reading one page at a time, so memory stays bounded
    /// by the page size however many rows match. (A query the runtime must
    /// sort itself — ORDER BY on a nullable column, or mixed directions — reads
    /// all its rows before the first one is yielded.)
    ///
    /// ```no_run
    /// # async fn demo<R: serde::de::DeserializeOwned + Send + 'static>(q: couch_runtime::Query<R>, db: &couch_runtime::Database) -> couch_runtime::Result<()> {
    /// use futures_util::StreamExt;
    /// let mut rows = q.fetch(db);
    /// while let Some(row) = rows.next().await {
    ///     let row = row?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn fetch(self, db: &Database) -> RowStream<R> {
        use futures_util::StreamExt;
        enum State<R> {
            Start(Query<R>, Database),
            Paging(Box<run::Pager>, Stmt),
            Done,
        }
        let state = State::Start(self.remark(), db.clone());
        let pages = futures_util::stream::unfold(state, |state| async move {
            // A row that does not decode is an `Err` in its place; the stream goes on.
            let next: Result<(Vec<Result<R>>, State<R>)> = async {
                let (mut pager, stmt) = match state {
                    State::Done => return Ok((Vec::new(), State::Done)),
                    State::Paging(p, stmt) => (p, stmt),
                    // Aggregate rows are few (one per group): computed, then yielded.
                    State::Start(q, db) if matches!(q.prepared.plan(), Ok(Plan::Aggregate(_))) => {
                        let rows = q.run(&db, None).await?;
                        return Ok((rows.into_iter().map(Ok).collect(), State::Done));
                    }
                    State::Start(q, db) => {
                        crate::param::check_finite(&q.params)?;
                        let (plan, tmpl) = q.prepared.select()?;
                        let page_size = q.page_size.unwrap_or(db.stream_page_size());
                        match run::select_source(&db, plan, tmpl, &q.params, None, page_size, &q.prepared.sql).await? {
                            run::Source::Pages(p) => (p, q.prepared),
                            run::Source::Sorted(docs) => {
                                let named = q.prepared.named_columns();
                                let rows: Vec<Result<R>> =
                                    docs.into_iter().map(|d| run::decode_row(named, d)).collect();
                                return Ok((rows, State::Done));
                            }
                        }
                    }
                };
                let rows = match stmt.named_columns() {
                    Some(cols) => pager
                        .next_page_with(crate::rows::decode_page_each::<serde_json::Map<String, Value>>)
                        .await?
                        .map(|docs| docs.into_iter().map(|d| d.and_then(|d| run::decode_row(Some(cols), d))).collect()),
                    None => pager.next_page_with(crate::rows::decode_page_each::<R>).await?,
                };
                match rows {
                    Some(rows) => Ok((rows, State::Paging(pager, stmt))),
                    None => Ok((Vec::new(), State::Done)),
                }
            }
            .await;
            match next {
                Ok((rows, State::Done)) if rows.is_empty() => None,
                Ok((rows, next)) => Some((futures_util::stream::iter(rows).left_stream(), next)),
                Err(e) => Some((futures_util::stream::iter(vec![Err(e)]).right_stream(), State::Done)),
            }
        });
        Box::pin(pages.flatten())
    }
}

impl<R: DeserializeOwned + Send + 'static, W: 'static> Query<R, W> {
    /// The same query, each row converted by `into` (what `couch_sql_as!` builds:
    /// rows of a struct of the caller's, checked against the SELECT at compile time).
    #[doc(hidden)]
    pub fn map_rows<T: Send + 'static>(self, into: fn(R) -> T) -> QueryAs<R, T, W> {
        QueryAs { query: self, into }
    }

    /// The same query with another marker (the plan is checked again where it matters).
    pub(crate) fn remark<V>(self) -> Query<R, V> {
        Query { prepared: self.prepared, params: self.params, page_size: self.page_size, _row: PhantomData }
    }
}

/// A `SELECT` whose rows are a struct of the caller's: `couch_sql_as!(Adult, "SELECT name, age FROM …")`.
/// Run it like a [`Query`]: `fetch_all`, `fetch_one`, `fetch_optional` (async or blocking), `fetch`.
#[must_use = "a query does nothing until it is fetched"]
pub struct QueryAs<R, T, W = Watchable> {
    pub(crate) query: Query<R, W>,
    pub(crate) into: fn(R) -> T,
}

impl<R, T, W> std::fmt::Debug for QueryAs<R, T, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.query.fmt(f)
    }
}

impl<R: DeserializeOwned + Send + 'static, T: Send + 'static, W: 'static> QueryAs<R, T, W> {
    /// The SQL text of the query.
    pub fn sql(&self) -> &str {
        self.query.sql()
    }

    /// Every matching row, converted.
    pub fn fetch_all<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, Rows<T>> {
        let inner = db.database();
        let into = self.into;
        db.run(Box::pin(
            async move { Ok(Rows::new(self.query.run(inner, None).await?.into_iter().map(into).collect())) },
        ))
    }

    /// The first row; [`Error::RowNotFound`] if there is none.
    pub fn fetch_one<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, T> {
        let inner = db.database();
        let into = self.into;
        db.run(Box::pin(async move {
            self.query.run(inner, Some(1)).await?.into_iter().next().map(into).ok_or(Error::RowNotFound)
        }))
    }

    /// The first row, if any.
    pub fn fetch_optional<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, Option<T>> {
        let inner = db.database();
        let into = self.into;
        db.run(Box::pin(async move { Ok(self.query.run(inner, Some(1)).await?.into_iter().next().map(into)) }))
    }

    /// The rows as a stream, page by page (see [`Query::fetch`]).
    pub fn fetch(self, db: &Database) -> RowStream<T> {
        use futures_util::StreamExt;
        let into = self.into;
        Box::pin(self.query.fetch(db).map(move |r| r.map(into)))
    }
}

/// A query that skips the documents its row type cannot decode (see [`Query::skip_invalid`]).
#[must_use = "a query does nothing until it is fetched"]
pub struct SkipInvalid<R>(Query<R>);

impl<R: DeserializeOwned + Send + 'static> SkipInvalid<R> {
    /// Every row that decodes, and every document skipped with its id and error.
    pub fn fetch_all<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, crate::rows::Checked<R>> {
        let inner = db.database();
        let q = self.0;
        db.run(Box::pin(async move {
            crate::param::check_finite(&q.params)?;
            let page_size = q.read_all_page_size(inner).await?;
            let (s, tmpl) = q.prepared.select()?;
            let all = match q.prepared.named_columns() {
                Some(cols) => run::select_each::<serde_json::Map<String, Value>>(
                    inner,
                    s,
                    tmpl,
                    &q.params,
                    page_size,
                    &q.prepared.sql,
                )
                .await?
                .into_iter()
                .map(|d| d.and_then(|d| run::decode_row(Some(cols), d)))
                .collect(),
                None => run::select_each::<R>(inner, s, tmpl, &q.params, page_size, &q.prepared.sql).await?,
            };
            crate::rows::Checked::split(all)
        }))
    }
}
