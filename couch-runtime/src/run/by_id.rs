//! Reading documents by id: `GET /db/{id}` for one, `_all_docs` for several.
//! Used when a statement's whole condition is `_id = ?` or `_id IN (…)`.

use super::render_error;
use crate::client::{encode_segment, Database};
use crate::error::{Error, Result};
use couch_translate::{TableKey, Tmpl};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The distinct string ids the templates name (NULL and non-strings match nothing).
pub(crate) fn resolve(ids: &[Tmpl], params: &[Value]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for t in ids {
        if let Value::String(s) = t.to_value(params).map_err(render_error)? {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct AllDocs {
    rows: Vec<AllDocsRow>,
}

#[derive(Deserialize)]
struct AllDocsRow {
    #[serde(default)]
    doc: Option<Map<String, Value>>,
}

/// The documents of `table` with these ids, in the order named.
pub(crate) async fn docs(
    db: &Database,
    table: &str,
    key: &TableKey,
    ids: &[Tmpl],
    params: &[Value],
) -> Result<Vec<Map<String, Value>>> {
    let mut ids = resolve(ids, params)?;
    // An id outside an id-prefixed table's range names none of its documents.
    ids.retain(|id| key.holds_id(id));
    let of_table = |d: &Map<String, Value>| key.holds(table, d);
    match ids.as_slice() {
        [] => Ok(vec![]),
        [id] => match db.send(Method::GET, &db.quorum_query(encode_segment(id)), None).await {
            Ok(body) => {
                let doc: Map<String, Value> =
                    serde_json::from_slice(&body).map_err(|e| Error::decode(Some(id.clone()), None, e))?;
                Ok(if of_table(&doc) { vec![doc] } else { vec![] })
            }
            Err(Error::NotFound { .. }) => Ok(vec![]),
            Err(e) => Err(e),
        },
        many => {
            let body = serde_json::to_vec(&serde_json::json!({ "keys": many })).expect("writing JSON to memory");
            let bytes = db.send(Method::POST, "_all_docs?include_docs=true", Some(body)).await?;
            let all: AllDocs = serde_json::from_slice(&bytes)
                .map_err(|e| Error::decode(None, None, format!("malformed _all_docs response: {e}")))?;
            // Missing ids come back as errors and deleted ones with `doc: null`: both are skipped.
            Ok(all.rows.into_iter().filter_map(|r| r.doc).filter(of_table).collect())
        }
    }
}
