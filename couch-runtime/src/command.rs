//! Statements that return no rows to iterate: writes (`Command`, and a `Batch` of
//! them) and `EXPLAIN`.

use crate::client::Database;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::outcome::ExecuteResult;
use crate::run;
use crate::run::Explanation;
use couch_translate::Plan;
use serde_json::Value;

use crate::query::{Prepared, Stmt};

/// An `INSERT`, `UPDATE` or `DELETE` with its parameters bound. Run it with `execute`.
#[must_use = "a statement does nothing until it is executed"]
pub struct Command {
    prepared: Stmt,
    params: Vec<Value>,
    allow_partial: bool,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command").field("sql", &self.prepared.sql).field("params", &self.params).finish()
    }
}

impl Command {
    #[doc(hidden)]
    pub fn new(prepared: &'static Prepared, params: Vec<Value>) -> Self {
        Command { prepared: Stmt::Static(prepared), params, allow_partial: false }
    }

    pub(crate) fn from_stmt(prepared: Stmt, params: Vec<Value>) -> Self {
        Command { prepared, params, allow_partial: false }
    }

    /// Lets `execute` return `Ok` when some documents could not be written, with
    /// every document's outcome in the [`ExecuteResult`] (see
    /// [`ExecuteResult::failures`]). Without it such a statement is
    /// [`Error::Write`](crate::Error::Write).
    ///
    /// ```no_run
    /// # async fn demo(db: &couch_runtime::Database, a: couch_runtime::Command, b: couch_runtime::Command) -> couch_runtime::Result<()> {
    /// // By default a document left unwritten is an error that carries every outcome…
    /// if let Err(couch_runtime::Error::Write { result }) = a.execute(db).await {
    ///     for f in result.failures() {
    ///         eprintln!("{} not written: {:?}", f.id, f.error);
    ///     }
    /// }
    /// // …or, opted in, the same outcomes as `Ok`.
    /// let r = b.allow_partial().execute(db).await?;
    /// println!("{} written, {} not", r.rows_affected(), r.failures().count());
    /// # Ok(()) }
    /// ```
    pub fn allow_partial(mut self) -> Self {
        self.allow_partial = true;
        self
    }

    /// The SQL text of the statement.
    pub fn sql(&self) -> &str {
        self.prepared.sql()
    }

    /// Runs the statement. UPDATE and DELETE first read every matching
    /// document, then write them back with their `_rev` through `_bulk_docs`.
    ///
    /// `Ok` means every document was written. When any was not (a duplicate
    /// `_id`, a conflict that outlasted the retries, a `validate_doc_update`
    /// refusal, a value the column cannot hold) the result is
    /// [`Error::Write`](crate::Error::Write), which carries every document's
    /// outcome, the written ones included: CouchDB writes each document on its
    /// own, so the others did land. [`Command::allow_partial`] returns them as `Ok`.
    pub fn execute<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, ExecuteResult> {
        let inner = db.database();
        let allow_partial = self.allow_partial;
        db.run(Box::pin(async move { self.execute_on(inner).await?.or_partial(allow_partial) }))
    }

    async fn execute_on(self, db: &Database) -> Result<ExecuteResult> {
        crate::param::check_finite(&self.params)?;
        let sql = &self.prepared.sql;
        match self.prepared.plan()? {
            Plan::Insert(i) => run::insert(db, i, &self.params).await,
            Plan::Update(u) => run::update(db, u, &self.params, sql).await,
            Plan::Delete(d) => run::delete(db, d, &self.params, sql).await,
            Plan::CreateIndex(i) => run::create_index(db, i).await,
            Plan::DropIndex(i) => run::drop_index(db, i).await,
            Plan::Select(_) | Plan::Explain(_) | Plan::Aggregate(_) => {
                Err(Error::Invalid { what: "statement", message: "a SELECT is fetched, not executed".into() })
            }
        }
    }

    /// The statement's documents, read and changed but not yet written (for [`Batch`]).
    async fn prepare(self, db: &Database) -> Result<run::PendingDocs> {
        crate::param::check_finite(&self.params)?;
        run::prepare(db, self.prepared.plan()?, &self.params, &self.prepared.sql).await
    }
}

