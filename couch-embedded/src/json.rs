//! Request bodies read as CouchDB reads them, within what this engine keeps
//! exactly and safely: nesting up to [`MAX_DEPTH`] (CouchDB's parser has no
//! depth limit; every recursive step here — parsing, matching, copying, writing —
//! is bounded by this one, so a deep document never overflows a thread's stack),
//! and integers no larger than 64 bits (CouchDB keeps larger ones exactly; a
//! double would silently change them, so they are refused instead).

use crate::store::ApiError;
use serde::Deserialize;
use serde_json::Value;

/// The deepest nesting of arrays and objects a body may have.
pub const MAX_DEPTH: usize = 1000;

/// A body's JSON (`null` for an empty body).
pub(crate) fn parse(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    check(body)?;
    unbounded(body).map_err(|_| ApiError::bad_request("invalid UTF-8 JSON"))
}

/// JSON the engine wrote itself (a stored document): checked when it came in.
pub(crate) fn unbounded(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let v = Value::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// One pass over the text, outside strings: the nesting depth, and every integer
/// literal too large for 64 bits.
fn check(body: &[u8]) -> Result<(), ApiError> {
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
                    if text.parse::<i64>().is_err() && text.parse::<u64>().is_err() {
                        return Err(ApiError::bad_request(format!(
                            "the number {text} is beyond 64 bits: the embedded engine would not keep it exactly \
                             (CouchDB does); store it as a string"
                        )));
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
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
        let e = parse(br#"{"n": 123456789012345678901234567890}"#).unwrap_err();
        assert!(e.reason.contains("123456789012345678901234567890"), "{}", e.reason);
        assert!(parse(b"[-9223372036854775809]").is_err());
        assert!(parse(br#"{"n": "123456789012345678901234567890", "f": 1.5e300}"#).is_ok());
        assert_eq!(parse(b"{").unwrap_err().reason, "invalid UTF-8 JSON");
    }
}
