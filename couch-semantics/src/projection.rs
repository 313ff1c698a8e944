//! `_find`'s `fields`: which parts of a document a query returns.

use serde_json::{Map, Value};

/// Keeps only some paths of a document (dotted paths keep nested objects),
/// moving the values rather than copying them. A path through a missing or
/// non-object step keeps nothing.
///
/// ```
/// let p = couch_semantics::Projection::new(&["a.b".to_string(), "x".to_string()]);
/// let doc = serde_json::json!({"_id": "d", "a": {"b": 1, "c": 2}, "x": 3, "y": 4});
/// assert_eq!(p.apply(doc), serde_json::json!({"a": {"b": 1}, "x": 3}));
/// ```
#[derive(Debug, Clone)]
pub struct Projection {
    paths: Vec<Vec<String>>,
}

impl Projection {
    /// The projection of these fields (paths: `a.b`, `a\.b` for a dotted name).
    pub fn new(fields: &[String]) -> Projection {
        Projection { paths: fields.iter().map(|f| crate::path::segments(f)).collect() }
    }

    /// The document with only the projection's fields.
    pub fn apply(&self, mut doc: Value) -> Value {
        if let Value::Object(m) = &mut doc {
            let paths: Vec<&[String]> = self.paths.iter().map(Vec::as_slice).collect();
            keep(m, &paths);
        }
        doc
    }
}

fn keep(doc: &mut Map<String, Value>, paths: &[&[String]]) {
    doc.retain(|key, value| {
        let deeper: Vec<&[String]> = paths.iter().filter(|p| p.first() == Some(key)).map(|p| &p[1..]).collect();
        if deeper.is_empty() {
            return false;
        }
        if deeper.iter().any(|p| p.is_empty()) {
            return true; // the whole value is asked for
        }
        match value {
            Value::Object(inner) => {
                keep(inner, &deeper);
                !inner.is_empty()
            }
            _ => false,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What `_find`'s `fields` keeps, path by path.
    #[test]
    fn projections_keep_what_find_keeps() {
        let doc = json!({"_id": "d", "a": {"b": 1, "c": 2, "e": {}}, "x": 3, "s": "t", "n": null, "o": {"p": 1}});
        let cases: &[(&[&str], Value)] = &[
            (&["a.b"], json!({"a": {"b": 1}})),
            (&["a", "a.b"], json!({"a": {"b": 1, "c": 2, "e": {}}})),
            (&["s.t", "x"], json!({"x": 3})),
            (&["a.e.f", "o.p"], json!({"o": {"p": 1}})),
            (&["n", "a.c", "_id"], json!({"_id": "d", "a": {"c": 2}, "n": null})),
            (&["a.zz"], json!({})),
            (&[], json!({})),
        ];
        for (fields, want) in cases {
            let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            assert_eq!(Projection::new(&fields).apply(doc.clone()), *want, "{fields:?}");
        }
    }
}
