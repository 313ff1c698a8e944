//! One replication pass, as CouchDB's protocol describes it
//! (`src/docs/src/replication/protocol.rst`): read the source's changes from the
//! checkpoint in batches; ask the target which revisions it lacks (`_revs_diff`);
//! read those with their history (`_bulk_get`, or `open_revs` where a server has
//! no `_bulk_get`); write them as they are (`_bulk_docs`, `new_edits=false`);
//! record the checkpoint on both sides.

use super::checkpoint::{replication_id, Checkpoints};
use super::scope::Scope;
use super::{ReplicationFailure, ReplicationReport};
use crate::client::{encode_segment, Database};
use crate::error::{Error, Result};
use crate::watch::seq_text;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

/// Changes read per batch (CouchDB's `worker_batch_size`).
pub(crate) const DEFAULT_BATCH: usize = 500;

/// A sequence as a query parameter (CouchDB's are strings, pouchdb-server's numbers).
pub(crate) fn seq_param(seq: &Value) -> String {
    match seq {
        Value::String(s) => encode_segment(s),
        other => other.to_string(),
    }
}

/// What one pass needs.
pub(crate) struct Pass<'a> {
    pub(crate) source: &'a Database,
    pub(crate) target: &'a Database,
    pub(crate) scope: Option<&'a Scope>,
    pub(crate) batch: usize,
}

