//! Nested paths, `ANY`, `@>`, `CARDINALITY`, positions and `EXISTS … UNNEST`,
//! under both servers' readings of documents whose objects and arrays are
//! missing, null, or of the wrong type.
//!
//! Generated SQL over a nested model; its Mango selector is evaluated by two
//! reference evaluators written from the servers' sources: CouchDB's
//! (`mango_selector.erl`/`mango_doc.erl`: negations pushed down to fields, a
//! broken path fails every operator), which is the embedded engine's own
//! (`couch_embedded::mango`), and pouchdb-server's (`pouchdb-selector-core`:
//! a path lookup stops at a falsy step and indexes into strings, and scalar
//! `$elemMatch` takes operators only). Each must select exactly the documents
//! the SQL selects, evaluated directly with three-valued logic.

use common::collate;
use couch_translate::template::json_type_name;
use couch_translate::{translate, Column, ColumnType, Dialect, Kind, Plan, Schema};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

mod common;

fn schema() -> Schema {
    let int = |n: &str| Column::new(n, ColumnType::new(Kind::Integer, true, "Option<i64>"));
    let text = |n: &str| Column::new(n, ColumnType::new(Kind::Text, true, "Option<String>"));
    let o = ColumnType::object(vec![int("x").at(0), text("s").at(1)], true, "Option<O>");
    let l = ColumnType::object(vec![int("q").at(0), text("k").at(1)], false, "L");
    let tags = ColumnType::array(ColumnType::new(Kind::Text, false, "String"), true, "Option<Vec<String>>");
    Schema::new(
        "t",
        vec![
            Column::new("o", o).at(0),
            Column::new("tags", tags).at(1),
            Column::new("ls", ColumnType::array(l, true, "Option<Vec<L>>")).at(2),
        ],
    )
}

// ---------- SQL: generated text plus its meaning ----------

/// SQL's three truth values; `None` is UNKNOWN.
type T = Option<bool>;

fn not3(t: T) -> T {
    t.map(|b| !b)
}

fn and3(a: T, b: T) -> T {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or3(a: T, b: T) -> T {
    not3(and3(not3(a), not3(b)))
}

/// A comparison operator and its meaning.
fn op_holds(op: &str, ord: Ordering) -> bool {
    match op {
        "=" => ord == Ordering::Equal,
        "<>" => ord != Ordering::Equal,
        "<" => ord == Ordering::Less,
        _ => ord != Ordering::Less, // ">="
    }
}

fn op() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("="), Just("<>"), Just("<"), Just(">=")]
}

fn text() -> impl Strategy<Value = String> {
    "[ab]{0,2}"
}

