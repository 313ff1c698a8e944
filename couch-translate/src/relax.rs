//! A selector for a server that gets `$elemMatch` and `$allMatch` wrong
//! (pouchdb-server): each field condition holding one is replaced by a constant
//! that keeps every document it might match, so the server returns a superset
//! and the client matches the exact selector.

use serde_json::{json, Map, Value};

/// The selector with every field condition that holds `$elemMatch` or `$allMatch`
/// replaced: by "always" where it is asserted, by "never" under an odd number of
/// negations (`$nor`, `$not`), so the result matches at least what `selector`
/// matches. `None` when the selector holds neither operator.
///
/// ```
/// use serde_json::json;
/// let s = json!({"type": "c", "tags": {"$elemMatch": {"$regex": "ip"}}});
/// let relaxed = couch_translate::relax::elem_match(&s).unwrap();
/// assert_eq!(relaxed, json!({"$and": [{"_id": {"$exists": true}}, {"type": "c"}]}));
/// ```
pub fn elem_match(selector: &Value) -> Option<Value> {
    holds_elem_match(selector).then(|| relax(selector, true))
}

fn holds_elem_match(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, x)| k == "$elemMatch" || k == "$allMatch" || holds_elem_match(x)),
        Value::Array(a) => a.iter().any(holds_elem_match),
        _ => false,
    }
}

/// Always true, on CouchDB and pouchdb-server alike: every document has an `_id`.
fn always() -> Value {
    json!({"_id": {"$exists": true}})
}

/// Never true: no `_id` is in the empty list.
fn never() -> Value {
    json!({"_id": {"$in": []}})
}

fn relax(v: &Value, asserted: bool) -> Value {
    let Value::Object(m) = v else { return v.clone() };
    if !holds_elem_match(v) {
        return v.clone();
    }
    let mut terms = Vec::with_capacity(m.len());
    for (k, x) in m {
        let term = match k.as_str() {
            "$and" | "$or" | "$nor" => {
                let inner = if k == "$nor" { !asserted } else { asserted };
                let items = x.as_array().map(|a| a.iter().map(|e| relax(e, inner)).collect()).unwrap_or_default();
                json!({ k.as_str(): Value::Array(items) })
            }
            "$not" => json!({ "$not": relax(x, !asserted) }),
            _ if !k.starts_with('$') && holds_elem_match(x) => {
                if asserted {
                    always()
                } else {
                    never()
                }
            }
            _ => json!({ k.as_str(): x.clone() }),
        };
        terms.push(term);
    }
    if terms.len() == 1 {
        return terms.pop().expect("one term");
    }
    let mut and = Map::new();
    and.insert("$and".into(), Value::Array(terms));
    Value::Object(and)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selector_without_them_is_left_alone() {
        assert_eq!(elem_match(&json!({"type": "c", "n": {"$gt": 1}})), None);
    }

    #[test]
    fn negations_flip_the_replacement() {
        let s = json!({"$and": [
            {"type": "c"},
            {"$nor": [{"lines": {"$elemMatch": {"qty": {"$gte": 2}}}}]},
            {"$not": {"$nor": [{"tags": {"$allMatch": {"$regex": "x"}}}]}},
        ]});
        let r = elem_match(&s).unwrap();
        assert_eq!(
            r,
            json!({"$and": [
                {"type": "c"},
                {"$nor": [{"_id": {"$in": []}}]},
                {"$not": {"$nor": [{"_id": {"$exists": true}}]}},
            ]})
        );
    }

    #[test]
    fn a_field_level_not_is_replaced_whole() {
        let s = json!({"tags": {"$not": {"$elemMatch": {"$eq": "x"}}}, "type": "c"});
        assert_eq!(elem_match(&s).unwrap(), json!({"$and": [{"_id": {"$exists": true}}, {"type": "c"}]}));
    }
}