impl Pass<'_> {
    /// Replicates every change the source has now (from the checkpoint) to the target.
    pub(crate) async fn run(&self) -> Result<ReplicationReport> {
        // The source must exist; the target is created when missing.
        self.source.request("GET", "", None).await?;
        self.target.create_if_missing().await?;
        let id = replication_id(self.source, self.target, self.scope);
        let (mut checkpoints, mut since) = Checkpoints::read(self.source, self.target, id).await?;
        let mut report =
            ReplicationReport { start_seq: seq_text(&since), resumed: since != json!(0), ..Default::default() };
        let selector_filter = match self.scope {
            Some(_) => self.source.profile().await?.changes_selector,
            None => false,
        };
        let mut bulk_get = true;
        loop {
            let (rows, last_seq, pending) = self.changes(&since, selector_filter).await?;
            report.changes_read += rows.len() as u64;
            if !rows.is_empty() {
                let revs = self.revs_of(&rows, selector_filter);
                let missing = self.missing(revs, &mut report).await?;
                if !missing.is_empty() {
                    let docs = self.read_docs(&missing, &mut bulk_get).await?;
                    report.docs_read += docs.len() as u64;
                    self.write(docs, &mut report).await?;
                }
            }
            let moved = last_seq != since;
            since = last_seq;
            if moved {
                checkpoints.record(self.source, self.target, &since, &report).await?;
            }
            let done = match pending {
                Some(p) => p == 0,
                None => rows.len() < self.batch,
            };
            if done || !moved {
                break;
            }
        }
        report.end_seq = seq_text(&since);
        Ok(report)
    }

    /// One batch of the source's changes: rows, the sequence after them, and how
    /// many remain (when the server says).
    async fn changes(&self, since: &Value, selector_filter: bool) -> Result<(Vec<Value>, Value, Option<u64>)> {
        let mut path = format!("_changes?style=all_docs&limit={}&since={}", self.batch, seq_param(since));
        let mut answer = match self.scope {
            Some(scope) if selector_filter => {
                path.push_str("&filter=_selector");
                self.source.request("POST", &path, Some(&json!({ "selector": scope.filter }))).await?
            }
            Some(_) => {
                // Filtered here: the documents are needed to match.
                path.push_str("&include_docs=true");
                self.source.request("GET", &path, None).await?
            }
            None => self.source.request("GET", &path, None).await?,
        };
        let rows = match answer.get_mut("results").map(Value::take) {
            Some(Value::Array(rows)) => rows,
            _ => return Err(Error::decode(None, None, "a changes feed without `results`")),
        };
        let last_seq = answer.get_mut("last_seq").map(Value::take).unwrap_or_else(|| since.clone());
        Ok((rows, last_seq, answer.get("pending").and_then(Value::as_u64)))
    }

    /// `{id: [rev, …]}` of a batch of changes (those in scope).
    fn revs_of(&self, rows: &[Value], selector_filter: bool) -> Map<String, Value> {
        let mut revs = Map::new();
        for row in rows {
            let Some(id) = row["id"].as_str() else { continue };
            if let (Some(scope), false) = (self.scope, selector_filter) {
                if !scope.admits(&row["doc"]) && row.get("deleted") != Some(&Value::Bool(true)) {
                    continue;
                }
            }
            let changed: Vec<Value> =
                row["changes"].as_array().into_iter().flatten().filter_map(|c| c.get("rev").cloned()).collect();
            let entry = revs.entry(id.to_string()).or_insert_with(|| json!([]));
            entry.as_array_mut().expect("made an array").extend(changed);
        }
        revs
    }

    /// `_revs_diff` on the target: `(id, missing revisions, possible ancestors)`.
    async fn missing(
        &self,
        revs: Map<String, Value>,
        report: &mut ReplicationReport,
    ) -> Result<Vec<(String, Vec<Value>, Vec<Value>)>> {
        report.missing_checked += revs.values().map(|r| r.as_array().map_or(0, Vec::len) as u64).sum::<u64>();
        if revs.is_empty() {
            return Ok(Vec::new());
        }
        let diff = self.target.request("POST", "_revs_diff", Some(&Value::Object(revs))).await?;
        let mut out = Vec::new();
        for (id, d) in diff.as_object().into_iter().flatten() {
            let missing = d["missing"].as_array().cloned().unwrap_or_default();
            let ancestors = d["possible_ancestors"].as_array().cloned().unwrap_or_default();
            report.missing_found += missing.len() as u64;
            if !missing.is_empty() {
                out.push((id.clone(), missing, ancestors));
            }
        }
        Ok(out)
    }

    /// The missing revisions with their history (`_revisions`) and attachments.
    async fn read_docs(&self, missing: &[(String, Vec<Value>, Vec<Value>)], bulk_get: &mut bool) -> Result<Vec<Value>> {
        if *bulk_get {
            let asked: Vec<Value> = missing
                .iter()
                .flat_map(|(id, revs, ancestors)| {
                    revs.iter().map(move |rev| {
                        let mut a = json!({"id": id, "rev": rev});
                        if !ancestors.is_empty() {
                            a["atts_since"] = json!(ancestors);
                        }
                        a
                    })
                })
                .collect();
            let path = "_bulk_get?revs=true&latest=true&attachments=true";
            match self.source.request("POST", path, Some(&json!({ "docs": asked }))).await {
                Ok(answer) => return Ok(bulk_get_docs(&answer)),
                // A server without `_bulk_get` (CouchDB before 2.0, some others): one
                // `open_revs` read per document from now on.
                Err(Error::NotFound { .. } | Error::BadRequest { .. }) => *bulk_get = false,
                Err(Error::Server { status: 405 | 501, .. }) => *bulk_get = false,
                Err(e) => return Err(e),
            }
        }
        let paths: Vec<String> = missing
            .iter()
            .map(|(id, revs, _)| {
                let revs = encode_segment(&Value::Array(revs.clone()).to_string());
                format!("{}?revs=true&latest=true&attachments=true&open_revs={revs}", encode_segment(id))
            })
            .collect();
        let source = self.source.clone();
        let reads = paths.into_iter().map(move |path| {
            let source = source.clone();
            async move {
                let answer = source.request("GET", &path, None).await?;
                let docs = answer.as_array().into_iter().flatten().filter_map(|r| r.get("ok").cloned());
                Ok::<_, Error>(docs.collect::<Vec<_>>())
            }
        });
        let docs: Vec<Vec<Value>> = futures_util::stream::iter(reads).buffered(8).try_collect().await?;
        Ok(docs.into_iter().flatten().collect())
    }

    /// `_bulk_docs` with `new_edits=false` on the target; refusals are counted.
    async fn write(&self, docs: Vec<Value>, report: &mut ReplicationReport) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let sent = docs.len() as u64;
        let body = self.target.write_body(json!({"new_edits": false, "docs": docs}));
        let answer = match self.target.request("POST", "_bulk_docs", Some(&body)).await {
            Ok(a) => a,
            // The target refuses the whole batch (no right to write): each document is
            // a counted failure, with the reason, and the replication goes on.
            Err(e @ (Error::Unauthorized { .. } | Error::Forbidden { .. })) => {
                let (error, reason) = match &e {
                    Error::Unauthorized { reason } => ("unauthorized", reason.clone()),
                    Error::Forbidden { reason } => ("forbidden", reason.clone()),
                    _ => unreachable!("matched above"),
                };
                for d in &body["docs"].as_array().cloned().unwrap_or_default() {
                    report.failures.push(failure(d, error, &reason));
                }
                report.doc_write_failures += sent;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut failed = 0;
        for r in answer.as_array().into_iter().flatten() {
            if let Some(error) = r.get("error").and_then(Value::as_str) {
                failed += 1;
                report.failures.push(failure(r, error, r["reason"].as_str().unwrap_or_default()));
            }
        }
        report.doc_write_failures += failed;
        report.docs_written += sent - failed.min(sent);
        Ok(())
    }
}

fn failure(doc: &Value, error: &str, reason: &str) -> ReplicationFailure {
    let id = doc.get("id").or_else(|| doc.get("_id")).and_then(Value::as_str).unwrap_or_default();
    let rev = doc.get("rev").or_else(|| doc.get("_rev")).and_then(Value::as_str);
    ReplicationFailure {
        id: id.to_string(),
        rev: rev.map(str::to_owned),
        error: error.to_string(),
        reason: reason.to_string(),
    }
}

/// The documents of a `_bulk_get` answer (a revision the source no longer has is
/// left out: it was superseded or compacted away, and its successor is in the feed).
fn bulk_get_docs(answer: &Value) -> Vec<Value> {
    answer["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["docs"].as_array().into_iter().flatten())
        .filter_map(|d| d.get("ok").cloned())
        .collect()
}
