//! CouchDB's collation of JSON values (`couch_ejson_compare`): null < false <
//! true < numbers < strings < arrays < objects; strings by ICU's root
//! collation; arrays and objects element by element.
//!
//! Every order couch-sql computes — the engine's indexes and sorts, and a sort,
//! MIN/MAX or GROUP BY done in the client — is this one, so a client-side order
//! equals the server's. A server known to order strings otherwise (pouchdb-server's
//! indexes: by code point) is given [`Collation::CodePoint`].
//!
//! ```
//! use couch_semantics::collate::{compare, Collation};
//! use serde_json::json;
//! use std::cmp::Ordering;
//! assert_eq!(compare(&json!("apple"), &json!("Banana")), Ordering::Less);
//! assert_eq!(Collation::CodePoint.compare(&json!("apple"), &json!("Banana")), Ordering::Greater);
//! assert_eq!(compare(&json!(null), &json!(false)), Ordering::Less);
//! ```

use serde_json::Value;
use std::cmp::Ordering;
use std::sync::LazyLock;

static COLLATOR: LazyLock<icu_collator::CollatorBorrowed<'static>> = LazyLock::new(|| {
    icu_collator::Collator::try_new(Default::default(), Default::default())
        .expect("ICU root collation data is compiled in")
});

/// The order of JSON types: null 0, false 1, true 2, numbers 3 (however they are
/// carried), strings 4, arrays 5, objects 6.
pub fn type_order(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(false) => 1,
        Value::Bool(true) => 2,
        Value::Number(_) => 3,
        Value::String(_) if crate::value::big(v).is_some() => 3,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    }
}

/// Strings as CouchDB's views and Mango compare them: ICU root collation.
pub fn strings(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    COLLATOR.compare(a, b)
}

fn numbers(a: &serde_json::Number, b: &serde_json::Number) -> Ordering {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.as_f64().unwrap_or(0.0).partial_cmp(&b.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal),
    }
}

/// Two integers beyond 64 bits, by their digits (no leading zeros: JSON has none).
fn big_integers(a: &str, b: &str) -> Ordering {
    let (na, da) = a.strip_prefix('-').map_or((false, a), |d| (true, d));
    let (nb, db) = b.strip_prefix('-').map_or((false, b), |d| (true, d));
    let magnitude = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
    match (na, nb) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

/// A number (of any size) against another.
fn any_numbers(a: &Value, b: &Value) -> Ordering {
    use crate::value::big;
    match (a, b, big(a), big(b)) {
        (Value::Number(x), Value::Number(y), _, _) => numbers(x, y),
        (_, _, Some(x), Some(y)) => big_integers(x, y),
        // One beyond 64 bits, one integer within: the big one is the farther from 0.
        (_, Value::Number(y), Some(x), None) if y.is_i64() || y.is_u64() => {
            if x.starts_with('-') {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (Value::Number(_), _, None, Some(_)) if a.is_i64() || a.is_u64() => any_numbers(b, a).reverse(),
        // One beyond 64 bits, one double: as doubles, which tells them apart unless
        // the double is as large.
        _ => {
            let f = |v: &Value| big(v).and_then(|d| d.parse::<f64>().ok()).or_else(|| v.as_f64()).unwrap_or(0.0);
            f(a).partial_cmp(&f(b)).unwrap_or(Ordering::Equal)
        }
    }
}

/// How strings are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Collation {
    /// ICU's root collation, as CouchDB's views and Mango sorts (and couch-sql's
    /// engine): `Äpfel < apple < banana < Banana` (letters first; accents, then case, break ties).
    #[default]
    Icu,
    /// Unicode code points, as pouchdb-server's indexes (UTF-8 bytes in LevelDB):
    /// `Banana < apple < banana < Äpfel`.
    CodePoint,
}

impl Collation {
    /// Two strings' order.
    pub fn strings(self, a: &str, b: &str) -> Ordering {
        match self {
            Collation::Icu => strings(a, b),
            Collation::CodePoint => a.cmp(b),
        }
    }

    /// Two JSON values' order: CouchDB's order of types, strings by this collation.
    pub fn compare(self, a: &Value, b: &Value) -> Ordering {
        if type_order(a) == 3 && type_order(b) == 3 {
            return any_numbers(a, b);
        }
        match (a, b) {
            (Value::String(x), Value::String(y)) => self.strings(x, y),
            (Value::Array(x), Value::Array(y)) => x
                .iter()
                .zip(y)
                .map(|(p, q)| self.compare(p, q))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| x.len().cmp(&y.len())),
            (Value::Object(x), Value::Object(y)) => x
                .iter()
                .zip(y)
                .map(|((k1, v1), (k2, v2))| self.strings(k1, k2).then_with(|| self.compare(v1, v2)))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| x.len().cmp(&y.len())),
            _ => type_order(a).cmp(&type_order(b)),
        }
    }
}

/// CouchDB's order of two JSON values ([`Collation::Icu`]).
pub fn compare(a: &Value, b: &Value) -> Ordering {
    Collation::Icu.compare(a, b)
}

/// `_id` order (`_all_docs`, and Mango on `_id`): raw code points.
pub fn raw(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => compare(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_then_icu_strings() {
        let sorted = [
            json!(null),
            json!(false),
            json!(true),
            json!(1),
            json!(2.5),
            json!("a"),
            json!("B"),
            json!([1]),
            json!({}),
        ];
        for w in sorted.windows(2) {
            assert_eq!(compare(&w[0], &w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        // ICU: case is a tertiary difference, after the letters.
        assert_eq!(strings("a", "B"), Ordering::Less);
        assert_eq!(strings("a", "A"), Ordering::Less);
        assert_eq!(raw(&json!("a"), &json!("B")), Ordering::Greater);
        assert_eq!(compare(&json!(1), &json!(1.0)), Ordering::Equal);
    }

    #[test]
    fn code_points_for_servers_that_use_them() {
        let mut words = ["Äpfel", "apple", "Banana", "banana", "Ωmega", "яблоко", "日本"];
        words.sort_by(|a, b| Collation::CodePoint.strings(a, b));
        assert_eq!(words, ["Banana", "apple", "banana", "Äpfel", "Ωmega", "яблоко", "日本"]);
        words.sort_by(|a, b| strings(a, b));
        assert_eq!(words, ["Äpfel", "apple", "banana", "Banana", "Ωmega", "яблоко", "日本"]);
    }

    #[test]
    fn integers_beyond_64_bits_sort_among_numbers() {
        let big = |digits: &str| json!(format!("{}{digits}", crate::value::BIG_PREFIX));
        let items = [
            big("-100000000000000000000000"),
            big("-9223372036854775809"),
            json!(-5),
            json!(2.5),
            json!(18446744073709551615u64),
            big("18446744073709551616"),
            big("100000000000000000000000"),
            json!(1e300),
            json!("a"),
        ];
        for w in items.windows(2) {
            assert_eq!(compare(&w[0], &w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(compare(&items[6], &big("100000000000000000000000")), Ordering::Equal);
    }
}
