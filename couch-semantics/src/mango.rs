//! Mango selectors, evaluated as CouchDB's `mango_selector:match/3` does after
//! `norm_negations`: a negation is pushed down to the fields (De Morgan), and a
//! field that is not found, or whose path is broken (a step through a
//! non-object), fails whatever its condition, except a missing field under
//! `$exists: false`.

use crate::collate::{compare, raw};
use crate::path::{get, segments, Lookup};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Mutex;

/// A selector that CouchDB would refuse; the text is CouchDB's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    /// CouchDB's name for the error (its 400's `error`): `invalid_field_name` for a
    /// path with an empty segment, `invalid_selector` for a missing field name, else
    /// `invalid_operator`.
    pub fn error(&self) -> &'static str {
        if self.0.starts_with(FIELD_NAME) {
            "invalid_field_name"
        } else if self.0 == NO_FIELD_NAME {
            "invalid_selector"
        } else {
            "invalid_operator"
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

const FIELD_NAME: &str = "Invalid field name: ";
const NO_FIELD_NAME: &str = "One or more conditions is missing a field name.";

const COMBINATORS: [&str; 4] = ["$and", "$or", "$nor", "$not"];
const OPERATORS: [&str; 20] = [
    "$eq",
    "$ne",
    "$lt",
    "$lte",
    "$gt",
    "$gte",
    "$in",
    "$nin",
    "$exists",
    "$type",
    "$regex",
    "$beginsWith",
    "$size",
    "$all",
    "$elemMatch",
    "$allMatch",
    "$keyMapMatch",
    "$mod",
    "$not",
    "$text",
];

/// Checks operators and their arguments, as CouchDB does before running a query.
pub fn validate(sel: &Value) -> Result<(), Invalid> {
    validate_under(sel, None)
}

/// [`validate`] for a selector on the field `parent` (a sub-object's keys are fields
/// under it, as CouchDB joins them: `{"a": {"": 1}}` is the field `a.`).
fn validate_under(sel: &Value, parent: Option<&str>) -> Result<(), Invalid> {
    let Value::Object(m) = sel else { return Err(Invalid("selector must be a JSON object".into())) };
    for (k, v) in m {
        if COMBINATORS.contains(&k.as_str()) {
            match (k.as_str(), v) {
                ("$not", Value::Object(_)) => validate_under(v, parent)?,
                ("$not", _) => return Err(Invalid("Bad argument for operator $not".into())),
                (_, Value::Array(items)) => items.iter().try_for_each(|i| validate_under(i, parent))?,
                _ => return Err(Invalid(format!("Bad argument for operator {k}"))),
            }
        } else if k.starts_with('$') {
            operator_arg(k, v)?;
        } else {
            let field = parent.map_or_else(|| k.clone(), |p| format!("{p}.{k}"));
            crate::path::parse(&field).map_err(|e| Invalid(e.to_string()))?;
            condition(v, Some(&field))?;
        }
    }
    Ok(())
}

/// A field's condition (`field`: its path; `None` inside `$elemMatch` and its
/// kin, whose fields are the element's).
fn condition(cond: &Value, field: Option<&str>) -> Result<(), Invalid> {
    match cond {
        Value::Object(o) if o.keys().all(|k| k.starts_with('$')) => {
            for (op, arg) in o {
                if COMBINATORS.contains(&op.as_str()) && op != "$not" {
                    match arg {
                        Value::Array(items) => items.iter().try_for_each(|i| condition(i, field))?,
                        _ => return Err(Invalid(format!("Bad argument for operator {op}"))),
                    }
                } else {
                    operator_arg(op, arg)?;
                }
            }
            Ok(())
        }
        Value::Object(_) => validate_under(cond, field),
        _ => Ok(()),
    }
}

fn operator_arg(op: &str, arg: &Value) -> Result<(), Invalid> {
    if !OPERATORS.contains(&op) {
        return Err(Invalid(format!("Invalid operator: {op}")));
    }
    let bad = || Err(Invalid(format!("Bad argument for operator {op}: {arg}")));
    match op {
        "$in" | "$nin" | "$all" if !arg.is_array() => bad(),
        "$exists" if !arg.is_boolean() => bad(),
        "$type" if !arg.is_string() => bad(),
        "$regex" => match arg.as_str() {
            Some(p) => regex(p).map(|_| ()).ok_or_else(|| Invalid(format!("Invalid regular expression: {p}"))),
            None => bad(),
        },
        "$beginsWith" if !arg.is_string() => bad(),
        "$size" if !arg.is_u64() => bad(),
        "$mod" if !matches!(arg.as_array().map(|a| a.as_slice()), Some([d, _]) if d.as_i64().is_some_and(|d| d != 0)) => {
            bad()
        }
        "$elemMatch" | "$allMatch" | "$keyMapMatch" | "$not" => condition(arg, None),
        _ => Ok(()),
    }
}

/// Compiled regexes kept: every query's patterns are few, and each compiled
/// pattern's automata are bounded by `REGEX_SIZE_LIMIT`, so the cache is too.
const REGEX_CACHE: usize = 64;

/// The most memory one compiled pattern may take (its automata); a larger
/// pattern matches nothing, as an invalid one does.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Backtracking steps one match may take before it gives up (and does not match):
/// a catastrophic pattern costs bounded time.
const REGEX_BACKTRACK_LIMIT: usize = 1_000_000;

/// A compiled regex, cached.
fn regex(pattern: &str) -> Option<fancy_regex::Regex> {
    static CACHE: Mutex<Option<HashMap<String, Option<fancy_regex::Regex>>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(r) = cache.get(pattern) {
        return r.clone();
    }
    if cache.len() >= REGEX_CACHE {
        cache.clear();
    }
    let compiled = fancy_regex::RegexBuilder::new(pattern)
        .delegate_size_limit(REGEX_SIZE_LIMIT)
        .delegate_dfa_size_limit(REGEX_SIZE_LIMIT)
        .backtrack_limit(REGEX_BACKTRACK_LIMIT)
        .build()
        .ok();
    cache.insert(pattern.to_string(), compiled.clone());
    compiled
}

/// Whether `doc` matches `sel`.
pub fn matches(sel: &Value, doc: &Value) -> bool {
    selector(sel, Subject::Value(doc), false)
}

/// Whether a stored document matches `sel`, read where it lies: `_id` and `_rev`
/// beside its body, nothing copied (`rev` only if the selector may look at it).
pub fn matches_doc(sel: &Value, id: &Value, rev: Option<&Value>, body: &Map<String, Value>) -> bool {
    selector(sel, Subject::Doc { id, rev, body }, false)
}

/// What a selector is matched against: a JSON value, or a stored document.
#[derive(Clone, Copy)]
enum Subject<'a> {
    Value(&'a Value),
    Doc { id: &'a Value, rev: Option<&'a Value>, body: &'a Map<String, Value> },
}

impl<'a> Subject<'a> {
    fn get(self, path: &[String]) -> Lookup<'a> {
        match self {
            Subject::Value(v) => get(v, path),
            Subject::Doc { id, rev, body } => {
                let Some((first, rest)) = path.split_first() else { return Lookup::BadPath };
                let top = match first.as_str() {
                    "_id" => Some(id),
                    "_rev" => rev,
                    field => body.get(field),
                };
                top.map_or(Lookup::NotFound, |x| get(x, rest))
            }
        }
    }

    /// The subject as one value (a document is assembled: only for an operator
    /// applied to the whole document, which no field-based selector does).
    fn with_value<R>(self, f: impl FnOnce(&Value) -> R) -> R {
        match self {
            Subject::Value(v) => f(v),
            Subject::Doc { id, rev, body } => {
                let mut m = body.clone();
                m.insert("_id".into(), id.clone());
                if let Some(rev) = rev {
                    m.insert("_rev".into(), rev.clone());
                }
                f(&Value::Object(m))
            }
        }
    }
}

fn selector(sel: &Value, v: Subject, neg: bool) -> bool {
    let Some(entries) = sel.as_object() else { return false };
    if entries.is_empty() {
        return !neg;
    }
    let mut parts = entries.iter().map(|(k, arg)| entry(k, arg, v, neg));
    if neg {
        parts.any(|b| b)
    } else {
        parts.all(|b| b)
    }
}

fn list(arg: &Value) -> &[Value] {
    arg.as_array().map_or(&[], Vec::as_slice)
}

fn entry(k: &str, arg: &Value, v: Subject, neg: bool) -> bool {
    match k {
        "$and" if neg => list(arg).iter().any(|s| selector(s, v, true)),
        "$and" => list(arg).iter().all(|s| selector(s, v, false)),
        "$or" if neg => list(arg).iter().all(|s| selector(s, v, true)),
        "$or" => list(arg).iter().any(|s| selector(s, v, false)),
        "$nor" if neg => list(arg).iter().any(|s| selector(s, v, false)),
        "$nor" => list(arg).iter().all(|s| selector(s, v, true)),
        "$not" => selector(arg, v, !neg),
        // An operator outside a field applies to the value itself (an `$elemMatch` element).
        op if op.starts_with('$') => v.with_value(|v| operator(op, arg, v, neg, false)),
        field => {
            let path = segments(field);
            let id = field == "_id";
            let ops = operators(arg);
            let mut each = ops.iter().map(|(op, a)| {
                // `{"f": {"$not": X}}` is `{"$not": {"f": X}}` (CouchDB's norm_fields
                // hoists it), and so a negation of the field's condition, pushed down.
                if op == "$not" {
                    let mut inner = Map::new();
                    inner.insert(field.to_string(), a.clone());
                    return selector(&Value::Object(inner), v, !neg);
                }
                match v.get(&path) {
                    Lookup::Found(x) => operator(op, a, x, neg, id),
                    // Only `{"$exists": false}` (after negation) matches a missing field.
                    Lookup::NotFound => op == "$exists" && a.as_bool() == Some(neg),
                    Lookup::BadPath => false,
                }
            });
            if neg {
                each.any(|b| b)
            } else {
                each.all(|b| b)
            }
        }
    }
}

/// A field's condition as `(operator, argument)` pairs; a bare value is `$eq`,
/// and an object of sub-fields is a selector on the field's value.
fn operators(cond: &Value) -> Vec<(String, Value)> {
    match cond {
        Value::Object(o) if o.keys().all(|k| k.starts_with('$')) => {
            o.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        }
        Value::Object(_) => vec![("$sub".into(), cond.clone())],
        other => vec![("$eq".into(), other.clone())],
    }
}

fn operator(op: &str, arg: &Value, v: &Value, neg: bool, id: bool) -> bool {
    let cmp = || if id { raw(v, arg) } else { compare(v, arg) };
    let flip = |b: bool| b != neg;
    match op {
        "$eq" => flip(cmp() == Ordering::Equal),
        "$ne" => flip(cmp() != Ordering::Equal),
        "$lt" => flip(cmp() == Ordering::Less),
        "$gte" => flip(cmp() != Ordering::Less),
        "$lte" => flip(cmp() != Ordering::Greater),
        "$gt" => flip(cmp() == Ordering::Greater),
        "$in" | "$nin" => {
            let hit = list(arg).iter().any(|a| match v {
                Value::Array(items) => items.iter().any(|i| compare(i, a).is_eq()),
                _ => compare(v, a).is_eq(),
            });
            flip(hit == (op == "$in"))
        }
        "$exists" => arg.as_bool() == Some(!neg),
        "$not" => {
            let ops = operators(arg);
            if neg {
                ops.iter().all(|(o, a)| operator(o, a, v, false, id))
            } else {
                ops.iter().any(|(o, a)| operator(o, a, v, true, id))
            }
        }
        "$sub" => selector(arg, Subject::Value(v), neg),
        "$type" => flip(arg.as_str() == Some(crate::value::type_name(v))),
        "$regex" => flip(crate::value::text(v).zip(arg.as_str()).is_some_and(|(s, p)| {
            regex(p).is_some_and(|r| r.is_match(s).unwrap_or(false)) // backtracking limit: no match, as PCRE
        })),
        "$beginsWith" => flip(crate::value::text(v).zip(arg.as_str()).is_some_and(|(s, p)| s.starts_with(p))),
        "$size" => flip(v.as_array().is_some_and(|a| Some(a.len() as u64) == arg.as_u64())),
        "$mod" => flip(match (v.as_i64(), list(arg)) {
            // `wrapping_rem`: i64::MIN % -1 is 0 (a plain `%` overflows and panics).
            (Some(x), [d, r]) => d.as_i64().filter(|d| *d != 0).is_some_and(|d| Some(x.wrapping_rem(d)) == r.as_i64()),
            _ => false,
        }),
        "$all" => flip(v.as_array().is_some_and(|items| {
            let args = list(arg);
            !args.is_empty() && args.iter().all(|a| items.contains(a))
                || matches!(args, [Value::Array(one)] if one == items)
        })),
        "$elemMatch" => flip(v.as_array().is_some_and(|items| items.iter().any(|el| element(arg, el)))),
        "$allMatch" => {
            flip(v.as_array().is_some_and(|items| !items.is_empty() && items.iter().all(|el| element(arg, el))))
        }
        "$keyMapMatch" => {
            flip(v.as_object().is_some_and(|m| m.keys().any(|k| element(arg, &Value::String(k.clone())))))
        }
        "$text" => false,
        _ => false,
    }
}

/// `$elemMatch`'s argument on one element: operators apply to the element
/// itself, fields to its fields.
fn element(arg: &Value, el: &Value) -> bool {
    let Some(o) = arg.as_object() else { return false };
    if o.keys().all(|k| k.starts_with('$') && !COMBINATORS.contains(&k.as_str())) {
        operators(arg).iter().all(|(op, a)| operator(op, a, el, false, false))
    } else {
        selector(arg, Subject::Value(el), false)
    }
}

/// The fields a selector requires to be present (a top-level conjunct that fails
/// without them): CouchDB uses a json index only when every field it holds is one.
pub fn required_fields(sel: &Value) -> Vec<String> {
    let mut out = Vec::new();
    required_into(sel, &mut out);
    out
}

fn required_into(sel: &Value, out: &mut Vec<String>) {
    let Some(m) = sel.as_object() else { return };
    for (k, v) in m {
        if k == "$and" {
            for s in list(v) {
                required_into(s, out);
            }
        } else if !k.starts_with('$') {
            let ops = operators(v);
            let tolerant = ops.iter().any(|(op, a)| op == "$exists" && a == &Value::Bool(false))
                || ops.iter().any(|(op, _)| op == "$not" || op == "$sub");
            if !tolerant && !out.contains(k) {
                out.push(k.clone());
            }
        }
    }
}

/// The conditions on `field` among a selector's top-level conjuncts.
pub fn field_conditions(sel: &Value, field: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Some(m) = sel.as_object() {
        for (k, v) in m {
            if k == "$and" {
                for s in list(v) {
                    out.extend(field_conditions(s, field));
                }
            } else if k == field {
                out.extend(operators(v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bad_field_names_are_couchdbs_errors() {
        for bad in ["a..b", ".a", "a."] {
            let e = validate(&json!({ bad: 1 })).unwrap_err();
            assert_eq!((e.error(), e.0), ("invalid_field_name", format!("Invalid field name: {bad}")));
        }
        assert_eq!(validate(&json!({"": 1})).unwrap_err().error(), "invalid_selector");
        assert_eq!(validate(&json!({"a": {"": 1}})).unwrap_err().0, "Invalid field name: a.");
    }

    #[test]
    fn negations_fail_on_missing_fields_as_couchdb() {
        let doc = json!({"a": 1, "b": {"c": 2}, "s": "x"});
        assert!(matches(&json!({"a": {"$gt": 0}}), &doc));
        assert!(!matches(&json!({"$nor": [{"z": 1}]}), &doc), "CouchDB: NOT on a missing field is false");
        assert!(matches(&json!({"z": {"$exists": false}}), &doc));
        assert!(!matches(&json!({"s.t": {"$exists": false}}), &doc), "a broken path fails even $exists: false");
        assert!(matches(&json!({"b.c": 2, "$or": [{"a": 9}, {"s": {"$regex": "^x$"}}]}), &doc));
        assert!(matches(&json!({"l": {"$elemMatch": {"q": {"$gte": 2}}}}), &json!({"l": [{"q": 1}, {"q": 3}]})));
        assert!(matches(&json!({"l": {"$elemMatch": {"$type": "number"}}}), &json!({"l": [null, 3]})));
        assert!(validate(&json!({"a": {"$foo": 1}})).is_err());
    }
}
