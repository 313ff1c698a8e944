//! Live queries: a compiled SELECT watched through the database's changes feed.
//!
//! The feed is read with `longpoll` requests from the last sequence seen, so a
//! dropped connection or a restarted server resumes there. The query's WHERE is
//! evaluated here, on each changed document, with CouchDB's Mango semantics (the
//! embedded engine's evaluator), so that `Removed` is right on every server.

use crate::client::Database;
use crate::error::{Error, Result};
use crate::query::Query;
use couch_translate::{Dialect, TableKey};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::task::{Context, Poll};

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
    /// A document delivered as `Upsert` was deleted, or no longer matches.
    Removed {
        /// The document's `_id`.
        id: String,
    },
}

/// What the feed loop keeps between requests.
struct Feed {
    db: Database,
    table: String,
    key: TableKey,
    /// The selector (the table's condition AND the WHERE), parameters bound.
    selector: Value,
    since: String,
    /// Ids delivered as `Upsert` and not removed since.
    delivered: HashSet<String>,
    /// Changes read and not yet yielded, each with the sequence to resume after it.
    ready: VecDeque<(Result<ChangeJson>, String)>,
}

/// A change before its row is decoded into the caller's type.
enum ChangeJson {
    Upsert(String, Value),
    Removed(String),
}

fn seq_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Feed {
    /// Reads the next batch of changes (waiting up to the longpoll timeout), retrying
    /// with backoff when the connection drops or the server restarts.
    async fn fill(&mut self) {
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            let path = format!(
                "_changes?feed=longpoll&include_docs=true&limit=1000&timeout=10000&since={}",
                crate::encode_segment(&self.since)
            );
            match self.db.request("GET", &path, None).await {
                Ok(answer) => return self.take(answer),
                Err(Error::Transport(_) | Error::Timeout | Error::Server { .. }) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
                Err(e) => {
                    let since = self.since.clone();
                    self.ready.push_back((Err(e), since));
                    return;
                }
            }
        }
    }

    /// Takes a `_changes` answer's results (moving each document, not copying it).
    fn take(&mut self, mut answer: Value) {
        let last = answer.get("last_seq").map(seq_text);
        let results = match answer.get_mut("results") {
            Some(Value::Array(r)) => std::mem::take(r),
            _ => Vec::new(),
        };
        for mut r in results {
            let id = r["id"].as_str().unwrap_or_default().to_string();
            let seq = seq_text(&r["seq"]);
            let deleted = r.get("deleted") == Some(&Value::Bool(true));
            let doc = r.get_mut("doc").map(Value::take).filter(Value::is_object);
            let change = match doc {
                Some(doc) if !deleted && doc.as_object().is_some_and(|d| self.key.holds(&self.table, d)) => {
                    if couch_embedded::mango::matches(&self.selector, &doc) {
                        self.delivered.insert(id.clone());
                        Some(ChangeJson::Upsert(id.clone(), doc))
                    } else {
                        self.delivered.remove(&id).then(|| ChangeJson::Removed(id.clone()))
                    }
                }
                // Deleted, or no longer a document of the table.
                _ => self.delivered.remove(&id).then(|| ChangeJson::Removed(id.clone())),
            };
            if let Some(c) = change {
                self.ready.push_back((Ok(c), seq.clone()));
            }
            self.since = seq;
        }
        if let Some(last) = last {
            self.since = last;
        }
    }
}

/// Changes, each with the sequence to resume after it.
type ChangeStream<R> = Pin<Box<dyn futures_core::Stream<Item = (Result<Change<R>>, String)> + Send>>;

/// A live query: a stream of [`Change`]s, from `watch` or `watch_from`.
pub struct Watch<R> {
    inner: ChangeStream<R>,
    last_seq: String,
}

impl<R> Watch<R> {
    /// The sequence after the last change yielded: persist it, and resume there
    /// with [`Query::watch_from`].
    pub fn last_seq(&self) -> String {
        self.last_seq.clone()
    }
}

impl<R> futures_core::Stream for Watch<R> {
    type Item = Result<Change<R>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some((item, seq))) => {
                self.last_seq = seq;
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Query<R> {
    /// Watches the query: every change committed after this call returns (the
    /// database's current update sequence) that makes a document of the table match
    /// the WHERE is an [`Change::Upsert`]; a document delivered before that is
    /// deleted or stops matching is a [`Change::Removed`].
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
    pub async fn watch(self, db: &Database) -> Result<Watch<R>> {
        let info = db.request("GET", "", None).await?;
        let since = seq_text(&info["update_seq"]);
        self.watch_from(db, &since).await
    }

    /// Watches the query from the sequence `since` (a [`Watch::last_seq`]).
    pub async fn watch_from(self, db: &Database, since: &str) -> Result<Watch<R>> {
        crate::param::check_finite(&self.params)?;
        let (s, _) = self.prepared.select()?;
        if !s.order_by.is_empty() || s.limit.is_some() || s.offset.is_some() {
            return Err(Error::Invalid {
                what: "live query",
                message:
                    "ORDER BY, LIMIT and OFFSET have no meaning for a stream of changes: watch the query without them"
                        .into(),
            });
        }
        let mut rendered = Vec::new();
        s.selector.render_in(&self.params, Dialect::embedded(), &mut rendered).map_err(crate::exec::render_error)?;
        let selector: Value = serde_json::from_slice(&rendered).map_err(|e| Error::decode(None, None, e))?;
        let feed = Feed {
            db: db.clone(),
            table: s.table.clone(),
            key: s.key.clone(),
            selector,
            since: since.to_string(),
            delivered: HashSet::new(),
            ready: VecDeque::new(),
        };
        let stream = futures_util::stream::unfold(feed, |mut feed| async move {
            loop {
                if let Some((item, seq)) = feed.ready.pop_front() {
                    let item = item.and_then(|c| match c {
                        ChangeJson::Removed(id) => Ok(Change::Removed { id }),
                        ChangeJson::Upsert(id, doc) => serde_json::from_value::<R>(doc)
                            .map(|row| Change::Upsert { id: id.clone(), row })
                            .map_err(|e| Error::decode(Some(id), None, e)),
                    });
                    return Some(((item, seq), feed));
                }
                feed.fill().await;
            }
        });
        Ok(Watch { inner: Box::pin(stream), last_seq: since.to_string() })
    }
}

impl<R: DeserializeOwned + Send + 'static> Query<R> {
    /// The blocking API's live query: an iterator of the same [`Change`]s as
    /// [`Query::watch`] (`next` waits for the next change).
    pub fn watch_iter(self, db: &crate::blocking::Database) -> Result<WatchIter<R>> {
        let rt = db.runtime();
        let watch = rt.block_on(self.watch(db.as_async()))?;
        Ok(WatchIter { watch, rt })
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
}

impl<R> Iterator for WatchIter<R> {
    type Item = Result<Change<R>>;

    fn next(&mut self) -> Option<Self::Item> {
        use futures_util::StreamExt;
        let rt = self.rt.clone();
        rt.block_on(self.watch.next())
    }
}
