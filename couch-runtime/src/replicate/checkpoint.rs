//! Where a replication resumes: the replication id and the checkpoint documents
//! (`_local/<id>`) kept on both sides, compared as CouchDB's replicator compares
//! them (`couch_replicator_scheduler_job:compare_replication_logs`).

use super::scope::Scope;
use crate::client::Database;
use crate::error::{Error, Result};
use serde_json::{json, Value};

/// How many past sessions a checkpoint remembers (CouchDB keeps 50).
const HISTORY: usize = 50;

/// The id of a replication from `source` to `target` (with its scope): the same
/// for every run of it, in any process, so a run resumes where the last one stopped.
pub(crate) fn replication_id(source: &Database, target: &Database, scope: Option<&Scope>) -> String {
    let scope = scope.map(|s| s.filter.to_string()).unwrap_or_default();
    let text = format!("couch-sql replication 1\n{}\n{}\n{scope}", source.location(), target.location());
    couch_semantics::ids::digest(&text)
}

/// One side's checkpoint document.
#[derive(Debug, Default)]
pub(crate) struct Log {
    rev: Option<String>,
    session_id: Option<String>,
    source_last_seq: Option<Value>,
    history: Vec<Value>,
}

impl Log {
    async fn read(db: &Database, id: &str) -> Result<Log> {
        match db.request("GET", &format!("_local/{id}"), None).await {
            Ok(doc) => Ok(Log {
                rev: doc["_rev"].as_str().map(str::to_owned),
                session_id: doc["session_id"].as_str().map(str::to_owned),
                source_last_seq: doc.get("source_last_seq").cloned(),
                history: doc["history"].as_array().cloned().unwrap_or_default(),
            }),
            Err(Error::NotFound { .. }) => Ok(Log::default()),
            Err(e) => Err(e),
        }
    }
}

/// The checkpoints of one replication, on both sides.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    id: String,
    session_id: String,
    source: Log,
    target: Log,
}

impl Checkpoints {
    /// Reads both checkpoints: the sequence to start from (`0` when the two sides do
    /// not share a session: a first run, or a side that lost its checkpoint).
    pub(crate) async fn read(source: &Database, target: &Database, id: String) -> Result<(Checkpoints, Value)> {
        let (s, t) = futures_util::future::try_join(Log::read(source, &id), Log::read(target, &id)).await?;
        let since = common_seq(&s, &t).unwrap_or_else(|| json!(0));
        let session_id = couch_semantics::ids::new_id();
        Ok((Checkpoints { id, session_id, source: s, target: t }, since))
    }

    /// Records on both sides that everything up to `seq` is replicated.
    pub(crate) async fn record(
        &mut self,
        source: &Database,
        target: &Database,
        seq: &Value,
        report: &super::ReplicationReport,
    ) -> Result<()> {
        let entry = json!({
            "session_id": self.session_id,
            "recorded_seq": seq,
            "docs_read": report.docs_read,
            "docs_written": report.docs_written,
            "doc_write_failures": report.doc_write_failures,
            "missing_checked": report.missing_checked,
            "missing_found": report.missing_found,
        });
        for (db, log) in [(source, &mut self.source), (target, &mut self.target)] {
            // This session's entry replaces its previous one; older sessions stay.
            log.history.retain(|h| h["session_id"] != json!(self.session_id));
            log.history.insert(0, entry.clone());
            log.history.truncate(HISTORY);
            let mut doc = json!({
                "session_id": self.session_id,
                "source_last_seq": seq,
                "replication_id_version": 1,
                "history": log.history,
            });
            if let Some(rev) = &log.rev {
                doc["_rev"] = json!(rev);
            }
            let written = db.request("PUT", &format!("_local/{}", self.id), Some(&doc)).await?;
            log.rev = written["rev"].as_str().map(str::to_owned);
            log.session_id = Some(self.session_id.clone());
            log.source_last_seq = Some(seq.clone());
        }
        Ok(())
    }
}

/// The latest sequence both sides recorded in the same session.
fn common_seq(source: &Log, target: &Log) -> Option<Value> {
    if source.session_id.is_some() && source.session_id == target.session_id {
        return source.source_last_seq.clone();
    }
    source.history.iter().find_map(|h| {
        let same = target.history.iter().any(|t| t["session_id"] == h["session_id"]);
        same.then(|| h["recorded_seq"].clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(session: &str, seq: u64, history: &[(&str, u64)]) -> Log {
        Log {
            rev: None,
            session_id: Some(session.into()),
            source_last_seq: Some(json!(seq)),
            history: history.iter().map(|(s, q)| json!({"session_id": s, "recorded_seq": q})).collect(),
        }
    }

    #[test]
    fn a_run_resumes_from_the_last_sequence_both_sides_share() {
        let same = common_seq(&log("b", 9, &[("b", 9), ("a", 4)]), &log("b", 9, &[("b", 9), ("a", 4)]));
        assert_eq!(same, Some(json!(9)));
        // The target lost its last checkpoint (restored from a backup): the session before.
        let older = common_seq(&log("b", 9, &[("b", 9), ("a", 4)]), &log("a", 4, &[("a", 4)]));
        assert_eq!(older, Some(json!(4)));
        assert_eq!(common_seq(&log("b", 9, &[("b", 9)]), &Log::default()), None);
    }
}