/// A condition on one element of `ls` (alias `l`).
#[derive(Debug, Clone)]
enum Elem {
    Q(&'static str, i64),
    K(&'static str, String),
    QNull(bool),
    Not(Box<Elem>),
    And(Box<Elem>, Box<Elem>),
    Or(Box<Elem>, Box<Elem>),
}

/// A condition on one element of `tags` (alias `e`).
#[derive(Debug, Clone)]
enum Scalar {
    Cmp(&'static str, String),
    Prefix(String),
    Not(Box<Scalar>),
    And(Box<Scalar>, Box<Scalar>),
    Or(Box<Scalar>, Box<Scalar>),
}

#[derive(Debug, Clone)]
enum Expr {
    OX(&'static str, i64),
    OS(&'static str, String),
    OLike(bool, String),
    ONull(&'static str, bool),
    Any(String),
    Contains(Vec<String>),
    Cardinality(usize),
    First(&'static str, String),
    SecondQ(&'static str, i64),
    Exists(bool, Elem),
    ExistsTag(bool, Scalar),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

fn elem() -> impl Strategy<Value = Elem> {
    let leaf = prop_oneof![
        (op(), -1i64..3).prop_map(|(o, i)| Elem::Q(o, i)),
        (op(), text()).prop_map(|(o, s)| Elem::K(o, s)),
        any::<bool>().prop_map(Elem::QNull),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Elem::Not(Box::new(e))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Elem::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Elem::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn scalar() -> impl Strategy<Value = Scalar> {
    // A LIKE stands alone: pouchdb-server cannot combine `$regex`/ranges with other
    // operators inside a scalar `$elemMatch` (README: known gap).
    let cmp = (op(), text()).prop_map(|(o, s)| Scalar::Cmp(o, s));
    let tree = cmp.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Scalar::Not(Box::new(e))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Scalar::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Scalar::Or(Box::new(a), Box::new(b))),
        ]
    });
    prop_oneof![3 => tree, 1 => "[ab]{1,2}".prop_map(Scalar::Prefix)]
}

fn atom() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (op(), -1i64..3).prop_map(|(o, i)| Expr::OX(o, i)),
        (op(), text()).prop_map(|(o, s)| Expr::OS(o, s)),
        (any::<bool>(), "[ab%_]{0,3}").prop_map(|(n, p)| Expr::OLike(n, p)),
        (prop_oneof![Just("x"), Just("s")], any::<bool>()).prop_map(|(c, n)| Expr::ONull(c, n)),
        text().prop_map(Expr::Any),
        proptest::collection::vec(text(), 1..3).prop_map(Expr::Contains),
        (0usize..3).prop_map(Expr::Cardinality),
        (op(), text()).prop_map(|(o, s)| Expr::First(o, s)),
        (op(), -1i64..3).prop_map(|(o, i)| Expr::SecondQ(o, i)),
        (any::<bool>(), elem()).prop_map(|(n, e)| Expr::Exists(n, e)),
        (any::<bool>(), scalar()).prop_map(|(n, e)| Expr::ExistsTag(n, e)),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    atom().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn q(s: &str) -> String {
    format!("'{s}'")
}

impl Elem {
    fn sql(&self) -> String {
        match self {
            Elem::Q(o, i) => format!("l.q {o} {i}"),
            Elem::K(o, s) => format!("l.k {o} {}", q(s)),
            Elem::QNull(n) => format!("l.q IS {}NULL", if *n { "NOT " } else { "" }),
            Elem::Not(e) => format!("NOT ({})", e.sql()),
            Elem::And(a, b) => format!("({}) AND ({})", a.sql(), b.sql()),
            Elem::Or(a, b) => format!("({}) OR ({})", a.sql(), b.sql()),
        }
    }

    fn eval(&self, el: &Value) -> T {
        let field = |k: &str| el.as_object().and_then(|o| o.get(k)).filter(|v| !v.is_null());
        match self {
            Elem::Q(o, i) => field("q").and_then(Value::as_i64).map(|v| op_holds(o, v.cmp(i))),
            Elem::K(o, s) => field("k").and_then(Value::as_str).map(|v| op_holds(o, v.cmp(s.as_str()))),
            Elem::QNull(n) => Some(field("q").is_none() != *n),
            Elem::Not(e) => not3(e.eval(el)),
            Elem::And(a, b) => and3(a.eval(el), b.eval(el)),
            Elem::Or(a, b) => or3(a.eval(el), b.eval(el)),
        }
    }
}

impl Scalar {
    fn sql(&self) -> String {
        match self {
            Scalar::Cmp(o, s) => format!("e {o} {}", q(s)),
            Scalar::Prefix(p) => format!("e LIKE '{p}%'"),
            Scalar::Not(e) => format!("NOT ({})", e.sql()),
            Scalar::And(a, b) => format!("({}) AND ({})", a.sql(), b.sql()),
            Scalar::Or(a, b) => format!("({}) OR ({})", a.sql(), b.sql()),
        }
    }

    fn eval(&self, el: &Value) -> T {
        let s = el.as_str();
        match self {
            Scalar::Cmp(o, x) => s.map(|v| op_holds(o, v.cmp(x.as_str()))),
            Scalar::Prefix(p) => s.map(|v| v.starts_with(p.as_str())),
            Scalar::Not(e) => not3(e.eval(el)),
            Scalar::And(a, b) => and3(a.eval(el), b.eval(el)),
            Scalar::Or(a, b) => or3(a.eval(el), b.eval(el)),
        }
    }
}

/// A path's value under SQL: NULL (`None`) where any step is missing, null or of the wrong kind.
fn path<'a>(d: &'a Map<String, Value>, p: &[&str]) -> Option<&'a Value> {
    let mut cur = d.get(p[0])?;
    for s in &p[1..] {
        // A position (`tags[0]`) reads an array, a name (`o.x`) an object; nothing else.
        cur = match (cur, s.parse::<usize>()) {
            (Value::Array(a), Ok(i)) => a.get(i)?,
            (Value::Object(m), Err(_)) => m.get(*s)?,
            _ => return None,
        };
    }
    (!cur.is_null()).then_some(cur)
}

/// SQL LIKE without an escape character.
fn like(s: &[char], p: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('%', rest)) => (0..=s.len()).any(|i| like(&s[i..], rest)),
        Some(('_', rest)) => !s.is_empty() && like(&s[1..], rest),
        Some((c, rest)) => s.first() == Some(c) && like(&s[1..], rest),
    }
}

impl Expr {
    fn sql(&self) -> String {
        let not = |n: &bool| if *n { "NOT " } else { "" };
        match self {
            Expr::OX(o, i) => format!("o.x {o} {i}"),
            Expr::OS(o, s) => format!("o.s {o} {}", q(s)),
            Expr::OLike(n, p) => format!("o.s {}LIKE '{p}'", not(n)),
            Expr::ONull(c, n) => format!("o.{c} IS {}NULL", not(n)),
            Expr::Any(s) => format!("{} = ANY(tags)", q(s)),
            Expr::Contains(v) => format!("tags @> ARRAY[{}]", v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")),
            Expr::Cardinality(n) => format!("CARDINALITY(tags) = {n}"),
            Expr::First(o, s) => format!("tags[0] {o} {}", q(s)),
            Expr::SecondQ(o, i) => format!("ls[1].q {o} {i}"),
            Expr::Exists(n, e) => format!("{}EXISTS (SELECT 1 FROM UNNEST(ls) AS l WHERE {})", not(n), e.sql()),
            Expr::ExistsTag(n, e) => format!("{}EXISTS (SELECT 1 FROM UNNEST(tags) AS e WHERE {})", not(n), e.sql()),
            Expr::Not(e) => format!("NOT ({})", e.sql()),
            Expr::And(a, b) => format!("({}) AND ({})", a.sql(), b.sql()),
            Expr::Or(a, b) => format!("({}) OR ({})", a.sql(), b.sql()),
        }
    }

    fn eval(&self, d: &Map<String, Value>) -> T {
        let array = |f: &str| path(d, &[f]).and_then(Value::as_array);
        match self {
            Expr::OX(o, i) => path(d, &["o", "x"]).and_then(Value::as_i64).map(|v| op_holds(o, v.cmp(i))),
            Expr::OS(o, s) => path(d, &["o", "s"]).and_then(Value::as_str).map(|v| op_holds(o, v.cmp(s.as_str()))),
            Expr::OLike(n, p) => path(d, &["o", "s"])
                .and_then(Value::as_str)
                .map(|v| like(&v.chars().collect::<Vec<_>>(), &p.chars().collect::<Vec<_>>()) != *n),
            Expr::ONull(c, n) => Some(path(d, &["o", c]).is_none() != *n),
            Expr::Any(s) => {
                let a = array("tags")?;
                if a.iter().any(|e| e.as_str() == Some(s)) {
                    Some(true)
                } else if a.iter().any(Value::is_null) {
                    None
                } else {
                    Some(false)
                }
            }
            Expr::Contains(v) => array("tags").map(|a| v.iter().all(|s| a.iter().any(|e| e.as_str() == Some(s)))),
            Expr::Cardinality(n) => array("tags").map(|a| a.len() == *n),
            Expr::First(o, s) => {
                path(d, &["tags", "0"]).and_then(Value::as_str).map(|v| op_holds(o, v.cmp(s.as_str())))
            }
            Expr::SecondQ(o, i) => path(d, &["ls", "1", "q"]).and_then(Value::as_i64).map(|v| op_holds(o, v.cmp(i))),
            // EXISTS is never UNKNOWN: the set of elements is empty or it is not.
            Expr::Exists(n, e) => Some(array("ls").is_some_and(|a| a.iter().any(|el| e.eval(el) == Some(true))) != *n),
            Expr::ExistsTag(n, e) => {
                Some(array("tags").is_some_and(|a| a.iter().any(|el| e.eval(el) == Some(true))) != *n)
            }
            Expr::Not(e) => not3(e.eval(d)),
            Expr::And(a, b) => and3(a.eval(d), b.eval(d)),
            Expr::Or(a, b) => or3(a.eval(d), b.eval(d)),
        }
    }
}

// ---------- documents: shapes other programs leave ----------

fn scalar_value() -> impl Strategy<Value = Value> {
    prop_oneof![Just(Value::Null), (-1i64..3).prop_map(|i| json!(i)), text().prop_map(|s| json!(s)), Just(json!(false))]
}

fn object_of(keys: [&'static str; 2]) -> impl Strategy<Value = Value> {
    (proptest::option::of(scalar_value()), proptest::option::of(scalar_value())).prop_map(move |(a, b)| {
        let mut m = Map::new();
        for (k, v) in keys.iter().zip([a, b]) {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        }
        Value::Object(m)
    })
}

fn document() -> impl Strategy<Value = Map<String, Value>> {
    let o = prop_oneof![3 => object_of(["x", "s"]), 1 => scalar_value(), 1 => Just(json!([]))];
    let tags = prop_oneof![
        4 => proptest::collection::vec(prop_oneof![4 => text().prop_map(|s| json!(s)), 1 => scalar_value()], 0..4)
            .prop_map(Value::Array),
        1 => scalar_value(),
        1 => object_of(["0", "x"]),
    ];
    let ls = prop_oneof![
        4 => proptest::collection::vec(prop_oneof![4 => object_of(["q", "k"]), 1 => scalar_value()], 0..4)
            .prop_map(Value::Array),
        1 => scalar_value(),
        1 => object_of(["q", "k"]),
    ];
    (proptest::option::of(o), proptest::option::of(tags), proptest::option::of(ls)).prop_map(|(o, tags, ls)| {
        let mut m = Map::new();
        m.insert("type".into(), json!("t"));
        for (k, v) in [("o", o), ("tags", tags), ("ls", ls)] {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        }
        m
    })
}

// ---------- Mango: the two servers ----------

fn segments(field: &str) -> Vec<String> {
    couch_translate::path::segments(field)
}

fn regex_match(pattern: &Value, s: &str) -> bool {
    // JavaScript's one UTF-16 unit (pouchdb-server's flavour) is one character of this ASCII text.
    let pattern = pattern.as_str().unwrap().replace(r"(?:[\uD800-\uDBFF][\uDC00-\uDFFF]|[^\uD800-\uDFFF])", r"[\s\S]");
    fancy_regex::Regex::new(&pattern).unwrap().is_match(s).unwrap()
}

mod pouchdb {
    //! `pouchdb-selector-core`'s `rowFilter`/`matchSelector` as pouchdb-server
    //! 4.2.0 runs them. `Err` is the 400 the server answers.
    use super::*;

    /// The server's 500 on an array of objects that holds a null (reading a field
    /// of it is a TypeError) or that starts with a non-object (then `$and`/`$or`/`$nor`
    /// inside `$elemMatch` are unknown operators).
    pub const NULL_STEP: &str = "an array of objects holding a null, or starting with a non-object";

    /// `getFieldFromDoc`: `value = value[key]` step by step, stopping after a falsy value.
    fn get(v: Option<&Value>, path: &[String]) -> Result<Option<Value>, String> {
        let mut cur = v.cloned();
        for key in path {
            cur = match &cur {
                None | Some(Value::Null) => return Err(NULL_STEP.into()),
                Some(Value::Object(m)) => m.get(key).cloned(),
                Some(Value::Array(a)) => key.parse::<usize>().ok().and_then(|i| a.get(i).cloned()),
                // JavaScript indexes into strings.
                Some(Value::String(s)) => {
                    key.parse::<usize>().ok().and_then(|i| s.chars().nth(i)).map(|c| json!(c.to_string()))
                }
                Some(_) => None,
            };
            let falsy = match &cur {
                None | Some(Value::Null) | Some(Value::Bool(false)) => true,
                Some(Value::Number(n)) => n.as_f64() == Some(0.0),
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if falsy {
                break;
            }
        }
        Ok(cur)
    }

    /// The whole selector. `massageSelector` merges every `$and` that is the
    /// whole selector or an item of a list (`$or: [{"$and": …}]`) into one object,
    /// which is a conjunction for the selectors couch-sql writes. One that is the
    /// direct argument of `$elemMatch` it leaves alone, and there it fails.
    pub fn find(sel: &Value, doc: &Value) -> Result<bool, String> {
        row(sel, doc, false)
    }

    fn row(sel: &Value, doc: &Value, elem_arg: bool) -> Result<bool, String> {
        let sel = sel.as_object().unwrap();
        for (k, arg) in sel {
            let list = || arg.as_array().unwrap().iter();
            let ok = match k.as_str() {
                "$and" if elem_arg => return Err("$and read as a field name: TypeError".into()),
                "$and" => all(list().map(|s| row(s, doc, false)))?,
                "$or" => any(list().map(|s| row(s, doc, false)))?,
                "$nor" => !any(list().map(|s| row(s, doc, false)))?,
                "$not" => !row(arg, doc, false)?,
                field => matcher(arg, &get(Some(doc), &segments(field))?)?,
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn all(mut it: impl Iterator<Item = Result<bool, String>>) -> Result<bool, String> {
        it.try_fold(true, |acc, r| r.map(|b| acc && b))
    }

    fn any(mut it: impl Iterator<Item = Result<bool, String>>) -> Result<bool, String> {
        it.try_fold(false, |acc, r| r.map(|b| acc || b))
    }

    /// `matchSelector`: an operator map, sub-fields, or a bare value.
    fn matcher(m: &Value, v: &Option<Value>) -> Result<bool, String> {
        match m {
            Value::Object(o) => {
                for (k, arg) in o {
                    let ok = if k.starts_with('$') {
                        operator(k, arg, v)?
                    } else {
                        // A missing field with a bare value is false before any lookup.
                        if v.is_none() && !arg.is_object() {
                            return Ok(false);
                        }
                        let sub = get(v.as_ref(), &segments(k))?;
                        if arg.is_object() {
                            matcher(arg, &sub)?
                        } else {
                            sub.as_ref().is_some_and(|s| collate(s, arg).is_eq())
                        }
                    };
                    if !ok {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            other => Ok(v.as_ref() == Some(other)),
        }
    }

    fn operator(op: &str, arg: &Value, v: &Option<Value>) -> Result<bool, String> {
        let defined = v.as_ref();
        let exists = defined.filter(|x| !x.is_null());
        let cmp = |f: fn(Ordering) -> bool| defined.is_some_and(|x| f(collate(x, arg)));
        Ok(match op {
            "$eq" => cmp(Ordering::is_eq),
            "$gt" => cmp(Ordering::is_gt),
            "$gte" => cmp(Ordering::is_ge),
            "$lt" => cmp(Ordering::is_lt),
            "$lte" => cmp(Ordering::is_le),
            "$ne" => {
                let values = arg.as_array().cloned().unwrap_or_else(|| vec![arg.clone()]);
                values.iter().all(|a| defined.is_none_or(|x| collate(x, a).is_ne()))
            }
            "$exists" => defined.is_some() == arg.as_bool().unwrap(),
            "$in" | "$nin" => {
                let hit = exists.is_some_and(|x| {
                    arg.as_array().unwrap().iter().any(|a| match x {
                        Value::Array(items) => items.iter().any(|i| collate(a, i).is_eq()),
                        _ => collate(a, x).is_eq(),
                    })
                });
                exists.is_some() && (hit == (op == "$in"))
            }
            "$size" => exists.and_then(Value::as_array).is_some_and(|a| a.len() as u64 == arg.as_u64().unwrap()),
            "$all" => defined.and_then(Value::as_array).is_some_and(|items| {
                arg.as_array().unwrap().iter().all(|a| items.iter().any(|i| collate(a, i).is_eq()))
            }),
            "$regex" => {
                let pattern = match arg {
                    Value::String(_) => arg.clone(),
                    Value::Array(a) if a.len() == 1 => a[0].clone(),
                    _ => return Err(format!("$regex of {arg}")),
                };
                exists.and_then(Value::as_str).is_some_and(|s| regex_match(&pattern, s))
            }
            "$type" => defined.is_some_and(|x| json_type_name(x) == arg.as_str().unwrap()),
            "$elemMatch" => match defined.and_then(Value::as_array) {
                Some(items) if !items.is_empty() => {
                    if items[0].is_object() {
                        any(items.iter().map(|el| row(arg, el, true)))?
                    } else {
                        // Scalar mode, chosen by the first element: a combinator is an
                        // unknown operator there, also in an array of objects that starts
                        // with a null or a number (README: known gap).
                        any(items.iter().map(|el| matcher(arg, &Some(el.clone())))).map_err(|e| {
                            if e.starts_with("unknown operator") {
                                NULL_STEP.to_string()
                            } else {
                                e
                            }
                        })?
                    }
                }
                _ => false,
            },
            other => return Err(format!("unknown operator \"{other}\"")),
        })
    }
}

fn find_selector(sql: &str, dialect: Dialect) -> Value {
    let t = translate(sql, Some(&schema())).unwrap_or_else(|e| panic!("{sql}\n{e}"));
    let Plan::Select(s) = t.plan else { panic!("not a select") };
    let mut out = Vec::new();
    s.selector.compile().render_in(&[], dialect, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

/// `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(400), ..ProptestConfig::default() })]

    #[test]
    fn nested_selectors_mean_what_the_sql_means(e in expr(), docs in proptest::collection::vec(document(), 16)) {
        let sql = format!("SELECT * FROM t WHERE {}", e.sql());
        let couch = find_selector(&sql, Dialect::couchdb(Some("3.4.3")));
        let pouch = find_selector(&sql, Dialect::pouchdb());
        // What the runtime does on pouchdb-server with `$elemMatch`: the server gets the
        // relaxed selector, the client matches the exact one (rendered for the engine).
        let relaxed = couch_translate::relax::elem_match(&pouch);
        let exact = find_selector(&sql, Dialect::embedded());
        for doc in &docs {
            let want = e.eval(doc) == Some(true);
            let d = Value::Object(doc.clone());
            // CouchDB's reading is the embedded engine's evaluator, written from mango_selector.erl.
            prop_assert_eq!(couch_semantics::mango::matches(&couch, &d), want, "CouchDB\n{}\nselector {}\ndoc {}", sql, couch, d);
            if let Some(relaxed) = &relaxed {
                // The server's answer holds every row, and the client keeps exactly the rows.
                // (A stored document always has an `_id`, which "always" tests.)
                let mut stored = doc.clone();
                stored.insert("_id".into(), json!("doc"));
                let server = pouchdb::find(relaxed, &Value::Object(stored));
                prop_assert!(server.is_ok(), "pouchdb-server fails on the relaxed selector\n{}\n{}\ndoc {}", sql, relaxed, d);
                prop_assert!(!want || server == Ok(true), "the relaxed selector loses a row\n{}\n{}\ndoc {}", sql, relaxed, d);
                prop_assert_eq!(couch_semantics::mango::matches(&exact, &d), want, "client\n{}\nselector {}\ndoc {}", sql, exact, d);
                continue;
            }
            match pouchdb::find(&pouch, &d) {
                // pouchdb-server 4.2.0 fails on a null element of an array of objects under
                // `$elemMatch`; such selectors take the relaxed path above.
                Err(e) if e == pouchdb::NULL_STEP => {}
                got => prop_assert_eq!(got, Ok(want), "pouchdb-server\n{}\nselector {}\ndoc {}", sql, pouch, d),
            }
        }
    }
}
