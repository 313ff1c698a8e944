//! Sorting rows in the client, for ORDER BY the server cannot do alone.

use couch_translate::SortKey;
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// CouchDB's order of JSON types: null < false < true < numbers < strings < arrays < objects.
fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(false) => 1,
        Value::Bool(true) => 2,
        Value::Number(_) => 3,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    }
}

/// Compares two non-null values. Strings compare by code point (pouchdb-server's
/// order; CouchDB's server-side sorts use ICU collation instead).
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal),
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (i, j) in x.iter().zip(y) {
                let o = rank(i).cmp(&rank(j)).then_with(|| compare_values(i, j));
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Orders two values (NULL: `None`) by one sort key, SQL-style: NULLs go first
/// or last as the key says, and the others by [`compare_values`].
pub(crate) fn compare_nullable(x: Option<&Value>, y: Option<&Value>, desc: bool, nulls_first: bool) -> Ordering {
    let null_order = if nulls_first { Ordering::Less } else { Ordering::Greater };
    match (x, y) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => null_order,
        (Some(_), None) => null_order.reverse(),
        (Some(x), Some(y)) => {
            let o = compare_values(x, y);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

/// Orders two documents by `keys`, SQL-style: a missing field is NULL, and
/// NULLs go first or last as each key says.
pub(crate) fn compare_docs(a: &Map<String, Value>, b: &Map<String, Value>, keys: &[SortKey]) -> Ordering {
    let value = |d, f| crate::doc_path::get(d, f).filter(|v| !v.is_null());
    keys.iter()
        .map(|k| compare_nullable(value(a, &k.field), value(b, &k.field), k.desc, k.nulls_first))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn nulls_first_ascending_last_descending() {
        let mut docs = [doc(json!({"c": "b"})), doc(json!({})), doc(json!({"c": null})), doc(json!({"c": "a"}))];
        let asc = [SortKey { field: "c".into(), desc: false, nulls_first: true }];
        docs.sort_by(|a, b| compare_docs(a, b, &asc));
        assert_eq!(docs[2]["c"], "a");
        assert!(docs[0].get("c").is_none_or(Value::is_null));
        let desc = [SortKey { field: "c".into(), desc: true, nulls_first: false }];
        docs.sort_by(|a, b| compare_docs(a, b, &desc));
        assert_eq!(docs[0]["c"], "b");
        assert!(docs[3].get("c").is_none_or(Value::is_null));
    }
}
