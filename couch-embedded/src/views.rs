//! Views without JavaScript: json indexes (`language: "query"`), and the
//! aggregate views couch-sql generates, which carry a declarative description
//! (`"couchsql"` in the design document) beside their JavaScript map.
//! Reduced with CouchDB's built-ins `_count`, `_sum` and `_stats`.

use crate::collate::compare;
use crate::store::{ApiError, Db};
use couch_semantics::view::ViewSpec;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

/// Refuses a design document with a JavaScript view the engine cannot run.
pub fn check_design(doc: &Map<String, Value>) -> Result<(), ApiError> {
    if doc.get("language").and_then(Value::as_str) == Some("query") {
        return Ok(());
    }
    if doc.get("validate_doc_update").is_some() {
        return Err(ApiError::new(
            400,
            "unsupported",
            "the embedded engine runs no JavaScript: validate_doc_update functions are not supported",
        ));
    }
    let described = doc.get("couchsql").and_then(Value::as_object);
    for (name, spec) in described.into_iter().flatten() {
        if let Err(e) = ViewSpec::deserialize(spec) {
            return Err(ApiError::new(
                400,
                "invalid_design_doc",
                format!("`couchsql.{name}` is not a couch-sql view description: {e}"),
            ));
        }
    }
    for (name, view) in doc.get("views").and_then(Value::as_object).into_iter().flatten() {
        if view.get("map").is_some_and(Value::is_string) && described.is_none_or(|d| !d.contains_key(name)) {
            return Err(ApiError::new(
                400,
                "unsupported",
                format!("the embedded engine runs no JavaScript: view `{name}` has a JavaScript map function; use Mango (_find, _index) or couch-sql's aggregates"),
            ));
        }
    }
    Ok(())
}

