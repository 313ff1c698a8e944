//! Live queries: a compiled SELECT watched through the database's changes feed.
//!
//! The feed is read with `longpoll` requests (with a heartbeat) from the last
//! sequence seen, so a dropped connection, a silent one or a restarted server
//! resumes there. The query's WHERE is evaluated here, on each changed document,
//! with CouchDB's Mango semantics (`couch_semantics::mango`), so that
//! `Removed` is right on every server; where the server has the `_selector`
//! filter, the feed is narrowed there, as far as that stays exact (`Feed::narrowed`).

use crate::client::Database;
use crate::error::{Error, Result};
use crate::executor::BoxFuture;
use crate::query::{CanWatch, Query, QueryAs};
use couch_translate::{Dialect, TableKey};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// One change of a watched query's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<R> {
    /// A document of the table was inserted or updated and matches the WHERE.
    Upsert {
        /// The document's `_id`.
        id: String,
        /// The query's row.
        row: R,
    },
    /// A document that matched (delivered as `Upsert`, or matching when the
    /// watch began) was deleted, or no longer matches.
    Removed {
        /// The document's `_id`.
        id: String,
    },
}

impl<R> Change<R> {
    /// The document's `_id`.
    pub fn id(&self) -> &str {
        match self {
            Change::Upsert { id, .. } | Change::Removed { id } => id,
        }
    }
}

/// The heartbeat asked of the server by default.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);

/// The most known ids a narrowed feed names (see `Feed::narrowed`).
const NARROW_KNOWN_IDS: usize = 64;

/// Changes per request.
const BATCH: usize = 1000;

/// What the feed loop keeps between requests.
struct Feed {
    db: Database,
    table: String,
    key: TableKey,
    /// The selector (the table's condition AND the WHERE), parameters bound.
    selector: Value,
    /// The SELECT's `fields`: a row is made of these, as `_find` would return it.
    fields: Option<couch_semantics::Projection>,
    /// Run-time SQL's columns: a row is made of them by name (see `run::decode_row`).
    named: Option<crate::run::RowColumns>,
    /// The `_selector` filter narrowing the feed to the table, where the server has it.
    narrow: Option<Value>,
    since: String,
    /// Changes up to this sequence replay what happened before `watch_from` was
    /// called: a document of the table that no longer matches is reported
    /// `Removed` even if this stream never saw it match (the caller may hold it).
    replay_until: Option<u64>,
    /// Ids whose document matches as far as this stream knows: matching when the
    /// watch began (`None`), or delivered as `Upsert` at that revision (`Some`).
    known: HashMap<String, Option<String>>,
    /// Changes read and not yet yielded, each with the sequence to resume after it.
    ready: VecDeque<(Result<ChangeJson>, String)>,
    /// Milliseconds between the server's heartbeats; silence for three of them is a dead connection.
    heartbeat: Arc<AtomicU64>,
    /// A batch yielded nothing up to this sequence: `Watch::last_seq` moves there.
    progress: Option<String>,
    /// A request failed for good (the database is gone, the credentials refused):
    /// its error is yielded, then the stream ends.
    failed: bool,
}

/// A change before its row is decoded into the caller's type.
enum ChangeJson {
    Upsert(String, Value),
    Removed(String),
}

pub(crate) fn seq_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The number a sequence starts with: CouchDB's `"12-g1AAA…"`, pouchdb-server's `12`,
/// the engine's `"12"`. It grows with every change on a single node.
fn seq_number(seq: &Value) -> Option<u64> {
    match seq {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.split('-').next()?.parse().ok(),
        _ => None,
    }
}

/// The `_selector` filter that keeps the table's documents (its condition, as the
/// translator writes it for this server) and, for a `type`-field table, every
/// deletion: a tombstone written by another program need not carry the type field.
/// `Feed::narrowed` adds the ids the stream knows.
fn narrowing(key: &TableKey, table: &str, dialect: Dialect) -> Result<Value> {
    let table_only = crate::run::render_json(|out| key.selector(table).render_in(&[], dialect, out))?;
    Ok(with_deletions(key, table_only))
}

/// A changes-feed `_selector` that also lets every deletion through when the table is
/// told by a field: a tombstone written by another program need not carry it.
pub(crate) fn with_deletions(key: &TableKey, selector: Value) -> Value {
    match key {
        TableKey::Field(_) => json!({ "$or": [selector, { "_deleted": true }] }),
        TableKey::IdPrefix(_) => selector,
    }
}

