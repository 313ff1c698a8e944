//! CREATE INDEX, DROP INDEX and EXPLAIN.

use super::find::FindTemplate;
use crate::client::{encode_segment, Database};
use crate::error::{Error, Result};
use crate::outcome::{DocOutcome, ExecuteResult};
use couch_translate::{IndexDef, Select};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct IndexCreated {
    #[serde(default)]
    id: String,
    #[serde(default)]
    result: String,
}

/// Creates the json index (idempotent). The outcome's `rev` is `"created"` or `"exists"`.
pub(crate) async fn create_index(db: &Database, def: &IndexDef) -> Result<ExecuteResult> {
    let body = serde_json::json!({
        "index": { "fields": def.fields },
        "name": def.name,
        "ddoc": def.name,
        "type": "json",
    });
    let bytes = db.post_index(body).await?;
    let r: IndexCreated = serde_json::from_slice(&bytes).map_err(|e| Error::decode(None, None, e))?;
    Ok(ExecuteResult::new(vec![DocOutcome { id: r.id, rev: Some(r.result), error: None, accepted: false }]))
}

#[derive(Deserialize)]
struct IndexList {
    indexes: Vec<IndexInfo>,
}

#[derive(Deserialize)]
struct IndexInfo {
    ddoc: Option<String>,
    name: String,
}

/// Drops the index named `def.name`. `DELETE /db/_index/…` is CouchDB's way;
/// pouchdb-server 4.2.0 fails it, so then the index's design document is deleted.
pub(crate) async fn drop_index(db: &Database, def: &IndexDef) -> Result<ExecuteResult> {
    let bytes = db.send(Method::GET, "_index", None).await?;
    let list: IndexList = serde_json::from_slice(&bytes).map_err(|e| Error::decode(None, None, e))?;
    let Some(ddoc) = list.indexes.into_iter().find(|i| i.name == def.name).and_then(|i| i.ddoc) else {
        return Err(Error::NotFound { reason: format!("no index named {:?} in database {:?}", def.name, db.name()) });
    };
    let short = ddoc.trim_start_matches("_design/");
    let path = format!("_index/{}/json/{}", encode_segment(short), encode_segment(&def.name));
    if db.send(Method::DELETE, &path, None).await.is_err() {
        let doc_path = format!("_design/{}", encode_segment(short));
        let doc: Value = serde_json::from_slice(&db.send(Method::GET, &doc_path, None).await?)
            .map_err(|e| Error::decode(Some(ddoc.clone()), None, e))?;
        let rev = doc.get("_rev").and_then(Value::as_str).unwrap_or_default();
        db.send(Method::DELETE, &format!("{doc_path}?rev={}", encode_segment(rev)), None).await?;
    }
    db.forget_indexes();
    Ok(ExecuteResult::new(vec![DocOutcome { id: ddoc, rev: None, error: None, accepted: false }]))
}

/// The index a query would use, as `_explain` reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct ExplainIndex {
    /// The design document (`None` for the built-in `_all_docs` index).
    pub ddoc: Option<String>,
    /// The index name (`_all_docs` when no index serves the query).
    pub name: String,
    /// `json`, `text` or `special`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The index definition (`{"fields": [...]}`).
    #[serde(default)]
    pub def: Value,
}

/// The server's `_explain` answer for a SELECT.
#[derive(Debug, Clone, Deserialize)]
pub struct Explanation {
    /// The index the server would use.
    pub index: ExplainIndex,
    /// The selector as the server normalised it.
    #[serde(default)]
    pub selector: Value,
    /// Query options (`sort`, `fields`, `limit`, …) as the server sees them.
    #[serde(default)]
    pub opts: Value,
    /// The request's `limit`.
    #[serde(default)]
    pub limit: Option<u64>,
    /// The request's `skip`.
    #[serde(default)]
    pub skip: Option<u64>,
    /// The projected fields (`"all_fields"` or a list).
    #[serde(default)]
    pub fields: Value,
    /// The key range read from the index (CouchDB: `mrargs`; pouchdb-server: `range`).
    #[serde(default, alias = "mrargs")]
    pub range: Option<Value>,
}

impl Explanation {
    /// True when the server would read through an index rather than scan every document.
    pub fn uses_index(&self) -> bool {
        self.index.kind != "special" && self.index.name != "_all_docs"
    }
}

pub(crate) async fn explain(db: &Database, plan: &Select, params: &[Value], page_size: usize) -> Result<Explanation> {
    let mut req = FindTemplate::of(plan).request_for(db, params).await?;
    req.prepare_index(db, false).await?; // EXPLAIN creates nothing
    let body = req.body(page_size as u64, 0, None);
    let bytes = db.send(Method::POST, "_explain", Some(body)).await?;
    serde_json::from_slice(&bytes).map_err(|e| Error::decode(None, None, format!("malformed _explain response: {e}")))
}

/// `_explain` for the read of any statement that reads (SELECT, EXPLAIN, UPDATE, DELETE).
pub(crate) async fn explain_plan(db: &Database, plan: &couch_translate::Plan, params: &[Value]) -> Result<Explanation> {
    use couch_translate::Plan;
    match plan {
        Plan::Select(s) | Plan::Explain(s) => explain(db, s, params, db.stream_page_size()).await,
        Plan::Aggregate(a) => explain(db, &a.read, params, db.stream_page_size()).await,
        Plan::Update(u) => {
            explain(db, &Select::read(&u.table, &u.key, &u.selector, &None, &u.planned), params, db.stream_page_size())
                .await
        }
        Plan::Delete(d) => {
            explain(db, &Select::read(&d.table, &d.key, &d.selector, &None, &d.planned), params, db.stream_page_size())
                .await
        }
        _ => Err(Error::Invalid { what: "statement", message: "only reads are explained".into() }),
    }
}