/// The rows `(key, id, value)` a described view emits, sorted by key then id.
fn emit(db: &Db, spec: &ViewSpec) -> Vec<(Value, String, Value)> {
    let mut rows: Vec<(Value, String, Value)> = db
        .docs
        .iter()
        .filter(|(id, d)| !d.deleted && !id.starts_with("_design/"))
        // Read in place: no copy of the document per row.
        .filter_map(|(id, d)| spec.emit(id, &d.body).map(|(k, v)| (k, id.clone(), v)))
        .collect();
    rows.sort_by(|a, b| compare(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
    rows
}

/// Adds two numbers, exactly while both are integers.
fn add(a: &Value, b: &Value) -> Value {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) if x.checked_add(y).is_some() => json!(x + y),
        _ => json!(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
    }
}

fn reduce(kind: &str, values: &[&Value]) -> Value {
    match kind {
        "_count" => json!(values.len()),
        "_sum" => {
            let mut acc: Option<Value> = None;
            for v in values {
                acc = Some(match (acc, v) {
                    (None, v) => (*v).clone(),
                    (Some(Value::Array(a)), Value::Array(b)) => {
                        let n = a.len().max(b.len());
                        Value::Array(
                            (0..n).map(|i| add(a.get(i).unwrap_or(&json!(0)), b.get(i).unwrap_or(&json!(0)))).collect(),
                        )
                    }
                    (Some(a), b) => add(&a, b),
                });
            }
            acc.unwrap_or(json!(0))
        }
        _ => {
            // `_stats`
            let nums: Vec<&Value> = values.iter().copied().filter(|v| v.is_number()).collect();
            let sum = nums.iter().fold(json!(0), |a, b| add(&a, b));
            let sumsqr: f64 = nums.iter().map(|v| v.as_f64().unwrap_or(0.0).powi(2)).sum();
            let min = nums.iter().copied().min_by(|a, b| compare(a, b)).cloned().unwrap_or(Value::Null);
            let max = nums.iter().copied().max_by(|a, b| compare(a, b)).cloned().unwrap_or(Value::Null);
            json!({"sum": sum, "count": nums.len(), "min": min, "max": max, "sumsqr": sumsqr})
        }
    }
}

/// A json index read as a view: its cached, sorted entries within the key range;
/// reduced, the `_count` of that range.
fn index_view(
    db: &Db,
    ddoc: &str,
    view: &str,
    params: &HashMap<String, String>,
    partition: Option<&str>,
) -> Result<Value, ApiError> {
    let mut entries =
        crate::find::index_entries(db, ddoc, view).ok_or_else(|| ApiError::not_found("missing_named_view"))?;
    if let Some(p) = partition {
        let prefix = format!("{p}:");
        entries = entries.iter().filter(|(_, id)| id.starts_with(&prefix)).cloned().collect::<Vec<_>>().into();
    }
    let json_param = |k: &str| -> Result<Option<Value>, ApiError> {
        params
            .get(k)
            .map(|v| serde_json::from_str(v).map_err(|_| ApiError::bad_request(format!("Invalid value for {k}"))))
            .transpose()
    };
    let start = json_param("startkey")?.or(json_param("start_key")?);
    let end = json_param("endkey")?.or(json_param("end_key")?);
    let inclusive_end = params.get("inclusive_end").is_none_or(|v| v != "false");
    let key_cmp = |k: &[Value], with: &Value| match with {
        Value::Array(w) => {
            k.iter().zip(w).map(|(a, b)| compare(a, b)).find(|o| o.is_ne()).unwrap_or_else(|| k.len().cmp(&w.len()))
        }
        other => compare(&Value::Array(k.to_vec()), other),
    };
    let lo = start.as_ref().map_or(0, |s| entries.partition_point(|(k, _)| key_cmp(k, s) == Ordering::Less));
    let hi = end.as_ref().map_or(entries.len(), |e| {
        entries.partition_point(|(k, _)| match key_cmp(k, e) {
            Ordering::Less => true,
            Ordering::Equal => inclusive_end,
            Ordering::Greater => false,
        })
    });
    let slice = &entries[lo..hi.max(lo)];
    if params.get("reduce").is_none_or(|r| r != "false") {
        let rows = if slice.is_empty() { vec![] } else { vec![json!({"key": null, "value": slice.len()})] };
        return Ok(json!({ "rows": rows }));
    }
    let limit = params.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
    let rows: Vec<Value> = slice.iter().take(limit).map(|(k, id)| json!({"id": id, "key": k, "value": null})).collect();
    Ok(json!({ "total_rows": entries.len(), "offset": lo, "rows": rows }))
}

/// `GET /db/_design/{ddoc}/_view/{view}`, or of one partition
/// (`/db/_partition/{p}/_design/…`): in a partitioned database a design document
/// is partitioned unless its `options.partitioned` is false, and a partitioned view
/// answers only per partition, a global one only globally (CouchDB's rule and words).
pub fn query(
    db: &Db,
    ddoc: &str,
    view: &str,
    params: &HashMap<String, String>,
    partition: Option<&str>,
) -> Result<Value, ApiError> {
    let doc = db.get(ddoc).map_err(|_| ApiError::not_found("missing"))?.body.clone();
    let partitioned =
        db.is_partitioned() && doc.get("options").and_then(|o| o.get("partitioned")) != Some(&Value::Bool(false));
    match (partitioned, partition) {
        (true, None) => {
            return Err(ApiError::new(
                400,
                "query_parse_error",
                "`partition` parameter is mandatory for queries to this view.",
            ))
        }
        (false, Some(_)) => {
            return Err(ApiError::new(
                400,
                "query_parse_error",
                "`partition` parameter is not supported in this design doc",
            ))
        }
        _ => {}
    }
    let prefix = partition.map(|p| format!("{p}:"));
    let json_param = |k: &str| -> Result<Option<Value>, ApiError> {
        params
            .get(k)
            .map(|v| serde_json::from_str(v).map_err(|_| ApiError::bad_request(format!("Invalid value for {k}"))))
            .transpose()
    };
    let (rows, reduce_kind): (Vec<(Value, String, Value)>, String) =
        if doc.get("language").and_then(Value::as_str) == Some("query") {
            return index_view(db, ddoc, view, params, partition);
        } else {
            let spec = doc.get("couchsql").and_then(|c| c.get(view)).ok_or_else(|| {
                if doc.get("views").and_then(|v| v.get(view)).is_some() {
                    ApiError::new(400, "unsupported", "the embedded engine runs no JavaScript views")
                } else {
                    ApiError::not_found("missing_named_view")
                }
            })?;
            let spec: ViewSpec = serde_json::from_value(spec.clone()).map_err(|e| {
                ApiError::new(400, "invalid_design_doc", format!("`couchsql.{view}` is not a couch-sql view: {e}"))
            })?;
            let reduce = doc["views"][view]["reduce"].as_str().unwrap_or("_sum").to_string();
            (emit(db, &spec), reduce)
        };
    let start = json_param("startkey")?.or(json_param("start_key")?);
    let end = json_param("endkey")?.or(json_param("end_key")?);
    let inclusive_end = params.get("inclusive_end").is_none_or(|v| v != "false");
    let in_range = |k: &Value| {
        start.as_ref().is_none_or(|s| compare(k, s) != Ordering::Less)
            && end.as_ref().is_none_or(|e| match compare(k, e) {
                Ordering::Less => true,
                Ordering::Equal => inclusive_end,
                Ordering::Greater => false,
            })
    };
    let total = rows.len();
    let in_partition = |id: &str| prefix.as_ref().is_none_or(|p| id.starts_with(p.as_str()));
    let rows: Vec<&(Value, String, Value)> = rows.iter().filter(|r| in_range(&r.0) && in_partition(&r.1)).collect();
    let limit = params.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
    if params.get("reduce").is_some_and(|r| r == "false") {
        let out: Vec<Value> =
            rows.iter().take(limit).map(|(k, id, v)| json!({"id": id, "key": k, "value": v})).collect();
        return Ok(json!({"total_rows": total, "offset": 0, "rows": out}));
    }
    let level = if params.get("group").is_some_and(|g| g == "true") {
        Some(usize::MAX)
    } else {
        params.get("group_level").and_then(|l| l.parse::<usize>().ok())
    };
    let mut out: Vec<Value> = Vec::new();
    match level {
        None | Some(0) => {
            if !rows.is_empty() {
                let values: Vec<&Value> = rows.iter().map(|r| &r.2).collect();
                out.push(json!({"key": null, "value": reduce(&reduce_kind, &values)}));
            }
        }
        Some(n) => {
            let mut groups: Vec<(Value, Vec<&Value>)> = Vec::new();
            for (k, _, v) in &rows {
                let key = match k {
                    Value::Array(a) if n < a.len() => Value::Array(a[..n].to_vec()),
                    other => other.clone(),
                };
                match groups.last_mut() {
                    Some((g, vs)) if compare(g, &key) == Ordering::Equal => vs.push(v),
                    _ => groups.push((key, vec![v])),
                }
            }
            out = groups
                .into_iter()
                .take(limit)
                .map(|(k, vs)| json!({"key": k, "value": reduce(&reduce_kind, &vs)}))
                .collect();
        }
    }
    Ok(json!({"rows": out}))
}