impl Feed {
    /// Reads the next batch of changes (waiting until there is one), retrying
    /// with backoff when the connection drops, goes silent or the server restarts.
    async fn fill(&mut self) {
        let mut delay = Duration::from_millis(100);
        loop {
            let mut heartbeat = self.heartbeat.load(Ordering::Relaxed).max(1);
            if let Some(longest) = self.db.longest_wait() {
                // The transport needs waits short (the in-process engine's holds a thread).
                heartbeat = heartbeat.min(longest.as_millis() as u64);
            }
            let db = self.db.with_idle_limit(Duration::from_millis(heartbeat * 3));
            let mut path = format!(
                "_changes?feed=longpoll&include_docs=true&limit={BATCH}&heartbeat={heartbeat}&since={}",
                crate::encode_segment(&self.since)
            );
            let answer = match self.narrowed() {
                Some(selector) => {
                    path.push_str("&filter=_selector");
                    db.request("POST", &path, Some(&json!({ "selector": selector }))).await
                }
                None => db.request("GET", &path, None).await,
            };
            match answer {
                Ok(answer) => return self.take(answer),
                Err(Error::BadRequest { .. } | Error::NotFound { .. }) if self.narrow.is_some() => {
                    // A server without the `_selector` filter: read the whole feed instead.
                    tracing::debug!("the server refused filter=_selector; filtering in the client");
                    self.narrow = None;
                }
                Err(Error::Transport(_) | Error::Timeout | Error::Server { .. }) => {
                    tracing::debug!(delay_ms = delay.as_millis() as u64, "changes feed interrupted; resuming");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    let since = self.since.clone();
                    self.ready.push_back((Err(e), since));
                    self.failed = true;
                    return;
                }
            }
        }
    }

    /// The `_selector` filter of the next request, if the feed can be narrowed exactly.
    ///
    /// A document of a `type`-field table can leave it (its type rewritten), and then
    /// only its id says it was ours: the filter names the ids this stream knows, while
    /// they are few (CouchDB compares each change with each of them). With more, the
    /// whole feed is read. An `_id`-prefix table is narrowed always: ids do not change.
    fn narrowed(&self) -> Option<Value> {
        let base = self.narrow.as_ref()?;
        if matches!(self.key, TableKey::IdPrefix(_)) || self.known.is_empty() {
            return Some(base.clone());
        }
        if self.known.len() > NARROW_KNOWN_IDS {
            return None;
        }
        let mut selector = base.clone();
        let ids: Vec<&String> = self.known.keys().collect();
        selector["$or"].as_array_mut()?.push(json!({ "_id": { "$in": ids } }));
        Some(selector)
    }

    /// Takes a `_changes` answer's results (moving each document, not copying it).
    fn take(&mut self, mut answer: Value) {
        let last = answer.get("last_seq").map(seq_text);
        let results = match answer.get_mut("results") {
            Some(Value::Array(r)) => std::mem::take(r),
            _ => Vec::new(),
        };
        let mut final_seq = None;
        let queued = self.ready.len();
        for mut r in results {
            // Moved out of the answer, not copied: most changes yield nothing.
            let id = match r.get_mut("id").map(Value::take) {
                Some(Value::String(id)) => id,
                _ => String::new(),
            };
            let seq = r.get_mut("seq").map(Value::take).unwrap_or(Value::Null);
            let deleted = r.get("deleted") == Some(&Value::Bool(true));
            let doc = r.get_mut("doc").map(Value::take).filter(Value::is_object).unwrap_or(Value::Null);
            if let Some(c) = self.classify(id, &seq, deleted, doc) {
                self.ready.push_back((Ok(c), seq_text(&seq)));
            }
            final_seq = Some(seq);
        }
        let batch_yields = self.ready.len() > queued;
        if let Some(seq) = last.or_else(|| final_seq.as_ref().map(seq_text)) {
            // Every change up to `seq` was examined: the batch's last yielded change
            // resumes after all of them, and a batch that yields nothing still moves
            // `last_seq` on (a resumed watch never meets them again).
            match self.ready.back_mut() {
                Some((_, after)) if batch_yields => *after = seq.clone(),
                _ => self.progress = Some(seq.clone()),
            }
            self.since = seq;
        }
    }

