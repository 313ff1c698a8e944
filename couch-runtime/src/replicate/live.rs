//! Continuous replication: passes, each after the source's next change, retried
//! with backoff across outages.

use super::pass::{seq_param, Pass};
use super::scope::Scope;
use super::ReplicationReport;
use crate::client::Database;
use crate::error::{Error, Result};
use futures_util::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// What a live replication reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// A pass moved documents from `source` to `target` (database names).
    Replicated {
        /// The source database's name.
        source: String,
        /// The target database's name.
        target: String,
        /// What the pass did.
        report: ReplicationReport,
    },
    /// Every direction is caught up; the replication waits for the next change.
    Idle,
    /// A pass failed in a way that may pass (the server is down, a timeout); it is
    /// tried again after `retry_in`.
    Retrying {
        /// What failed.
        error: String,
        /// The wait before the next try.
        retry_in: Duration,
    },
}

/// A live replication: a [`Stream`] of [`SyncEvent`]s that runs until dropped.
/// It ends (after an `Err`) only on an error that retrying cannot mend: a wrong
/// password, a refused right, a missing source, an invalid scope.
pub struct LiveSync {
    inner: Pin<Box<dyn Stream<Item = Result<SyncEvent>> + Send>>,
}

impl std::fmt::Debug for LiveSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSync").finish_non_exhaustive()
    }
}

impl Stream for LiveSync {
    type Item = Result<SyncEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Whether an error may pass by itself.
fn transient(e: &Error) -> bool {
    matches!(e, Error::Transport(_) | Error::Timeout | Error::Server { .. })
}

struct State {
    directions: Vec<(Database, Database)>,
    scope: Option<Scope>,
    batch: usize,
    /// Where each direction's source was when its last pass ended.
    seqs: Vec<Option<serde_json::Value>>,
    queue: std::collections::VecDeque<Result<SyncEvent>>,
    backoff: Duration,
    idle_reported: bool,
    ended: bool,
}

impl LiveSync {
    pub(crate) fn new(directions: Vec<(Database, Database)>, scope: Option<Result<Scope>>, batch: usize) -> LiveSync {
        let (scope, queue) = match scope.transpose() {
            Ok(s) => (s, Default::default()),
            Err(e) => (None, std::collections::VecDeque::from([Err(e)])),
        };
        let ended = !queue.is_empty();
        let seqs = vec![None; directions.len()];
        let state = State {
            directions,
            scope,
            batch,
            seqs,
            queue,
            backoff: Duration::from_millis(250),
            idle_reported: false,
            ended,
        };
        let stream = futures_util::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(item) = st.queue.pop_front() {
                    return Some((item, st));
                }
                if st.ended {
                    return None;
                }
                st.step().await;
            }
        });
        LiveSync { inner: Box::pin(stream) }
    }
}

impl State {
    /// One round: a pass per direction, then (when nothing moved) a wait for a change.
    async fn step(&mut self) {
        let mut moved = false;
        for i in 0..self.directions.len() {
            let (source, target) = &self.directions[i];
            let pass = Pass { source, target, scope: self.scope.as_ref(), batch: self.batch };
            match pass.run().await {
                Ok(report) => {
                    self.seqs[i] = Some(serde_json::Value::String(report.end_seq.clone()));
                    if report.docs_read > 0 || report.doc_write_failures > 0 {
                        moved = true;
                        self.queue.push_back(Ok(SyncEvent::Replicated {
                            source: source.name().to_string(),
                            target: target.name().to_string(),
                            report,
                        }));
                    }
                }
                Err(e) if transient(&e) => {
                    let retry_in = self.backoff;
                    self.backoff = (self.backoff * 2).min(Duration::from_secs(30));
                    self.queue.push_back(Ok(SyncEvent::Retrying { error: e.to_string(), retry_in }));
                    tokio::time::sleep(retry_in).await;
                    return;
                }
                Err(e) => {
                    self.queue.push_back(Err(e));
                    self.ended = true;
                    return;
                }
            }
        }
        self.backoff = Duration::from_millis(250);
        if moved {
            self.idle_reported = false;
            return;
        }
        if !self.idle_reported {
            self.idle_reported = true;
            self.queue.push_back(Ok(SyncEvent::Idle));
            return;
        }
        self.wait_for_change().await;
    }

    /// Waits until some source has a change after where its last pass ended (or a
    /// while has passed: the next round looks anyway).
    async fn wait_for_change(&self) {
        let waits = self.directions.iter().zip(&self.seqs).map(|((source, _), seq)| {
            let since = seq.as_ref().map_or_else(|| "now".to_string(), seq_param);
            let mut wait_ms: u64 = 10_000;
            if let Some(longest) = source.longest_wait() {
                wait_ms = wait_ms.min(longest.as_millis() as u64);
            }
            let db = source.with_idle_limit(Duration::from_millis(wait_ms * 3));
            Box::pin(async move {
                let path = format!("_changes?feed=longpoll&limit=1&timeout={wait_ms}&since={since}");
                if db.request("GET", &path, None).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        });
        futures_util::future::select_all(waits).await;
    }
}