/// `EXPLAIN SELECT …`: asks the server which index the SELECT would use.
#[must_use = "an EXPLAIN does nothing until it is run"]
#[derive(Debug)]
pub struct Explain {
    prepared: Stmt,
    params: Vec<Value>,
}

impl Explain {
    #[doc(hidden)]
    pub fn new(prepared: &'static Prepared, params: Vec<Value>) -> Self {
        Explain { prepared: Stmt::Static(prepared), params }
    }

    pub(crate) fn from_stmt(prepared: Stmt, params: Vec<Value>) -> Self {
        Explain { prepared, params }
    }

    /// The name of the json index planned for the SELECT, if any.
    pub fn planned_index(&self) -> Option<String> {
        self.prepared.planned_index()
    }

    /// Sends the SELECT's first-page `_find` body to `_explain`.
    pub fn explain<'a, E: Executor + ?Sized>(self, db: &'a E) -> E::Output<'a, Explanation> {
        let inner = db.database();
        db.run(Box::pin(async move {
            crate::param::check_finite(&self.params)?;
            match self.prepared.plan()? {
                Plan::Explain(s) => run::explain(inner, s, &self.params, inner.stream_page_size()).await,
                _ => Err(Error::Invalid { what: "statement", message: "not an EXPLAIN".into() }),
            }
        }))
    }
}

/// Several INSERT, UPDATE and DELETE statements sent as one `_bulk_docs` on
/// [`Batch::commit`] — what the Python dialect called a transaction.
///
/// **CouchDB has no multi-document atomicity.** A batch saves round trips, not
/// consistency: each document succeeds or fails on its own, and the result
/// lists every document's outcome. UPDATE and DELETE read their documents
/// when the batch commits; a document changed by two statements of one batch
/// conflicts on the second. A batch dropped without `commit` sends nothing.
///
/// ```no_run
/// # async fn demo(db: &couch_runtime::Database, a: couch_runtime::Command, b: couch_runtime::Command) -> couch_runtime::Result<()> {
/// let mut batch = db.batch();
/// batch.add(a);
/// batch.add(b);
/// let result = batch.commit().await?;
/// assert!(result.is_complete());
/// # Ok(()) }
/// ```
#[must_use = "a batch sends nothing until it is committed"]
pub struct Batch<'a, E: Executor + ?Sized> {
    db: &'a E,
    commands: Vec<Command>,
    allow_partial: bool,
}

impl<'a, E: Executor + ?Sized> Batch<'a, E> {
    pub(crate) fn new(db: &'a E) -> Self {
        Batch { db, commands: Vec::new(), allow_partial: false }
    }

    /// Lets `commit` return `Ok` when some documents could not be written (see
    /// [`Command::allow_partial`]).
    pub fn allow_partial(&mut self) -> &mut Self {
        self.allow_partial = true;
        self
    }

    /// Queues a statement.
    pub fn add(&mut self, command: Command) -> &mut Self {
        self.commands.push(command);
        self
    }

    /// How many statements are queued.
    /// The number of statements in the batch.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether the batch has no statements.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Reads what UPDATE/DELETE need, then sends every write in one `_bulk_docs`.
    /// Like [`Command::execute`], `Ok` only when every document was written.
    pub fn commit(self) -> E::Output<'a, ExecuteResult> {
        let db = self.db.database();
        let (commands, allow_partial) = (self.commands, self.allow_partial);
        self.db.run(Box::pin(async move {
            let mut all = run::PendingDocs::default();
            for c in commands {
                all.extend(c.prepare(db).await?);
            }
            all.write(db).await?.or_partial(allow_partial)
        }))
    }
}

impl Database {
    /// Starts a [`Batch`] of writes.
    pub fn batch(&self) -> Batch<'_, Database> {
        Batch::new(self)
    }
}

impl crate::blocking::Database {
    /// Starts a [`Batch`] of writes.
    pub fn batch(&self) -> Batch<'_, crate::blocking::Database> {
        Batch::new(self)
    }
}
