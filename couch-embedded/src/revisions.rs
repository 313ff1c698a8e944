//! Reading a document's revisions, as replicators do: `?rev=`, `revs`, `revs_info`,
//! `conflicts`, `deleted_conflicts`, `open_revs` with `latest`, `_revs_diff` and
//! `_bulk_get` (CouchDB's `chttpd_db` and `couch_db`).

use crate::store::{render, ApiError, Db, Doc};
use couch_semantics::revs::Rev;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// What a read adds to each revision it answers.
#[derive(Debug, Default, Clone)]
pub struct Extras {
    /// `attachments=true`: the attachments' bytes inline (`data`), not stubs...
    pub attachments: bool,
    /// ... except those the reader has already: written at or before the newest of
    /// these revisions that is an ancestor (`atts_since`).
    pub atts_since: Vec<Rev>,
    /// `_revisions`: the revision's history.
    pub revs: bool,
    /// `_revs_info`: the history, each with whether its body is here.
    pub revs_info: bool,
    /// `_conflicts`: the live leaves that lost.
    pub conflicts: bool,
    /// `_deleted_conflicts`: the deleted leaves that lost.
    pub deleted_conflicts: bool,
}

impl Extras {
    /// The options of a document read (`meta=true` is all but `revs`).
    pub fn from_query(q: &HashMap<String, String>) -> Extras {
        let on = |k: &str| q.get(k).is_some_and(|v| v == "true");
        let atts_since = q
            .get("atts_since")
            .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
            .map(|revs| revs.iter().filter_map(|r| Rev::parse(r)).collect())
            .unwrap_or_default();
        Extras {
            attachments: on("attachments"),
            atts_since,
            revs: on("revs"),
            revs_info: on("revs_info") || on("meta"),
            conflicts: on("conflicts") || on("meta"),
            deleted_conflicts: on("deleted_conflicts") || on("meta"),
        }
    }
}

/// Revision `rev` of `doc` as JSON, with the members `extras` asks for.
pub fn revision(id: &str, doc: &Doc, rev: &Rev, extras: &Extras) -> Option<Value> {
    let (body, deleted) = doc.leaf(rev)?;
    let mut out = render(id, rev, body, deleted);
    let m = out.as_object_mut().expect("a document is an object");
    annotate(m, doc, rev, extras);
    if extras.attachments {
        let path = doc.tree.path(rev).unwrap_or_default();
        let since = extras
            .atts_since
            .iter()
            .filter(|a| a.pos <= rev.pos && path.get((rev.pos - a.pos) as usize) == Some(&a.id))
            .map(|a| a.pos)
            .max();
        crate::attachments::inline(m, &doc.blobs, since);
    }
    Some(out)
}

/// Adds `_revisions`, `_revs_info`, `_conflicts` and `_deleted_conflicts` (those
/// asked for, and not empty) to revision `rev` of `doc`.
pub fn annotate(m: &mut Map<String, Value>, doc: &Doc, rev: &Rev, extras: &Extras) {
    let path = || doc.tree.path(rev).unwrap_or_else(|| vec![rev.id.clone()]);
    if extras.revs {
        m.insert("_revisions".into(), json!({"start": rev.pos, "ids": path()}));
    }
    if extras.revs_info {
        let info: Vec<Value> = path()
            .into_iter()
            .enumerate()
            .map(|(i, id)| {
                let r = Rev { pos: rev.pos - i as u64, id };
                let status = match doc.leaf(&r) {
                    Some((_, true)) => "deleted",
                    Some(_) => "available",
                    None => "missing", // only leaves keep their bodies
                };
                json!({"rev": r.to_string(), "status": status})
            })
            .collect();
        m.insert("_revs_info".into(), Value::Array(info));
    }
    for (asked, deleted, member) in
        [(extras.conflicts, false, "_conflicts"), (extras.deleted_conflicts, true, "_deleted_conflicts")]
    {
        let revs = if asked { doc.losing_revs(deleted) } else { Vec::new() };
        if !revs.is_empty() {
            m.insert(member.into(), Value::Array(revs));
        }
    }
}

