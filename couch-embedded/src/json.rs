//! Request bodies read as CouchDB reads them, and answers written as it writes
//! them: nesting up to [`MAX_DEPTH`] (CouchDB's parser has no depth limit; every
//! recursive step here — parsing, matching, copying, writing — is bounded by this
//! one, so a deep document never overflows a thread's stack), and integers of any
//! size kept exactly, as CouchDB keeps them.
//!
//! `serde_json` (without `arbitrary_precision`, which would change number handling
//! in every crate of a user's build) reads an integer beyond 64 bits as a double,
//! changing it. So such an integer is carried inside the engine as a string with a
//! reserved prefix, which collation and Mango treat as the number it is,
//! and written out as the number's own digits. Strings a client sends may not start
//! with that prefix (U+10FFFF, a noncharacter).

use crate::store::ApiError;
use serde::Deserialize;
use serde_json::Value;

/// The deepest nesting of arrays and objects a body may have.
pub const MAX_DEPTH: usize = 1000;

use couch_semantics::value::{big, BIG_PREFIX as BIG};

/// A body's JSON (`null` for an empty body).
pub(crate) fn parse(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let bigs = check(body)?;
    if bigs.is_empty() {
        return unbounded(body).map_err(|_| ApiError::bad_request("invalid UTF-8 JSON"));
    }
    // The body names U+10FFFF (as UTF-8, or escaped): it may be the reserved prefix.
    let reserved = body.windows(4).any(|w| w == "\u{10FFFF}".as_bytes())
        || body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\udbff"));
    if reserved {
        return Err(ApiError::bad_request(
            "a string starting with U+10FFFF beside an integer beyond 64 bits: the engine reserves that prefix",
        ));
    }
    let mut text = Vec::with_capacity(body.len() + bigs.len() * 8);
    let mut at = 0;
    for (start, end) in bigs {
        text.extend_from_slice(&body[at..start]);
        text.push(b'"');
        text.extend_from_slice(BIG.as_bytes());
        text.extend_from_slice(&body[start..end]);
        text.push(b'"');
        at = end;
    }
    text.extend_from_slice(&body[at..]);
    unbounded(&text).map_err(|_| ApiError::bad_request("invalid UTF-8 JSON"))
}

/// JSON text of `v`, an integer beyond 64 bits written as its digits.
pub fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(&Out(v)).unwrap_or_default()
}

/// [`to_vec`], as text.
pub fn to_text(v: &Value) -> String {
    String::from_utf8_lossy(&to_vec(v)).into_owned()
}

/// [`to_vec`]'s view of a value.
struct Out<'a>(&'a Value);

impl serde::Serialize for Out<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Out(item))?;
                }
                seq.end()
            }
            Value::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, &Out(v))?;
                }
                map.end()
            }
            v => match big(v).and_then(|digits| serde_json::value::RawValue::from_string(digits.to_string()).ok()) {
                Some(raw) => raw.serialize(s),
                None => v.serialize(s),
            },
        }
    }
}

/// JSON the engine wrote itself (a stored document): checked when it came in.
pub(crate) fn unbounded(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let v = Value::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// One pass over the text, outside strings: the nesting depth, and where the
/// integer literals too large for 64 bits are.
fn check(body: &[u8]) -> Result<Vec<(usize, usize)>, ApiError> {
    let mut bigs = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ApiError::bad_request(format!(
                        "JSON nested deeper than {MAX_DEPTH} levels: the embedded engine keeps at most {MAX_DEPTH}"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < body.len() && matches!(body[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    i += 1;
                }
                let literal = &body[start..i];
                let integer = !literal.iter().any(|c| matches!(c, b'.' | b'e' | b'E'));
                if integer && literal.len() > 18 {
                    let text = String::from_utf8_lossy(literal);
                    let digits = text.strip_prefix('-').unwrap_or(&text);
                    let well_formed = !digits.is_empty()
                        && digits.bytes().all(|c| c.is_ascii_digit())
                        && !(digits.len() > 1 && digits.starts_with('0'));
                    if well_formed && text.parse::<i64>().is_err() && text.parse::<u64>().is_err() {
                        bigs.push((start, i));
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(bigs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_and_big_integers_are_refused_with_reasons() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(deep(MAX_DEPTH).as_bytes()).is_ok());
        let e = parse(deep(MAX_DEPTH + 1).as_bytes()).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.reason.contains("1000"), "{}", e.reason);
        let e = parse(deep(100_000).as_bytes()).unwrap_err();
        assert!(e.reason.contains("nested"), "{}", e.reason);
        // Brackets inside strings are text.
        assert!(parse(format!(r#"{{"s": "{}\"["}}"#, "[".repeat(5000)).as_bytes()).is_ok());
        assert_eq!(parse(b"[18446744073709551615, -9223372036854775808]").unwrap()[0], u64::MAX);
        assert_eq!(parse(b"{").unwrap_err().reason, "invalid UTF-8 JSON");
    }

    #[test]
    fn integers_beyond_64_bits_are_kept_exactly() {
        let body = br#"{"n": 123456789012345678901234567890, "m": [-9223372036854775809], "s": "123456789012345678901234567890", "f": 1.5e300}"#;
        let v = parse(body).unwrap();
        assert_eq!(big(&v["n"]), Some("123456789012345678901234567890"));
        assert_eq!(couch_semantics::value::text(&v["n"]), None);
        assert_eq!(
            couch_semantics::value::text(&v["s"]),
            Some("123456789012345678901234567890"),
            "a string stays a string"
        );
        let out = String::from_utf8(to_vec(&v)).unwrap();
        assert!(out.contains(r#""n":123456789012345678901234567890"#), "{out}");
        assert!(out.contains(r#""m":[-9223372036854775809]"#), "{out}");
        assert!(out.contains(r#""s":"123456789012345678901234567890""#), "{out}");
        // The prefix is reserved: a client's string cannot pose as a number.
        let posing = "{\"n\": 123456789012345678901234567890, \"s\": \"\u{10FFFF}#1\"}";
        assert_eq!(parse(posing.as_bytes()).unwrap_err().status, 400);
        assert_eq!(parse(br#"{"n": 123456789012345678901234567890, "s": "\udbff\udfff#1"}"#).unwrap_err().status, 400);
    }
}
