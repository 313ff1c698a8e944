//! Documents in conflict, typed: the revision every peer shows (the winner) and
//! the branches that lost, each decoded as a row; and their resolution, written
//! in one `_bulk_docs`.

use crate::client::{encode_segment, Database};
use crate::error::{Error, Result};
use crate::table::{CouchRow, TableKind};
use serde_json::{json, Map, Value};

/// Ids read per `_all_docs` page while looking for conflicts.
const PAGE: usize = 1000;

/// One revision of a document, decoded as a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision<T> {
    /// The revision (`3-…`).
    pub rev: String,
    /// Its fields.
    pub row: T,
}

/// A document with more than one live branch (see [`Database::conflicts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict<T> {
    /// The document.
    pub id: String,
    /// The winning revision: the one every peer shows.
    pub rev: String,
    /// The winning revision's row.
    pub winner: T,
    /// The live revisions that lost, with their rows.
    pub losers: Vec<Revision<T>>,
    /// The winner's whole document (fields outside the model are kept on resolve).
    doc: Map<String, Value>,
}

impl Database {
    /// The documents of `T`'s table that are in conflict: two or more live
    /// branches, made by edits on two peers of the same revision and brought
    /// together by replication. Each comes with its winner and its losers;
    /// [`Conflict::resolve`] ends it.
    ///
    /// ```no_run
    /// # use couch_runtime::{CouchRow, Database};
    /// # async fn demo<Order: CouchRow + Clone>(local: Database) -> couch_runtime::Result<()> {
    /// for c in local.conflicts::<Order>().await? {
    ///     let keep = c.winner.clone(); // or merge it with c.losers
    ///     c.resolve(&local, keep).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn conflicts<T: CouchRow>(&self) -> Result<Vec<Conflict<T>>> {
        let mut found = Vec::new();
        // Every document of the table, by id: `_all_docs` with `conflicts` works on
        // every server (CouchDB, pouchdb-server, the engine).
        let (mut start, end) = match T::KIND {
            TableKind::IdPrefix(p) => (Some(p.to_string()), Some(format!("{p}\u{fff0}"))),
            TableKind::Field(_) => (None, None),
        };
        loop {
            let mut path = format!("_all_docs?include_docs=true&conflicts=true&limit={}", PAGE + 1);
            if let Some(s) = &start {
                path.push_str(&format!("&startkey={}", encode_segment(&json!(s).to_string())));
            }
            if let Some(e) = &end {
                path.push_str(&format!("&endkey={}", encode_segment(&json!(e).to_string())));
            }
            let page = self.request("GET", &path, None).await?;
            let rows = page["rows"].as_array().cloned().unwrap_or_default();
            let full = rows.len() > PAGE;
            for row in rows.iter().take(PAGE) {
                let (Some(id), Some(doc)) = (row["id"].as_str(), row["doc"].as_object()) else { continue };
                if doc.contains_key("_conflicts") && T::holds(id, doc) {
                    found.push((id.to_string(), doc.clone()));
                }
            }
            if !full {
                break;
            }
            start = rows.get(PAGE).and_then(|r| r["id"].as_str()).map(str::to_owned);
            if start.is_none() {
                break;
            }
        }
        let mut out = Vec::with_capacity(found.len());
        for (id, mut doc) in found {
            let losers: Vec<Value> = match doc.remove("_conflicts") {
                Some(Value::Array(l)) => l,
                _ => Vec::new(),
            };
            let path =
                format!("{}?open_revs={}", encode_segment(&id), encode_segment(&Value::Array(losers).to_string()));
            let revs = self.request("GET", &path, None).await?;
            let mut lost = Vec::new();
            for r in revs.as_array().into_iter().flatten() {
                let Some(d) = r.get("ok") else { continue };
                if d.get("_deleted") == Some(&Value::Bool(true)) {
                    continue; // deleted since it was listed
                }
                let rev = d["_rev"].as_str().unwrap_or_default().to_string();
                lost.push(Revision { rev, row: decode::<T>(&id, d.clone())? });
            }
            let rev = doc.get("_rev").and_then(Value::as_str).unwrap_or_default().to_string();
            let winner = decode::<T>(&id, Value::Object(doc.clone()))?;
            out.push(Conflict { id, rev, winner, losers: lost, doc });
        }
        Ok(out)
    }
}

fn decode<T: CouchRow>(id: &str, doc: Value) -> Result<T> {
    serde_json::from_value(doc).map_err(|e| Error::decode(Some(id.to_string()), None, e))
}

impl<T: CouchRow> Conflict<T> {
    /// Ends the conflict: `keep` becomes the document's next revision (on the
    /// winner's branch, keeping the winner's fields outside the model), and every
    /// losing branch is deleted — in one `_bulk_docs`. Another sync then carries
    /// the resolution to the other peers. Answers the new revision.
    ///
    /// A [`Error::Conflict`] means the document changed since it was read: read
    /// the conflicts again.
    pub async fn resolve(&self, db: &Database, keep: T) -> Result<String> {
        let mut doc = self.doc.clone();
        for (k, v) in keep.to_fields().map_err(|e| Error::decode(Some(self.id.clone()), None, e))? {
            doc.insert(k, v);
        }
        doc.insert("_id".into(), json!(self.id));
        doc.insert("_rev".into(), json!(self.rev));
        let mut docs = vec![Value::Object(doc)];
        docs.extend(self.losers.iter().map(|l| json!({"_id": self.id, "_rev": l.rev, "_deleted": true})));
        let answer = db.request("POST", "_bulk_docs", Some(&db.write_body(json!({ "docs": docs })))).await?;
        let results = answer.as_array().cloned().unwrap_or_default();
        if let Some(failed) = results.iter().find(|r| r.get("error").is_some()) {
            let reason = failed["reason"].as_str().unwrap_or_default().to_string();
            return Err(match failed["error"].as_str() {
                Some("conflict") => Error::Conflict { id: Some(self.id.clone()), reason },
                Some(e) => Error::from_status(400, e.to_string(), reason),
                None => unreachable!("found by its error"),
            });
        }
        Ok(results.first().and_then(|r| r["rev"].as_str()).unwrap_or_default().to_string())
    }
}