fn parse_rev(s: &str) -> Result<Rev, ApiError> {
    Rev::parse(s).ok_or_else(|| ApiError::bad_request("Invalid rev format"))
}

/// `GET /db/id` with `rev`, `revs`, `revs_info`, `conflicts`, `deleted_conflicts`,
/// `meta`, `open_revs` and `latest`.
pub fn get(db: &Db, id: &str, q: &HashMap<String, String>) -> Result<Value, ApiError> {
    let extras = Extras::from_query(q);
    if id.starts_with("_local/") {
        return Ok(db.get(id)?.to_json(id));
    }
    if let Some(open) = q.get("open_revs") {
        let latest = q.get("latest").is_some_and(|v| v == "true");
        return open_revs(db, id, open, latest, &extras)
            .map(|docs| Value::Array(docs.into_iter().map(|d| d.into_json()).collect()));
    }
    let doc = db.docs.get(id).ok_or_else(|| ApiError::not_found("missing"))?;
    let rev = match q.get("rev") {
        Some(r) => parse_rev(r)?,
        None if doc.deleted => return Err(ApiError::not_found("deleted")),
        None => doc.winner.clone(),
    };
    revision(id, doc, &rev, &extras).ok_or_else(|| ApiError::not_found("missing"))
}

/// One answer of `open_revs`: a revision, or one the document does not have.
pub enum Opened {
    Ok(Value),
    Missing(String),
}

impl Opened {
    /// `{"ok": doc}` or `{"missing": rev}`.
    pub fn into_json(self) -> Value {
        match self {
            Opened::Ok(d) => json!({ "ok": d }),
            Opened::Missing(r) => json!({ "missing": r }),
        }
    }
}

/// `open_revs=all` (every leaf) or `open_revs=["1-a", …]`. With `latest`, a
/// revision that is no longer a leaf answers the leaves that follow it.
pub fn open_revs(db: &Db, id: &str, open: &str, latest: bool, extras: &Extras) -> Result<Vec<Opened>, ApiError> {
    let doc = db.docs.get(id);
    if open == "all" {
        let doc = doc.ok_or_else(|| ApiError::not_found("missing"))?;
        let mut leaves: Vec<&Rev> = doc.leaves().map(|(r, _, _)| r).collect();
        leaves.sort();
        return Ok(leaves.into_iter().filter_map(|r| revision(id, doc, r, extras)).map(Opened::Ok).collect());
    }
    let wanted: Vec<String> = serde_json::from_str(open)
        .map_err(|_| ApiError::bad_request("`open_revs` must be `all` or a JSON array of revisions"))?;
    let mut out = Vec::new();
    for w in &wanted {
        let rev = parse_rev(w)?;
        let found: Vec<Value> = match doc {
            None => Vec::new(),
            Some(d) if latest => {
                d.tree.leaves_from(&rev).iter().filter_map(|l| revision(id, d, &l.rev, extras)).collect()
            }
            Some(d) => revision(id, d, &rev, extras).into_iter().collect(),
        };
        if found.is_empty() {
            out.push(Opened::Missing(w.clone()));
        }
        out.extend(found.into_iter().map(Opened::Ok));
    }
    Ok(out)
}

