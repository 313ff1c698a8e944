//! Reading and writing a document's field by its Mango path (`address.city`, `lines.0.qty`).

use couch_translate::path::segments;
use serde_json::{Map, Value};

/// The value at `path`, if every step of it exists.
pub(crate) fn get<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if !path.contains('.') {
        return doc.get(path);
    }
    let segs = segments(path);
    walk(doc.get(&segs[0]), segs[1..].iter().map(String::as_str))
}

/// The value `segs` lead to from `from`: a name steps into an object, a
/// position into an array; any other step leads nowhere.
pub(crate) fn walk<'a, 's>(from: Option<&'a Value>, segs: impl IntoIterator<Item = &'s str>) -> Option<&'a Value> {
    let mut cur = from?;
    for s in segs {
        cur = match cur {
            Value::Object(m) => m.get(s)?,
            Value::Array(a) => a.get(s.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Sets the value at `path`. Missing or null objects on the way are created, so
/// the other fields of an existing object are kept; a step through a value that
/// is not an object (or an array position that does not exist) is an error.
pub(crate) fn set(doc: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), String> {
    if !path.contains('.') {
        doc.insert(path.to_string(), value);
        return Ok(());
    }
    let segs = segments(path);
    let (last, parents) = segs.split_last().expect("a path has a segment");
    let mut cur = doc;
    let mut walked = String::new();
    for s in parents {
        walked = if walked.is_empty() { s.clone() } else { format!("{walked}.{s}") };
        let slot = cur.entry(s.clone()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        cur = match slot {
            Value::Object(m) => m,
            other => return Err(format!("cannot set `{path}`: `{walked}` is {}, not an object", kind(other))),
        };
    }
    cur.insert(last.clone(), value);
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gets_and_sets_nested_fields() {
        let mut doc =
            json!({"a": {"b": 1, "keep": true}, "l": [{"q": 2}], "s": "x", "d.e": 3}).as_object().cloned().unwrap();
        assert_eq!(get(&doc, "a.b"), Some(&json!(1)));
        assert_eq!(get(&doc, "l.0.q"), Some(&json!(2)));
        assert_eq!(get(&doc, "l.1.q"), None);
        assert_eq!(get(&doc, "d\\.e"), Some(&json!(3)), "an escaped dot is one field name");
        assert_eq!(get(&doc, "d.e"), None);
        assert_eq!(get(&doc, "s.x"), None);
        set(&mut doc, "a.b", json!(5)).unwrap();
        set(&mut doc, "n.m", json!("new")).unwrap();
        assert_eq!(doc["a"], json!({"b": 5, "keep": true}));
        assert_eq!(doc["n"], json!({"m": "new"}));
        assert!(set(&mut doc, "s.x", json!(1)).unwrap_err().contains("`s` is a string"));
    }
}