    /// What one changed document means for the query's result, if anything.
    fn classify(&mut self, id: String, seq: &Value, deleted: bool, doc: Value) -> Option<ChangeJson> {
        // A tombstone keeps the body it was deleted with: couch-sql's DELETE
        // leaves the type field in it, so its table is still known.
        let of_table = doc.as_object().is_some_and(|d| self.key.holds(&self.table, d));
        if of_table && !deleted && couch_semantics::mango::matches(&self.selector, &doc) {
            let rev = doc.get("_rev").and_then(Value::as_str).map(str::to_owned);
            if rev.is_some() && self.known.get(&id).is_some_and(|r| *r == rev) {
                return None; // this revision was delivered already (a feed that rewound)
            }
            self.known.insert(id.clone(), rev);
            let row = match &self.fields {
                Some(p) => p.apply(doc),
                None => doc,
            };
            return Some(ChangeJson::Upsert(id, row));
        }
        if !self.known.is_empty() && self.known.remove(&id).is_some() {
            return Some(ChangeJson::Removed(id));
        }
        let replayed = self.replay_until.is_some_and(|until| seq_number(seq).is_some_and(|n| n <= until));
        // A first revision did not exist before: nobody can hold it.
        let first = doc.get("_rev").and_then(Value::as_str).is_some_and(|r| r.starts_with("1-"));
        (replayed && of_table && !first).then_some(ChangeJson::Removed(id))
    }
}

/// Changes, each with the sequence to resume after it; `None` where only the
/// sequence moved (changes examined that concern the query not).
type ChangeStream<R> = Pin<Box<dyn futures_core::Stream<Item = (Option<Result<Change<R>>>, String)> + Send>>;

/// A live query: a stream of [`Change`]s, from `watch` or `watch_from`.
///
/// Dropping it closes the feed's request.
pub struct Watch<R> {
    inner: ChangeStream<R>,
    last_seq: String,
    heartbeat: Arc<AtomicU64>,
}

impl<R> std::fmt::Debug for Watch<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").field("last_seq", &self.last_seq).finish()
    }
}

impl<R> Watch<R> {
    /// Where to resume: a sequence at or after the last change yielded, past every
    /// change the stream has examined since and found irrelevant (other tables,
    /// rows that do not match). Persist it after each change you handle and resume
    /// with [`Query::watch_from`]: only later changes come again.
    pub fn last_seq(&self) -> String {
        self.last_seq.clone()
    }

    /// How often the server is asked to send a heartbeat while no change comes
    /// (default 5 s). A connection silent for three heartbeats (15 s) is taken for
    /// dead and the feed resumes from [`last_seq`](Self::last_seq) on a new one.
    pub fn heartbeat(self, every: Duration) -> Self {
        self.heartbeat.store((every.as_millis() as u64).max(1), Ordering::Relaxed);
        self
    }

    fn map<T: 'static>(self, into: fn(R) -> T) -> Watch<T>
    where
        R: 'static,
    {
        use futures_util::StreamExt;
        let inner = self.inner.map(move |(item, seq)| {
            let item = item.map(|item| {
                item.map(|c| match c {
                    Change::Upsert { id, row } => Change::Upsert { id, row: into(row) },
                    Change::Removed { id } => Change::Removed { id },
                })
            });
            (item, seq)
        });
        Watch { inner: Box::pin(inner), last_seq: self.last_seq, heartbeat: self.heartbeat }
    }
}