/// `open_revs` as CouchDB sends it to a client that accepts `multipart/mixed` (its
/// replicator): one `application/json` part per answer, attachments inline.
pub fn multipart_mixed(opened: Vec<Opened>) -> (String, Vec<u8>) {
    let boundary = couch_semantics::ids::new_id();
    let mut body = Vec::new();
    for o in opened {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let (head, json) = match o {
            Opened::Ok(d) => ("Content-Type: application/json", d),
            Opened::Missing(r) => ("Content-Type: application/json; error=\"true\"", json!({ "missing": r })),
        };
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(&crate::json::to_vec(&json));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--").as_bytes());
    (format!("multipart/mixed; boundary=\"{boundary}\""), body)
}

/// `POST /db/_revs_diff`: `{id: [rev, …]}` → for each id with revisions this
/// database lacks, `{"missing": […], "possible_ancestors": […]}`.
pub fn revs_diff(db: &Db, body: &Value) -> Result<Value, ApiError> {
    let asked = body.as_object().ok_or_else(|| ApiError::bad_request("Request body must be a JSON object"))?;
    let mut out = Map::new();
    for (id, revs) in asked {
        let revs: Vec<Rev> = revs
            .as_array()
            .ok_or_else(|| ApiError::bad_request("Revisions must be a JSON array"))?
            .iter()
            .map(|r| r.as_str().map_or_else(|| Err(ApiError::bad_request("Invalid rev format")), parse_rev))
            .collect::<Result<_, _>>()?;
        let (missing, ancestors) = match db.docs.get(id) {
            Some(d) => d.tree.diff(&revs),
            None => (revs, Vec::new()),
        };
        if missing.is_empty() {
            continue;
        }
        let mut entry = json!({"missing": missing.iter().map(Rev::to_string).collect::<Vec<_>>()});
        if !ancestors.is_empty() {
            entry["possible_ancestors"] = json!(ancestors.iter().map(Rev::to_string).collect::<Vec<_>>());
        }
        out.insert(id.clone(), entry);
    }
    Ok(Value::Object(out))
}

/// `POST /db/_bulk_get`: `{"docs": [{"id", "rev"?}, …]}` → `{"results": [{"id", "docs":
/// [{"ok": doc} | {"error": {…}}]}]}`; without `rev`, every leaf.
pub fn bulk_get(db: &Db, q: &HashMap<String, String>, body: &Value) -> Result<Value, ApiError> {
    let mut extras = Extras::from_query(q);
    // CouchDB's replicator sends its options in the body too.
    if body.get("attachments") == Some(&Value::Bool(true)) {
        extras.attachments = true;
    }
    let latest = q.get("latest").is_some_and(|v| v == "true") || body.get("latest") == Some(&Value::Bool(true));
    let asked = body
        .get("docs")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("Missing JSON list of 'docs'."))?;
    let mut results = Vec::with_capacity(asked.len());
    for a in asked {
        let id = a.get("id").and_then(Value::as_str).unwrap_or_default();
        let rev = a.get("rev").and_then(Value::as_str);
        let mut extras = extras.clone();
        if let Some(since) = a.get("atts_since").and_then(Value::as_array) {
            extras.atts_since = since.iter().filter_map(|r| r.as_str().and_then(Rev::parse)).collect();
        }
        let error =
            |rev: &str, reason: &str| json!({"error": {"id": id, "rev": rev, "error": "not_found", "reason": reason}});
        let docs = match (db.docs.get(id), rev) {
            (None, r) => vec![error(r.unwrap_or("undefined"), "missing")],
            (Some(d), None) => {
                let mut leaves: Vec<&Rev> = d.leaves().map(|(r, _, _)| r).collect();
                leaves.sort();
                leaves.into_iter().filter_map(|r| revision(id, d, r, &extras)).map(|doc| json!({"ok": doc})).collect()
            }
            (Some(d), Some(r)) => {
                let found: Vec<Value> = match Rev::parse(r) {
                    None => Vec::new(),
                    Some(rev) if latest => {
                        d.tree.leaves_from(&rev).iter().filter_map(|l| revision(id, d, &l.rev, &extras)).collect()
                    }
                    Some(rev) => revision(id, d, &rev, &extras).into_iter().collect(),
                };
                match found.is_empty() {
                    true => vec![error(r, "missing")],
                    false => found.into_iter().map(|doc| json!({"ok": doc})).collect(),
                }
            }
        };
        results.push(json!({"id": id, "docs": docs}));
    }
    Ok(json!({"results": results}))
}
