//! Sorting rows in the client, for ORDER BY, MIN/MAX and GROUP BY the server
//! cannot do alone: SQL's NULL placement over the server's own collation (its
//! [`Collation`], from the profile), so a client-side order is the server's.

use couch_semantics::collate::Collation;
use couch_translate::SortKey;
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Orders two values (NULL: `None`) by one sort key, SQL-style: NULLs go first
/// or last as the key says, and the others by the collation.
pub(crate) fn compare_nullable(
    collation: Collation,
    x: Option<&Value>,
    y: Option<&Value>,
    desc: bool,
    nulls_first: bool,
) -> Ordering {
    let null_order = if nulls_first { Ordering::Less } else { Ordering::Greater };
    match (x, y) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => null_order,
        (Some(_), None) => null_order.reverse(),
        (Some(x), Some(y)) => {
            let o = collation.compare(x, y);
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
pub(crate) fn compare_docs(
    collation: Collation,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    keys: &[SortKey],
) -> Ordering {
    let value = |d, f| couch_semantics::path::field_value(d, f).filter(|v| !v.is_null());
    keys.iter()
        .map(|k| compare_nullable(collation, value(a, &k.field), value(b, &k.field), k.desc, k.nulls_first))
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
        docs.sort_by(|a, b| compare_docs(Collation::Icu, a, b, &asc));
        assert_eq!(docs[2]["c"], "a");
        assert!(docs[0].get("c").is_none_or(Value::is_null));
        let desc = [SortKey { field: "c".into(), desc: true, nulls_first: false }];
        docs.sort_by(|a, b| compare_docs(Collation::Icu, a, b, &desc));
        assert_eq!(docs[0]["c"], "b");
        assert!(docs[3].get("c").is_none_or(Value::is_null));
    }

    #[test]
    fn strings_in_the_servers_order() {
        let mut docs = [doc(json!({"c": "banana"})), doc(json!({"c": "Äpfel"})), doc(json!({"c": "Banana"}))];
        let asc = [SortKey { field: "c".into(), desc: false, nulls_first: true }];
        docs.sort_by(|a, b| compare_docs(Collation::Icu, a, b, &asc));
        assert_eq!(
            docs.iter().map(|d| d["c"].clone()).collect::<Vec<_>>(),
            [json!("Äpfel"), json!("banana"), json!("Banana")]
        );
        docs.sort_by(|a, b| compare_docs(Collation::CodePoint, a, b, &asc));
        assert_eq!(
            docs.iter().map(|d| d["c"].clone()).collect::<Vec<_>>(),
            [json!("Banana"), json!("banana"), json!("Äpfel")]
        );
    }
}
