//! Field paths, as CouchDB reads them (`mango_util:parse_field`), and walked as
//! `mango_doc:get_field` walks them.
//!
//! A `.` separates segments unless a `\` comes right before it; every `\` is then
//! dropped. So `a\.b` is the one field `a.b`, `a\$b` is `a$b`, `a\\b` is `ab`, and
//! a field name holding a backslash cannot be written at all (CouchDB has no
//! escape for it). An empty segment (`a..b`, `.a`, `a.`) is not a field.
//!
//! ```
//! use couch_semantics::path;
//! assert_eq!(path::segments("address.city"), ["address", "city"]);
//! assert_eq!(path::segments(r"a\.b.c"), ["a.b", "c"]);
//! assert_eq!(path::child(&path::escape("a.b"), "$c"), r"a\.b.\$c");
//! ```

use serde_json::{Map, Value};

/// The segments of `field`, as CouchDB reads them (an empty segment is kept: see [`parse`]).
pub fn segments(field: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut after_backslash = false;
    for c in field.chars() {
        match c {
            '.' if !after_backslash => out.push(String::new()),
            '\\' => {}
            c => out.last_mut().expect("never empty").push(c),
        }
        after_backslash = c == '\\';
    }
    out
}

/// A path CouchDB refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The empty path: `One or more conditions is missing a field name.`
    Missing,
    /// A path with an empty segment (`a..b`, `.a`, `a.`): `Invalid field name: …`.
    EmptySegment(String),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Missing => f.write_str("One or more conditions is missing a field name."),
            PathError::EmptySegment(p) => write!(f, "Invalid field name: {p}"),
        }
    }
}

impl std::error::Error for PathError {}

/// The segments of `field`, or why CouchDB would refuse it.
pub fn parse(field: &str) -> Result<Vec<String>, PathError> {
    if field.is_empty() {
        return Err(PathError::Missing);
    }
    let segs = segments(field);
    if segs.iter().any(String::is_empty) {
        return Err(PathError::EmptySegment(field.to_string()));
    }
    Ok(segs)
}

/// Whether a field name can be written as a path segment at all: CouchDB drops
/// every backslash of a path, so a name holding one cannot be reached.
pub fn can_escape(segment: &str) -> bool {
    !segment.contains('\\') && !segment.is_empty()
}

/// One field name as a path segment: `.` written `\.`, a leading `$` written `\$`
/// (so it is not read as an operator). See [`can_escape`] for the names no path reaches.
pub fn escape(segment: &str) -> String {
    let dotted = segment.replace('.', "\\.");
    match dotted.strip_prefix('$') {
        Some(rest) => format!("\\${rest}"),
        None => dotted,
    }
}

/// The path of `parent` followed by the field name `segment` (escaped here).
pub fn child(parent: &str, segment: &str) -> String {
    if parent.is_empty() {
        escape(segment)
    } else {
        format!("{parent}.{}", escape(segment))
    }
}

/// What is at a path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    /// The value there.
    Found(&'a Value),
    /// The last step names a field the object does not have.
    NotFound,
    /// A step goes through a value that is not an object (or an array, by position).
    BadPath,
}

impl<'a> Lookup<'a> {
    /// The value, if there is one.
    pub fn found(self) -> Option<&'a Value> {
        match self {
            Lookup::Found(v) => Some(v),
            _ => None,
        }
    }
}

/// `mango_doc:get_field`: objects by name, arrays by position.
pub fn get<'a>(v: &'a Value, path: &[String]) -> Lookup<'a> {
    let Some((first, rest)) = path.split_first() else { return Lookup::Found(v) };
    match v {
        Value::Object(m) => m.get(first).map_or(Lookup::NotFound, |x| get(x, rest)),
        Value::Array(a) => match first.parse::<usize>().ok().and_then(|i| a.get(i)) {
            Some(x) => get(x, rest),
            None => Lookup::BadPath,
        },
        _ => Lookup::BadPath,
    }
}

/// The value the segments `segs` lead to from `from` (as [`get`] walks, for
/// segments that are not `String`s).
pub fn walk<'a, 's>(from: Option<&'a Value>, segs: impl IntoIterator<Item = &'s str>) -> Option<&'a Value> {
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

/// The value a document holds at `field` (a path), if every step of it exists.
pub fn field_value<'a>(doc: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    if !field.contains(['.', '\\']) {
        return doc.get(field);
    }
    let path = segments(field);
    let (first, rest) = path.split_first()?;
    get(doc.get(first)?, rest).found()
}

/// Sets the value at `field` (a path). Missing or null objects on the way are
/// created, so the other fields of an existing object are kept; a step through a
/// value that is not an object is an error, which names it.
pub fn set(doc: &mut Map<String, Value>, field: &str, value: Value) -> Result<(), String> {
    let segs = segments(field);
    let (last, parents) = segs.split_last().expect("a path has a segment");
    let mut cur = doc;
    let mut walked = String::new();
    for s in parents {
        walked = child(&walked, s);
        let slot = cur.entry(s.clone()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        cur = match slot {
            Value::Object(m) => m,
            other => {
                let kind = crate::value::type_name(other);
                return Err(format!("cannot set `{field}`: `{walked}` is {} {kind}, not an object", article(kind)));
            }
        };
    }
    cur.insert(last.clone(), value);
    Ok(())
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'o']) {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_read_as_couchdbs_parse_field() {
        // mango_util's own cases, and its rule for other backslashes (all dropped).
        assert_eq!(segments("ab"), ["ab"]);
        assert_eq!(segments("a.b"), ["a", "b"]);
        assert_eq!(segments("a\\.b"), ["a.b"]);
        assert_eq!(segments("a.b\\.c"), ["a", "b.c"]);
        assert_eq!(segments("a\\b"), ["ab"]);
        assert_eq!(segments("a\\\\b"), ["ab"]);
        assert_eq!(segments("a\\\\.b"), ["a.b"]);
        assert_eq!(segments("é.ü"), ["é", "ü"]);
        assert_eq!(parse(""), Err(PathError::Missing));
        for bad in ["a..b", ".a", "a."] {
            assert_eq!(parse(bad), Err(PathError::EmptySegment(bad.into())));
        }
    }

    #[test]
    fn escaped_names_round_trip() {
        for name in ["a.b", "$doctype", "plain", "ü.$x", "a$b"] {
            assert!(can_escape(name));
            assert_eq!(segments(&child("p", name)), ["p", name]);
        }
        assert!(!can_escape("a\\b"));
    }

    #[test]
    fn gets_and_sets_nested_fields() {
        let mut doc =
            json!({"a": {"b": 1, "keep": true}, "l": [{"q": 2}], "s": "x", "d.e": 3}).as_object().cloned().unwrap();
        assert_eq!(field_value(&doc, "a.b"), Some(&json!(1)));
        assert_eq!(field_value(&doc, "l.0.q"), Some(&json!(2)));
        assert_eq!(field_value(&doc, "l.1.q"), None);
        assert_eq!(field_value(&doc, "d\\.e"), Some(&json!(3)), "an escaped dot is one field name");
        assert_eq!(field_value(&doc, "d.e"), None);
        assert_eq!(field_value(&doc, "s.x"), None);
        set(&mut doc, "a.b", json!(5)).unwrap();
        set(&mut doc, "n.m", json!("new")).unwrap();
        assert_eq!(doc["a"], json!({"b": 5, "keep": true}));
        assert_eq!(doc["n"], json!({"m": "new"}));
        assert!(set(&mut doc, "s.x", json!(1)).unwrap_err().contains("`s` is a string"));
    }
}
