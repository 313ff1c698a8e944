//! JSON values as CouchDB sees them: type names, and integers beyond 64 bits.
//!
//! `serde_json` (without `arbitrary_precision`, which would change number handling
//! in every crate of a user's build) reads an integer beyond 64 bits as a double,
//! changing it. A reader that keeps such integers exactly (couch-sql's engine)
//! carries one as a string with a reserved prefix ([`BIG_PREFIX`], starting with
//! U+10FFFF, a noncharacter); collation and Mango treat it as the number it is.

use serde_json::Value;

/// The prefix of a string that stands for an integer beyond 64 bits.
pub const BIG_PREFIX: &str = "\u{10FFFF}#";

/// The digits of an integer beyond 64 bits that `v` carries.
pub fn big(v: &Value) -> Option<&str> {
    v.as_str()?.strip_prefix(BIG_PREFIX)
}

/// A string's text, unless it carries a number.
pub fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.starts_with(BIG_PREFIX))
}

/// The name Mango's `$type` gives a value: `null`, `boolean`, `number`, `string`,
/// `array` or `object`.
///
/// ```
/// assert_eq!(couch_semantics::value::type_name(&serde_json::json!([1])), "array");
/// ```
pub fn type_name(v: &Value) -> &'static str {
    if big(v).is_some() {
        return "number";
    }
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