impl<R> futures_core::Stream for Watch<R> {
    type Item = Result<Change<R>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match self.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some((item, seq))) => {
                    self.last_seq = seq;
                    if let Some(item) = item {
                        return Poll::Ready(Some(item));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The database's update sequence now.
async fn update_seq(db: &Database) -> Result<String> {
    Ok(seq_text(&db.request("GET", "", None).await?["update_seq"]))
}

impl<R: DeserializeOwned + Send + 'static, W: 'static> Query<R, W> {
    /// Watches the query: every change committed after this call returns (the
    /// database's current update sequence) that makes a document of the table match
    /// the WHERE is an [`Change::Upsert`]; a document that matched (when the watch
    /// began, or delivered since) and is deleted or stops matching is a
    /// [`Change::Removed`]. Documents of other tables never appear.
    ///
    /// Only a plain SELECT can be watched: with ORDER BY, LIMIT, OFFSET or an
    /// aggregate, `watch` is a compile error.
    ///
    /// ```no_run
    /// # async fn demo<R: serde::de::DeserializeOwned + Send + 'static>(q: couch_runtime::Query<R>, db: &couch_runtime::Database) -> couch_runtime::Result<()> {
    /// use futures_util::StreamExt;
    /// let mut live = q.watch(db).await?;
    /// while let Some(change) = live.next().await {
    ///     match change? {
    ///         couch_runtime::Change::Upsert { id, row } => { /* … */ }
    ///         couch_runtime::Change::Removed { id } => { /* … */ }
    ///     }
    ///     let resume_from = live.last_seq(); // persist it
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch(self, db: &Database) -> BoxFuture<'_, Result<Watch<R>>>
    where
        W: CanWatch,
    {
        Box::pin(self.remark::<crate::query::Watchable>().start(db, None))
    }

    /// Watches the query from the sequence `since` (a [`Watch::last_seq`]): the
    /// changes committed after it, then live ones. While it catches up, a document
    /// of the table that no longer matches is reported `Removed` (the caller may
    /// hold it from before).
    pub fn watch_from<'a>(self, db: &'a Database, since: &'a str) -> BoxFuture<'a, Result<Watch<R>>>
    where
        W: CanWatch,
    {
        Box::pin(self.remark::<crate::query::Watchable>().start(db, Some(since)))
    }

    /// The blocking API's live query: an iterator of the same [`Change`]s as
    /// [`Query::watch`] (`next` waits for the next change).
    pub fn watch_iter(self, db: &crate::blocking::Database) -> Result<WatchIter<R>>
    where
        W: CanWatch,
    {
        let rt = db.runtime();
        let watch = rt.block_on(self.watch(db.as_async()))?;
        Ok(WatchIter { watch, rt })
    }
}

impl<R: DeserializeOwned + Send + 'static> Query<R> {
    async fn start(self, db: &Database, since: Option<&str>) -> Result<Watch<R>> {
        crate::param::check_finite(&self.params)?;
        if let Ok(couch_translate::Plan::Aggregate(_)) = self.prepared.plan() {
            return Err(Error::Invalid {
                what: "live query",
                message: "an aggregate is a summary, not rows a change adds or removes: watch the SELECT without it"
                    .into(),
            });
        }
        let (s, _) = self.prepared.select()?;
        // Run-time SQL is checked here (compiled SQL is checked by its type).
        if !s.order_by.is_empty() || s.limit.is_some() || s.offset.is_some() {
            return Err(Error::Invalid {
                what: "live query",
                message:
                    "ORDER BY, LIMIT and OFFSET have no meaning for a stream of changes: watch the query without them"
                        .into(),
            });
        }
        let selector = crate::run::render_json(|out| s.selector.render_in(&self.params, Dialect::embedded(), out))?;
        let profile = db.profile().await?;
        let narrow = if profile.changes_selector { Some(narrowing(&s.key, &s.table, profile.dialect)?) } else { None };
        // The documents matching now, at a sequence no later than the seed: their
        // deletion or change is `Removed` though this stream never delivered them.
        let mut start = update_seq(db).await?;
        let mut seed;
        let mut tries = 0;
        loop {
            seed = crate::run::matching_ids(db, &s.selector, &self.params, s.planned.as_deref(), &self.prepared.sql)
                .await?;
            let after = update_seq(db).await?;
            tries += 1;
            // A write between the two sequences may have escaped the seed: try again (a few times).
            if after == start || tries == 3 {
                break;
            }
            start = after;
        }
        let known = seed.into_iter().map(|id| (id, None)).collect();
        let (since, replay_until) = match since {
            Some(from) => (from.to_string(), seq_number(&Value::String(start))),
            None => (start, None),
        };
        let heartbeat = Arc::new(AtomicU64::new(DEFAULT_HEARTBEAT.as_millis() as u64));
        let feed = Feed {
            db: db.clone(),
            table: s.table.clone(),
            key: s.key.clone(),
            selector,
            fields: s.fields.as_deref().map(couch_semantics::Projection::new),
            named: self.prepared.named_columns().cloned(),
            narrow,
            since: since.clone(),
            replay_until,
            known,
            ready: VecDeque::new(),
            heartbeat: heartbeat.clone(),
            progress: None,
            failed: false,
        };
        let stream = futures_util::stream::unfold(feed, |mut feed| async move {
            loop {
                if let Some((item, seq)) = feed.ready.pop_front() {
                    let named = feed.named.as_ref();
                    let item = item.and_then(|c| match c {
                        ChangeJson::Removed(id) => Ok(Change::Removed { id }),
                        ChangeJson::Upsert(id, Value::Object(doc)) if named.is_some() => {
                            crate::run::decode_row::<R>(named, doc).map(|row| Change::Upsert { id, row })
                        }
                        ChangeJson::Upsert(id, doc) => serde_json::from_value::<R>(doc)
                            .map(|row| Change::Upsert { id: id.clone(), row })
                            .map_err(|e| Error::decode(Some(id), None, e)),
                    });
                    return Some(((Some(item), seq), feed));
                }
                if let Some(seq) = feed.progress.take() {
                    return Some(((None, seq), feed));
                }
                if feed.failed {
                    return None;
                }
                feed.fill().await;
            }
        });
        Ok(Watch { inner: Box::pin(stream), last_seq: since, heartbeat })
    }
}

impl<R: DeserializeOwned + Send + 'static, T: Send + 'static, W: 'static> QueryAs<R, T, W> {
    /// Watches the query, each row converted (see [`Query::watch`]).
    pub fn watch(self, db: &Database) -> BoxFuture<'_, Result<Watch<T>>>
    where
        W: CanWatch,
    {
        let into = self.into;
        Box::pin(async move { Ok(self.query.watch(db).await?.map(into)) })
    }

    /// Watches the query from `since` (see [`Query::watch_from`]).
    pub fn watch_from<'a>(self, db: &'a Database, since: &'a str) -> BoxFuture<'a, Result<Watch<T>>>
    where
        W: CanWatch,
    {
        let into = self.into;
        Box::pin(async move { Ok(self.query.watch_from(db, since).await?.map(into)) })
    }

    /// The blocking API's live query (see [`Query::watch_iter`]).
    pub fn watch_iter(self, db: &crate::blocking::Database) -> Result<WatchIter<T>>
    where
        W: CanWatch,
    {
        let rt = db.runtime();
        let watch = rt.block_on(self.watch(db.as_async()))?;
        Ok(WatchIter { watch, rt })
    }
}

impl<R: DeserializeOwned + Send + 'static> crate::DynQuery<R> {
    /// Watches a SELECT given at run time (see [`Query::watch`]). ORDER BY, LIMIT,
    /// OFFSET or an aggregate are an [`Error::Invalid`] here, found when it is called.
    ///
    /// ```no_run
    /// # async fn demo(db: &couch_runtime::Database) -> couch_runtime::Result<()> {
    /// use futures_util::StreamExt;
    /// let mut live = couch_runtime::query("SELECT name FROM users WHERE age >= ?").bind(18).watch(db).await?;
    /// while let Some(change) = live.next().await {
    ///     println!("{:?}", change?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch(self, db: &Database) -> BoxFuture<'_, Result<Watch<R>>> {
        Box::pin(async move { self.query()?.watch(db).await })
    }

    /// Watches a run-time SELECT from `since` (see [`Query::watch_from`]).
    pub fn watch_from<'a>(self, db: &'a Database, since: &'a str) -> BoxFuture<'a, Result<Watch<R>>> {
        Box::pin(async move { self.query()?.watch_from(db, since).await })
    }
}

/// A live query of the blocking API (see [`Query::watch_iter`]).
pub struct WatchIter<R> {
    watch: Watch<R>,
    rt: std::sync::Arc<tokio::runtime::Runtime>,
}

impl<R> WatchIter<R> {
    /// The sequence after the last change yielded (see [`Watch::last_seq`]).
    pub fn last_seq(&self) -> String {
        self.watch.last_seq()
    }

    /// How often the server is asked for a heartbeat (see [`Watch::heartbeat`]).
    pub fn heartbeat(self, every: Duration) -> Self {
        WatchIter { watch: self.watch.heartbeat(every), rt: self.rt }
    }
}

impl<R> Iterator for WatchIter<R> {
    type Item = Result<Change<R>>;

    fn next(&mut self) -> Option<Self::Item> {
        use futures_util::StreamExt;
        let rt = self.rt.clone();
        rt.block_on(self.watch.next())
    }
}
