//! `WHERE` → Mango selector, with SQL's NULL semantics.
//!
//! The condition is first built as a small logic tree, `NOT` is pushed down to
//! the comparisons (De Morgan holds in SQL's three-valued logic), and every
//! comparison is then emitted so that it matches only documents where the
//! column is present, non-null and of the compared type. A positive AND/OR of
//! such comparisons is true exactly where SQL's WHERE is true, and its meaning
//! does not depend on how CouchDB and pouchdb-server differ on `$ne`, `$nin`
//! and `$not` over missing fields.

use super::{Cx, ResolvedColumn};
use crate::like::{like_to_regex, DEFAULT_ESCAPE};
use crate::plan::ParamUsage;
use crate::schema::{ColumnType, Kind, TableKey};
use crate::template::Tmpl;
use sqlparser::ast::{BinaryOperator, Expr, InTarget, Spanned, UnaryOperator, Value};

/// A literal value from the SQL text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Lit {
    pub(crate) fn tmpl(&self) -> Tmpl {
        match self {
            Lit::Null => Tmpl::Null,
            Lit::Bool(b) => Tmpl::Bool(*b),
            Lit::Int(i) => Tmpl::Int(*i),
            Lit::Float(f) => Tmpl::Float(*f),
            Lit::Str(s) => Tmpl::Str(s.clone()),
        }
    }

    fn json_type(&self) -> Option<&'static str> {
        match self {
            Lit::Null => None,
            Lit::Bool(_) => Some("boolean"),
            Lit::Int(_) | Lit::Float(_) => Some("number"),
            Lit::Str(_) => Some("string"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Lit::Null => "NULL".into(),
            Lit::Bool(b) => format!("the boolean {}", if *b { "TRUE" } else { "FALSE" }),
            Lit::Int(i) => format!("the integer {i}"),
            Lit::Float(f) => format!("the number {f}"),
            Lit::Str(s) => format!("the string '{s}'"),
        }
    }
}

/// A value in a condition: a literal or the n-th parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Lit(Lit),
    Param(usize),
    /// `ARRAY[…]`.
    Array(Vec<Operand>),
}

impl Operand {
    pub(crate) fn tmpl(&self) -> Tmpl {
        match self {
            Operand::Lit(l) => l.tmpl(),
            Operand::Param(i) => Tmpl::Param(*i),
            Operand::Array(v) => Tmpl::Array(v.iter().map(Operand::tmpl).collect()),
        }
    }

    /// The parameters in this value: a NULL bound to any of them makes a comparison unknown.
    fn params(&self) -> Vec<usize> {
        match self {
            Operand::Param(i) => vec![*i],
            Operand::Lit(_) => vec![],
            Operand::Array(v) => v.iter().flat_map(Operand::params).collect(),
        }
    }

    fn has_null(&self) -> bool {
        match self {
            Operand::Lit(l) => *l == Lit::Null,
            Operand::Param(_) => false,
            Operand::Array(v) => v.iter().any(Operand::has_null),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The comparison an SQL operator names (`=`, `<>`/`!=`, `<`, `<=`, `>`, `>=`).
    fn from_sql(op: &BinaryOperator) -> Option<CmpOp> {
        Some(match op {
            BinaryOperator::Eq => CmpOp::Eq,
            BinaryOperator::NotEq => CmpOp::Ne,
            BinaryOperator::Lt => CmpOp::Lt,
            BinaryOperator::LtEq => CmpOp::Le,
            BinaryOperator::Gt => CmpOp::Gt,
            BinaryOperator::GtEq => CmpOp::Ge,
            _ => return None,
        })
    }

    fn negate(self) -> Self {
        match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Ge => CmpOp::Lt,
        }
    }

    /// `a < b` ⇔ `b > a`.
    fn flip(self) -> Self {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }

    fn mango(self) -> &'static str {
        match self {
            CmpOp::Eq => "$eq",
            CmpOp::Ne => "$ne",
            CmpOp::Lt => "$lt",
            CmpOp::Le => "$lte",
            CmpOp::Gt => "$gt",
            CmpOp::Ge => "$gte",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Cmp(CmpOp, Operand),
    In {
        negated: bool,
        items: Vec<Operand>,
    },
    Between {
        negated: bool,
        low: Operand,
        high: Operand,
    },
    Like {
        negated: bool,
        pattern: Operand,
        escape: Option<char>,
    },
    IsNull {
        negated: bool,
        /// A field of an `UNNEST` element: NULL also where the element itself is
        /// not an object (null, a number, …), as a missing intermediate object is.
        in_element: bool,
    },
    /// The field is present (any value, null included).
    Exists {
        negated: bool,
    },
    /// `value op ANY(array)`: some element compares true.
    Any {
        op: CmpOp,
        value: Operand,
        negated: bool,
    },
    /// `array @> ARRAY[…]` (or a whole-array parameter): holds every item.
    Contains {
        items: Operand,
        negated: bool,
    },
    /// `col = ANY(?)`: the column equals one of the elements of an array parameter.
    InElements {
        param: usize,
        negated: bool,
    },
    /// `CARDINALITY(array) = n`.
    Size {
        n: Operand,
        negated: bool,
    },
    /// `EXISTS (SELECT … FROM UNNEST(array) AS e WHERE inner)`: one element
    /// satisfies all of `inner`, whose paths are relative to the element.
    Elem {
        inner: Box<Cond>,
        /// The elements are scalars (`inner` tests the element itself).
        scalar: bool,
        negated: bool,
    },
}

/// A condition on one column.
#[derive(Debug, Clone, PartialEq)]
struct Atom {
    field: String,
    /// Which segments of `field` are array positions (bit `i` for segment `i`); a
    /// number that is not one is an object key (`stats."2024"`).
    positions: u64,
    ty: Option<ColumnType>,
    test: Test,
}

/// A condition tree; after [`Cond::not`] is applied, `NOT` only appears inside atoms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    True,
    False,
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Atom(Box<AtomCond>),
}

/// Boxed to keep [`Cond`] small.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AtomCond(Atom);

impl Cond {
    fn atom(a: Atom) -> Cond {
        Cond::Atom(Box::new(AtomCond(a)))
    }

    /// `_id LIKE 'prefix%'`: the documents of an id-prefixed table.
    pub(crate) fn id_prefix(prefix: &str) -> Cond {
        let pattern: String = prefix
            .chars()
            .flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] })
            .chain(['%'])
            .collect();
        let test = Test::Like { negated: false, pattern: Operand::Lit(Lit::Str(pattern)), escape: Some('\\') };
        Cond::atom(Atom { field: "_id".to_string(), positions: 0, ty: None, test })
    }

    /// The field is present in the document.
    pub(crate) fn exists(field: &str) -> Cond {
        Cond::atom(Atom { field: field.to_string(), positions: 0, ty: None, test: Test::Exists { negated: false } })
    }

    /// The json index that serves this condition, under CouchDB's rules: an
    /// index is usable when every field it lists is required by the selector,
    /// and a range scan needs the equality fields first. So: `type`, then the
    /// fields an AND of the whole condition compares with `=`, then the first
    /// field it bounds with `<`, `<=`, `>`, `>=` or BETWEEN. Only conditions
    /// that fail on a missing field are used, because a json index leaves out
    /// the documents that lack an indexed field (so `IS NULL` never is).
    /// `None` when nothing is worth indexing (an id-prefixed table's whole scan
    /// reads the primary index).
    pub(crate) fn index_fields(&self, key: &TableKey) -> Option<Vec<String>> {
        let conjuncts: Vec<&Cond> = match self {
            Cond::And(v) => v.iter().collect(),
            c => vec![c],
        };
        let mut eq: Vec<String> = Vec::new();
        let mut range: Option<String> = None;
        for c in conjuncts {
            let Cond::Atom(a) = c else { continue };
            let a = &a.0;
            if a.field == "_id" || key.mango_field().as_deref() == Some(a.field.as_str()) {
                continue;
            }
            let f = a.field.clone();
            match &a.test {
                Test::Cmp(CmpOp::Eq, _) if !eq.contains(&f) => eq.push(f),
                Test::Cmp(CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge, _) | Test::Between { negated: false, .. } => {
                    range.get_or_insert(f);
                }
                // `LIKE 'prefix%'` is `$beginsWith` on CouchDB 3.4+, a range of the index.
                Test::Like { negated: false, pattern: Operand::Lit(Lit::Str(p)), escape }
                    if matches!(crate::like::like_prefix(p, *escape), Ok(Some(_))) =>
                {
                    range.get_or_insert(f);
                }
                _ => {}
            }
        }
        let mut fields = key.index_head();
        fields.extend(eq.iter().cloned());
        if let Some(r) = range.filter(|r| !eq.contains(r)) {
            fields.push(r);
        }
        (!fields.is_empty()).then_some(fields)
    }

    /// The document fields this condition requires to be present (a conjunct
    /// that fails on a missing field), `type` first, as Mango paths.
    pub(crate) fn required_fields(&self, key: &TableKey) -> Vec<String> {
        let conjuncts: Vec<&Cond> = match self {
            Cond::And(v) => v.iter().collect(),
            c => vec![c],
        };
        let mut out = key.index_head();
        for c in conjuncts {
            let Cond::Atom(a) = c else { continue };
            let a = &a.0;
            let present = !matches!(a.test, Test::IsNull { negated: false, .. } | Test::Exists { negated: true });
            let f = a.field.clone();
            if present && !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }

    /// The ids of `_id = x` or `_id IN (…)` when that is the whole condition.
    pub(crate) fn id_lookup(&self) -> Option<Vec<Tmpl>> {
        let Cond::Atom(a) = self else { return None };
        let a = &a.0;
        if a.field != "_id" {
            return None;
        }
        match &a.test {
            Test::Cmp(CmpOp::Eq, v) => Some(vec![v.tmpl()]),
            Test::In { negated: false, items } => Some(items.iter().map(Operand::tmpl).collect()),
            _ => None,
        }
    }

    /// SQL `NOT`, pushed down to the atoms.
    fn not(self) -> Cond {
        match self {
            Cond::True => Cond::False,
            Cond::False => Cond::True,
            Cond::And(v) => Cond::Or(v.into_iter().map(Cond::not).collect()),
            Cond::Or(v) => Cond::And(v.into_iter().map(Cond::not).collect()),
            Cond::Atom(a) => {
                let mut a = a.0;
                a.test = match a.test {
                    Test::Cmp(op, v) => Test::Cmp(op.negate(), v),
                    Test::In { negated, items } => Test::In { negated: !negated, items },
                    Test::Between { negated, low, high } => Test::Between { negated: !negated, low, high },
                    Test::Like { negated, pattern, escape } => Test::Like { negated: !negated, pattern, escape },
                    Test::IsNull { negated, in_element } => Test::IsNull { negated: !negated, in_element },
                    Test::Exists { negated } => Test::Exists { negated: !negated },
                    Test::Any { op, value, negated } => Test::Any { op, value, negated: !negated },
                    Test::Contains { items, negated } => Test::Contains { items, negated: !negated },
                    Test::Size { n, negated } => Test::Size { n, negated: !negated },
                    Test::InElements { param, negated } => Test::InElements { param, negated: !negated },
                    Test::Elem { inner, scalar, negated } => Test::Elem { inner, scalar, negated: !negated },
                };
                Cond::atom(a)
            }
        }
    }

    /// The Mango selector for this condition.
    pub(crate) fn mango(&self) -> Tmpl {
        match self {
            Cond::True => Tmpl::Object(vec![]),
            Cond::False => never(),
            // One conjunction object with nothing left for pouchdb-server to fold (see
            // `merged_selector`), in a one-item `$and` so that pouchdb-server
            // normalises it (a LIKE's `$regex`) as it does a top-level selector.
            Cond::And(_) => match super::select::merged_selector(vec![], self.clone()) {
                t @ Tmpl::Object(_) if !is_and(&t) => obj1("$and", Tmpl::Array(vec![t])),
                Tmpl::Guard { params, inner } if !is_and(&inner) => {
                    Tmpl::Guard { params, inner: Box::new(obj1("$and", Tmpl::Array(vec![*inner]))) }
                }
                Tmpl::Agree { pairs, inner } if !is_and(&inner) => {
                    Tmpl::Agree { pairs, inner: Box::new(obj1("$and", Tmpl::Array(vec![*inner]))) }
                }
                t => t,
            },
            Cond::Or(v) => {
                // pouchdb-server 4.2.0 evaluates `$regex` only where its selector
                // normaliser turned the value into a list: at the top, or inside `$and`.
                // Under `$or` it fails ("userValue.every is not a function"), so a LIKE
                // there stands in a one-item `$and` (the same selector for CouchDB).
                let items = v
                    .iter()
                    .map(|c| match c {
                        Cond::Atom(a) if matches!(a.0.test, Test::Like { .. }) => {
                            obj1("$and", Tmpl::Array(vec![c.mango()]))
                        }
                        c => c.mango(),
                    })
                    .collect();
                obj1("$or", Tmpl::Array(items))
            }
            Cond::Atom(a) => guard_path(&a.0, atom_mango(&a.0)),
        }
    }

    /// Flattens nested AND/OR and folds TRUE/FALSE.
    pub(crate) fn simplify(self) -> Cond {
        match self {
            Cond::And(v) => fold(v, true),
            Cond::Or(v) => fold(v, false),
            other => other,
        }
    }
}

fn fold(items: Vec<Cond>, is_and: bool) -> Cond {
    let (unit, zero) = if is_and { (Cond::True, Cond::False) } else { (Cond::False, Cond::True) };
    let mut out = Vec::new();
    for c in items {
        match c.simplify() {
            c if c == unit => {}
            c if c == zero => return zero,
            Cond::And(inner) if is_and => out.extend(inner),
            Cond::Or(inner) if !is_and => out.extend(inner),
            c => out.push(c),
        }
    }
    match out.len() {
        0 => unit,
        1 => out.pop().expect("one item"),
        _ if is_and => Cond::And(out),
        _ => Cond::Or(out),
    }
}

/// The conjuncts of an `$and`, with at most one `$or` among them.
///
/// pouchdb-server 4.2.0 merges sibling `$or`s into one by distributing them, and
/// drops every merged branch whose fields collapse (`(c > 'A' OR …) AND (c < 'M' OR …)`
/// loses `c > 'A' AND c < 'M'`). So the second and later ones are written as
/// `{"$nor": [{"$nor": [X]}, …]}`, which is X AND … on both servers (CouchDB
/// rewrites `NOT NOR` to `OR`), and which pouchdb-server evaluates without merging.
pub(crate) fn one_or(items: Vec<Tmpl>) -> Vec<Tmpl> {
    let is_or = |t: &Tmpl| match t {
        Tmpl::Object(e) => e.len() == 1 && e[0].0 == "$or",
        Tmpl::Guard { inner, .. } | Tmpl::Agree { inner, .. } => {
            matches!(inner.as_ref(), Tmpl::Object(e) if e.len() == 1 && e[0].0 == "$or")
        }
        _ => false,
    };
    let mut out = Vec::with_capacity(items.len());
    let mut extra = Vec::new();
    let mut seen = false;
    for t in items {
        if is_or(&t) {
            if seen {
                extra.push(obj1("$nor", Tmpl::Array(vec![t])));
                continue;
            }
            seen = true;
        }
        out.push(t);
    }
    if !extra.is_empty() {
        out.push(obj1("$nor", Tmpl::Array(extra)));
    }
    out
}

/// A selector that matches no document.
pub(crate) fn never() -> Tmpl {
    obj1("_id", obj1("$in", Tmpl::Array(vec![])))
}

pub(crate) fn obj1(k: &str, v: Tmpl) -> Tmpl {
    Tmpl::Object(vec![(k.to_string(), v)])
}

/// The `$type` guard: from the column's type, else from the compared value.
fn type_guard(a: &Atom, v: &Operand) -> Tmpl {
    if let Some(ty) = &a.ty {
        return Tmpl::Str(ty.kind.json_type().to_string());
    }
    match v {
        Operand::Lit(l) => Tmpl::Str(l.json_type().unwrap_or("null").to_string()),
        Operand::Param(i) => Tmpl::TypeOf(*i),
        Operand::Array(_) => Tmpl::Str("array".into()),
    }
}

fn guarded(params: Vec<usize>, inner: Tmpl) -> Tmpl {
    if params.is_empty() {
        inner
    } else {
        Tmpl::Guard { params, inner: Box::new(inner) }
    }
}

fn atom_mango(a: &Atom) -> Tmpl {
    let f = a.field.clone();
    let cond =
        |ops: Vec<(&str, Tmpl)>| obj1(&f, Tmpl::Object(ops.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    let whole_array = a.ty.as_ref().is_some_and(|t| t.kind == Kind::Array);
    let eq = |v: &Operand| obj1(&f, obj1("$eq", v.tmpl()));
    match &a.test {
        // Whole arrays: `$in`/`$nin`/`$ne` test an array field element by element
        // on CouchDB, so (in)equality with arrays is spelled with `$eq` alone.
        Test::Cmp(CmpOp::Ne, v) if whole_array || matches!(v, Operand::Array(_)) => {
            guarded(v.params(), not_in_array(&f, vec![eq(v)]))
        }
        Test::In { negated, items } if whole_array || items.iter().any(|i| matches!(i, Operand::Array(_))) => {
            if items.contains(&Operand::Lit(Lit::Null)) && *negated {
                return never();
            }
            let eqs: Vec<Tmpl> =
                items.iter().filter(|i| **i != Operand::Lit(Lit::Null)).map(|i| guarded(i.params(), eq(i))).collect();
            if *negated {
                let params = items.iter().flat_map(Operand::params).collect();
                guarded(params, not_in_array(&f, eqs))
            } else if eqs.is_empty() {
                never()
            } else {
                obj1("$or", Tmpl::Array(eqs))
            }
        }
        Test::Cmp(CmpOp::Eq, v) => guarded(v.params(), cond(vec![("$eq", v.tmpl())])),
        // `$nin: [v]`, not `$ne: v`: pouchdb-server 4.2.0 fails `$ne` under `$or`
        // ("userValue.every is not a function"); with the `$type` guard both mean `<>`.
        Test::Cmp(CmpOp::Ne, v) => {
            guarded(v.params(), cond(vec![("$type", type_guard(a, v)), ("$nin", Tmpl::Array(vec![v.tmpl()]))]))
        }
        Test::Cmp(op, v) => guarded(v.params(), cond(vec![("$type", type_guard(a, v)), (op.mango(), v.tmpl())])),
        Test::InElements { param, negated: false } => cond(vec![("$in", Tmpl::Elements(*param))]),
        Test::InElements { param, negated: true } => {
            // Present, not NULL, of the column's kind, and none of the elements; never
            // when an element is NULL (`x NOT IN (…, NULL)` is never true).
            let guard = match &a.ty {
                Some(t) if t.kind.is_scalar() => ("$type", Tmpl::Str(t.kind.json_type().into())),
                _ => ("$gt", Tmpl::Null),
            };
            Tmpl::NoNullElement { param: *param, inner: Box::new(cond(vec![guard, ("$nin", Tmpl::Elements(*param))])) }
        }
        Test::In { negated: false, items } => {
            // A NULL item never matches; CouchDB 3.4.3 also fails `$in` lists holding a
            // null with 500 function_clause (mango_idx_view:is_text_search), so it is left out.
            let items = items.iter().filter(|i| **i != Operand::Lit(Lit::Null)).map(Operand::tmpl).collect();
            cond(vec![("$in", Tmpl::InList(items))])
        }
        Test::In { negated: true, items } => {
            if items.contains(&Operand::Lit(Lit::Null)) {
                // `x NOT IN (…, NULL)` is never true in SQL.
                return never();
            }
            let guard = match items.first() {
                Some(first) => type_guard(a, first),
                None => return obj1(&f, obj1("$gt", Tmpl::Null)),
            };
            guarded(
                items.iter().flat_map(Operand::params).collect(),
                cond(vec![("$type", guard), ("$nin", Tmpl::Array(items.iter().map(Operand::tmpl).collect()))]),
            )
        }
        Test::Between { negated, low, high } => {
            let params = [low, high].iter().flat_map(|o| o.params()).collect();
            let t = type_guard(a, low);
            let inner = if *negated {
                Tmpl::Object(vec![(
                    "$or".into(),
                    Tmpl::Array(vec![
                        cond(vec![("$type", t.clone()), ("$lt", low.tmpl())]),
                        cond(vec![("$type", t), ("$gt", high.tmpl())]),
                    ]),
                )])
            } else {
                cond(vec![("$type", t), ("$gte", low.tmpl()), ("$lte", high.tmpl())])
            };
            guarded(params, inner)
        }
        Test::Like { negated, pattern, escape } => {
            let like =
                |pattern| obj1(&f, Tmpl::Like { pattern: Box::new(pattern), negated: *negated, escape: *escape });
            match pattern {
                Operand::Lit(Lit::Str(p)) if like_to_regex(p, *escape, *negated).is_ok() => like(Tmpl::Str(p.clone())),
                Operand::Param(i) => guarded(vec![*i], like(Tmpl::Param(*i))),
                Operand::Lit(_) | Operand::Array(_) => never(), // a bad pattern is reported at translation time
            }
        }
        // A scalar element inside `$elemMatch` is present: NULL is `null` itself.
        Test::IsNull { negated, .. } if f.is_empty() => {
            obj1(&f, obj1(if *negated { "$gt" } else { "$eq" }, Tmpl::Null))
        }
        // A nested path is NULL where any object on the way is missing, null or
        // not an object (CouchDB's `$exists: false` is false there: "bad_path").
        Test::IsNull { negated: false, in_element } => {
            let mut any = if has_inner_dot(&f) {
                path_broken(&f, a.positions)
            } else {
                vec![obj1(&f, obj1("$exists", Tmpl::Bool(false)))]
            };
            any.push(obj1(&f, obj1("$eq", Tmpl::Null)));
            // The element itself not an object: CouchDB applies an operator outside a
            // field to the element. pouchdb-server reads `$type` there as a field name
            // (missing: false), and already finds the field missing on a non-object.
            if *in_element {
                for t in ["null", "boolean", "number", "string", "array"] {
                    any.push(obj1("$type", Tmpl::Str(t.into())));
                }
            }
            obj1("$or", Tmpl::Array(any))
        }
        Test::IsNull { negated: true, .. } => obj1(&f, obj1("$gt", Tmpl::Null)),
        Test::Exists { negated } => obj1(&f, obj1("$exists", Tmpl::Bool(!negated))),
        Test::Any { op, value, negated } => {
            let elem =
                Atom { field: String::new(), positions: 0, ty: element_type(a), test: Test::Cmp(*op, value.clone()) };
            let matches = obj1(&f, obj1("$elemMatch", unwrap_scalar(atom_mango(&elem))));
            let inner = if *negated {
                // SQL: NOT (v = ANY(a)) is true when `a` is an array, no element
                // matches, and none is NULL (a NULL element makes it unknown).
                let null_elem = obj1(&f, obj1("$elemMatch", obj1("$eq", Tmpl::Null)));
                not_in_array(&f, vec![matches, null_elem])
            } else {
                matches
            };
            guarded(value.params(), inner)
        }
        Test::Contains { items, negated } => {
            let all = match items {
                // Every array holds all of no items.
                Operand::Array(v) if v.is_empty() => obj1(&f, obj1("$type", Tmpl::Str("array".into()))),
                items => obj1(&f, obj1("$all", items.tmpl())),
            };
            let inner = if *negated { not_in_array(&f, vec![all]) } else { all };
            guarded(items.params(), inner)
        }
        Test::Size { n, negated } => {
            let size = obj1(&f, obj1("$size", n.tmpl()));
            if *negated {
                not_in_array(&f, vec![size])
            } else {
                size
            }
        }
        Test::Elem { inner, scalar, negated } => {
            let sel = if *scalar {
                scalar_selector(inner)
            } else {
                and_as_double_nor(super::select::merged_selector(vec![], (**inner).clone()))
            };
            let m = obj1(&f, obj1("$elemMatch", sel));
            // NOT EXISTS over a missing or empty array is true. CouchDB reads `$nor`
            // over a field as `$not` on it, false where the field is missing: say so.
            if *negated {
                let mut any = path_broken(&f, a.positions);
                any.push(obj1("$nor", Tmpl::Array(vec![m])));
                obj1("$or", Tmpl::Array(any))
            } else {
                m
            }
        }
    }
}

/// The ways a path can lead nowhere: a step missing, or a step on the way that
/// is not the container the next step needs (a position needs an array, a name
/// an object). Written with `$exists` and `$type` only, which both servers read
/// alike (CouchDB's `$nor`/`$not` over a broken path is false, pouchdb-server's true).
fn path_broken(f: &str, positions: u64) -> Vec<Tmpl> {
    let segs = crate::path::segments(f);
    let mut out = Vec::new();
    let mut prefix = String::new();
    for (i, seg) in segs.iter().enumerate() {
        prefix = crate::path::child(&prefix, seg);
        out.push(obj1(&prefix, obj1("$exists", Tmpl::Bool(false))));
        if i + 1 < segs.len() {
            let container = container_for(positions, i + 1);
            for t in ["null", "boolean", "number", "string", "array", "object"] {
                if t != container {
                    out.push(obj1(&prefix, obj1("$type", Tmpl::Str(t.into()))));
                }
            }
        }
    }
    out
}

/// A test that is false on a broken path, with each step of the path required
/// to be the container the next step needs. CouchDB needs no such guard (a broken
/// path fails every operator), but pouchdb-server indexes into strings (`"vip".0`
/// is `"v"`) and stops at a falsy step (`a.b` of `{"a": 0}` is `0`).
fn guard_path(a: &Atom, t: Tmpl) -> Tmpl {
    let handles_broken = matches!(
        a.test,
        Test::IsNull { negated: false, .. } | Test::Exists { negated: true } | Test::Elem { negated: true, .. }
    );
    let segs = crate::path::segments(&a.field);
    if handles_broken || segs.len() < 2 || t == never() {
        return t;
    }
    let mut all = Vec::new();
    let mut prefix = String::new();
    for (i, seg) in segs[..segs.len() - 1].iter().enumerate() {
        prefix = crate::path::child(&prefix, seg);
        // The next step is a position (`tags[0]`) or a name, which may be a number (`stats."2024"`).
        let container = container_for(a.positions, i + 1);
        all.push(obj1(&prefix, obj1("$type", Tmpl::Str(container.into()))));
    }
    all.push(t);
    obj1("$and", Tmpl::Array(all))
}

/// The `$type` a path step must have for segment `next` after it: a position
/// (`tags[0]`) needs an array, a name an object, even a name that is a number
/// (`stats."2024"`).
fn container_for(positions: u64, next: usize) -> &'static str {
    if next < 64 && positions & (1 << next) != 0 {
        "array"
    } else {
        "object"
    }
}

/// Whether a Mango path has more than one segment.
fn has_inner_dot(f: &str) -> bool {
    crate::path::segments(f).len() > 1
}

/// `f` is an array and none of `tests` holds for it.
fn not_in_array(f: &str, tests: Vec<Tmpl>) -> Tmpl {
    obj1("$and", Tmpl::Array(vec![obj1(f, obj1("$type", Tmpl::Str("array".into()))), obj1("$nor", Tmpl::Array(tests))]))
}

/// The element type of an array atom's column.
fn element_type(a: &Atom) -> Option<ColumnType> {
    a.ty.as_ref().and_then(|t| t.element.as_deref().cloned())
}

/// `{"": ops}` (an atom on the element itself) → `ops`; guards stay outside.
fn unwrap_scalar(t: Tmpl) -> Tmpl {
    match t {
        Tmpl::Object(mut e) if e.len() == 1 && e[0].0.is_empty() => e.remove(0).1,
        Tmpl::Guard { params, inner } => Tmpl::Guard { params, inner: Box::new(unwrap_scalar(*inner)) },
        other => other,
    }
}

/// `{"$and": [a, b]}` as `{"$nor": [{"$nor": [a]}, {"$nor": [b]}]}`, the same on
/// CouchDB. Inside `$elemMatch` on objects pouchdb-server reads `$and` as a field
/// name (it only normalises `$and` at the top level) and fails; `$nor` it evaluates.
fn and_as_double_nor(t: Tmpl) -> Tmpl {
    match t {
        Tmpl::Object(mut e) if e.len() == 1 && e[0].0 == "$and" => match e.remove(0).1 {
            Tmpl::Array(parts) => {
                obj1("$nor", Tmpl::Array(parts.into_iter().map(|p| obj1("$nor", Tmpl::Array(vec![p]))).collect()))
            }
            other => obj1("$and", other),
        },
        Tmpl::Guard { params, inner } => Tmpl::Guard { params, inner: Box::new(and_as_double_nor(*inner)) },
        Tmpl::Agree { pairs, inner } => Tmpl::Agree { pairs, inner: Box::new(and_as_double_nor(*inner)) },
        other => other,
    }
}

/// Whether a template is an `$and` object.
fn is_and(t: &Tmpl) -> bool {
    matches!(t, Tmpl::Object(e) if e.len() == 1 && e[0].0 == "$and")
}

/// The `$elemMatch` value for a conjunction of tests on a scalar element: one
/// operator map (pouchdb-server evaluates only operators on scalar elements).
fn scalar_selector(inner: &Cond) -> Tmpl {
    let conjuncts: Vec<&Cond> = match inner {
        Cond::And(v) => v.iter().collect(),
        Cond::True => vec![],
        c => vec![c],
    };
    let mut ops: Vec<(String, Tmpl)> = Vec::new();
    let mut rest = Vec::new();
    let mut guards = Vec::new();
    for c in conjuncts {
        let t = match c.mango() {
            Tmpl::Guard { params, inner } => {
                guards.extend(params);
                *inner
            }
            t => t,
        };
        match unwrap_scalar(t) {
            Tmpl::Object(e)
                if e.iter().all(|(k, _)| k.starts_with('$') && k != "$or" && k != "$and" && k != "$nor") =>
            {
                for (k, v) in e {
                    match ops.iter_mut().find(|(ok, _)| *ok == k) {
                        None => ops.push((k, v)),
                        Some((_, ov)) if *ov == v => {}
                        Some(_) => rest.push(Tmpl::Object(vec![(k, v)])),
                    }
                }
            }
            other => rest.push(other),
        }
    }
    let sel = if rest.is_empty() {
        Tmpl::Object(ops)
    } else if ops.is_empty() && rest.len() == 1 {
        // One operator object of its own (a `LIKE`): pouchdb-server needs it bare.
        rest.remove(0)
    } else {
        if !ops.is_empty() {
            rest.insert(0, Tmpl::Object(ops));
        }
        obj1("$and", Tmpl::Array(rest))
    };
    guarded(guards, sel)
}

/// How an operand relates to a column, for type checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    Compare,
    Store,
}

impl Cx<'_> {
    /// Translates a `WHERE` expression into a condition.
    pub(crate) fn cond(&mut self, e: &Expr) -> Option<Cond> {
        match e {
            Expr::Nested(inner) => self.cond(inner),
            Expr::BinaryOp { op: op @ (BinaryOperator::And | BinaryOperator::Or), .. } => {
                // `a AND b AND c …` parses as a left-deep tree: walk it with a loop,
                // so ten thousand terms do not mean ten thousand stack frames.
                let terms: Vec<Option<Cond>> = chain(e, op).into_iter().map(|t| self.cond(t)).collect();
                let terms: Option<Vec<Cond>> = terms.into_iter().collect();
                Some(if *op == BinaryOperator::And { Cond::And(terms?) } else { Cond::Or(terms?) })
            }
            Expr::UnaryOp { op: UnaryOperator::Not, expr } => self.cond(expr).map(Cond::not),
            Expr::BinaryOp { left, op: BinaryOperator::AtArrow, right } => self.contains(left, right, e),
            Expr::BinaryOp { left, op: BinaryOperator::ArrowAt, right } => self.contains(right, left, e),
            Expr::BinaryOp { left, op, right } => {
                let Some(cmp) = CmpOp::from_sql(op) else {
                    self.error(
                            format!("the operator `{op}` is not supported in WHERE: Mango can compare a column with a value (= <> < <= > >=), combine conditions (AND, OR, NOT), and test IN, BETWEEN, LIKE, IS NULL"),
                            Some(e.span()),
                        );
                    return None;
                };
                self.comparison(left, cmp, right, e)
            }
            Expr::In { expr, target: InTarget::List(list), negated, .. } => {
                let col = self.cond_column(expr)?;
                if let Some(t) = col.ty.as_ref().filter(|t| matches!(t.kind, Kind::Object | Kind::Json)) {
                    let m = if t.kind == Kind::Json {
                        json_message(&col)
                    } else {
                        format!("`{}` is an object (`{}`): test its fields with IN", col.name, t.rust)
                    };
                    self.error(m, Some(expr.span()));
                    return None;
                }
                let items: Vec<Option<Operand>> = list.iter().map(|i| self.operand(i, &col, Use::Compare)).collect();
                let items: Option<Vec<Operand>> = items.into_iter().collect();
                Some(Cond::atom(Atom {
                    field: col.field,
                    positions: col.positions,
                    ty: col.ty,
                    test: Test::In { negated: *negated, items: items? },
                }))
            }
            Expr::Exists { subquery, negated } => {
                let c = self.exists_unnest(subquery, e)?;
                Some(if *negated { c.not() } else { c })
            }
            Expr::AnyOp { left, compare_op, right, .. } => self.any(left, compare_op, right, e),
            Expr::AllOp { .. } => {
                self.error(
                    "ALL(array) is not supported: write NOT EXISTS (SELECT 1 FROM UNNEST(array) AS e WHERE NOT (…)), or use ANY",
                    Some(e.span()),
                );
                None
            }
            Expr::In { .. } | Expr::Subquery(_) => {
                self.error(subquery_message(), Some(e.span()));
                None
            }
            Expr::Between { expr, negated, low, high } => {
                let col = self.cond_column(expr)?;
                let (low, high) = (self.operand(low, &col, Use::Compare), self.operand(high, &col, Use::Compare));
                let (low, high) = (low?, high?);
                if low == Operand::Lit(Lit::Null) || high == Operand::Lit(Lit::Null) {
                    self.error("BETWEEN with NULL is never true in SQL: give both bounds as values", Some(e.span()));
                    return None;
                }
                Some(Cond::atom(Atom {
                    field: col.field,
                    positions: col.positions,
                    ty: col.ty,
                    test: Test::Between { negated: *negated, low, high },
                }))
            }
            Expr::Like { negated, any, expr, pattern, escape_char } => {
                if *any {
                    self.error("LIKE ANY is not supported: combine several LIKE conditions with OR", Some(e.span()));
                    return None;
                }
                let col = self.cond_column(expr)?;
                if let Some(ty) = &col.ty {
                    if ty.kind != Kind::Text {
                        self.error(
                            format!(
                                "LIKE needs a string column, but `{}` is {} (`{}`)",
                                col.name,
                                ty.kind.describe(),
                                ty.rust
                            ),
                            Some(expr.span()),
                        );
                        return None;
                    }
                }
                let escape = self.escape_char(escape_char.as_deref())?;
                let pattern = match pattern.as_ref() {
                    Expr::Value(v) if matches!(v.value, Value::Placeholder(_)) => {
                        Operand::Param(self.param(v.span, ParamUsage::Like { column: col.name.clone() })?)
                    }
                    p => match self.literal(p) {
                        Some(Lit::Str(s)) => {
                            if let Err(m) = like_to_regex(&s, escape, false) {
                                self.error(m, Some(p.span()));
                                return None;
                            }
                            Operand::Lit(Lit::Str(s))
                        }
                        _ => {
                            self.error(
                                "the LIKE pattern must be a string such as 'Al%' or a `?` parameter",
                                Some(p.span()),
                            );
                            return None;
                        }
                    },
                };
                Some(Cond::atom(Atom {
                    field: col.field,
                    positions: col.positions,
                    ty: col.ty,
                    test: Test::Like { negated: *negated, pattern, escape },
                }))
            }
            Expr::ILike { .. } => {
                self.error(
                    "ILIKE is not supported: CouchDB and pouchdb-server do not share a case-insensitive regex syntax; store a lower-cased copy of the field and use LIKE",
                    Some(e.span()),
                );
                None
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let col = self.cond_column(inner)?;
                let negated = matches!(e, Expr::IsNotNull(_));
                let in_element = !self.scopes.is_empty();
                Some(Cond::atom(Atom {
                    field: col.field,
                    positions: col.positions,
                    ty: col.ty,
                    test: Test::IsNull { negated, in_element },
                }))
            }
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                // A boolean column on its own: `WHERE active`.
                let col = self.column(e)?;
                match &col.ty {
                    Some(ty) if ty.kind != Kind::Bool => {
                        self.error(
                            format!(
                                "`{}` is {} (`{}`), not a condition: compare it with a value, e.g. `{} = ?`",
                                col.name,
                                ty.kind.describe(),
                                ty.rust,
                                col.name
                            ),
                            Some(e.span()),
                        );
                        None
                    }
                    _ => Some(Cond::atom(Atom {
                        field: col.field,
                        positions: col.positions,
                        ty: col.ty,
                        test: Test::Cmp(CmpOp::Eq, Operand::Lit(Lit::Bool(true))),
                    })),
                }
            }
            Expr::Value(v) if v.value == Value::Boolean(true) => Some(Cond::True),
            Expr::Value(v) if v.value == Value::Boolean(false) => Some(Cond::False),
            Expr::Function(f) => {
                self.error(function_message(&f.name.to_string()), Some(e.span()));
                None
            }
            other => {
                self.error(
                    format!("`{other}` is not supported in WHERE: it has no Mango equivalent"),
                    Some(other.span()),
                );
                None
            }
        }
    }

    fn comparison(&mut self, left: &Expr, op: CmpOp, right: &Expr, whole: &Expr) -> Option<Cond> {
        for (f, v, op) in [(left, right, op), (right, left, op.flip())] {
            if let Some(arg) = cardinality_arg(f) {
                return self.cardinality(arg, op, v, whole);
            }
        }
        let (l_col, r_col) = (is_column(left), is_column(right));
        let (col_expr, op, value) = match (l_col, r_col) {
            (true, false) => (left, op, right),
            (false, true) => (right, op.flip(), left),
            (true, true) => {
                self.error(
                    format!("`{whole}` compares two columns; Mango selectors compare a field with a constant, so this cannot run on CouchDB"),
                    Some(whole.span()),
                );
                return None;
            }
            (false, false) => {
                if let Expr::Subquery(_) = left {
                    self.error(subquery_message(), Some(left.span()));
                } else if let Expr::Subquery(_) = right {
                    self.error(subquery_message(), Some(right.span()));
                } else if let Expr::Function(f) = left {
                    self.error(function_message(&f.name.to_string()), Some(left.span()));
                } else {
                    self.error(format!("`{whole}` does not compare a column with a value"), Some(whole.span()));
                }
                return None;
            }
        };
        let col = self.column(col_expr)?;
        if let Some(ty) = &col.ty {
            let refuse = match ty.kind {
                Kind::Object => Some(format!("`{}` is an object (`{}`): compare its fields, e.g. `{}.{} = ?`", col.name, ty.rust, col.name, ty.fields.first().map(|c| c.name.as_str()).unwrap_or("field"))),
                Kind::Json => Some(json_message(&col)),
                Kind::Array if !matches!(op, CmpOp::Eq | CmpOp::Ne) => Some(format!(
                    "`{}` is an array (`{}`): arrays are compared whole with = and <>; test elements with `? = ANY({})` or EXISTS (SELECT 1 FROM UNNEST({}) AS e WHERE e …)",
                    col.name, ty.rust, col.name, col.name
                )),
                _ => None,
            };
            if let Some(m) = refuse {
                self.error(m, Some(whole.span()));
                return None;
            }
        }
        let v = self.operand(value, &col, Use::Compare)?;
        if v == Operand::Lit(Lit::Null) {
            self.error(
                format!("`{whole}` is never true: in SQL a comparison with NULL is unknown; write `{} IS NULL` or `{} IS NOT NULL`", col.name, col.name),
                Some(whole.span()),
            );
            return None;
        }
        Some(Cond::atom(Atom { field: col.field, positions: col.positions, ty: col.ty, test: Test::Cmp(op, v) }))
    }

    /// `v op ANY(array)`.
    fn any(&mut self, left: &Expr, op: &BinaryOperator, right: &Expr, whole: &Expr) -> Option<Cond> {
        let Some(op) = CmpOp::from_sql(op) else {
            self.error(format!("`{op} ANY(…)` is not supported: use = <> < <= > >="), Some(whole.span()));
            return None;
        };
        if let Expr::Value(v) = right {
            if matches!(&v.value, Value::Placeholder(p) if p == "?") {
                return self.in_array_param(left, op, v.span, whole);
            }
        }
        let array = self.array_column(right, "ANY")?;
        let elem = element_column(&array);
        if elem.ty.as_ref().is_some_and(|t| !t.kind.is_scalar()) {
            let t = elem.ty.as_ref().map(|t| t.rust.clone()).unwrap_or_default();
            self.error(
                format!("ANY({}) compares whole elements, but they are `{t}`: test their fields with EXISTS (SELECT 1 FROM UNNEST({}) AS e WHERE e.field …)", array.name, array.name),
                Some(whole.span()),
            );
            return None;
        }
        if is_column(left) {
            self.error("ANY compares the elements with a value: write `? = ANY(tags)`, with a literal or a parameter on the left", Some(left.span()));
            return None;
        }
        let value = self.operand(left, &elem, Use::Compare)?;
        if value.has_null() {
            self.error("a comparison with NULL is never true in SQL: compare with a value", Some(left.span()));
            return None;
        }
        Some(Cond::atom(Atom {
            field: array.field,
            positions: array.positions,
            ty: array.ty,
            test: Test::Any { op, value, negated: false },
        }))
    }

    /// `col = ANY(?)`: the column equals one of the elements of an array parameter
    /// (a `Vec` or slice, checked against the column's type at compile time).
    fn in_array_param(&mut self, left: &Expr, op: CmpOp, at: sqlparser::tokenizer::Span, whole: &Expr) -> Option<Cond> {
        if op != CmpOp::Eq {
            self.error(
                "with a parameter, ANY takes `=`: `col = ANY(?)` is true when the column equals one of the array's elements",
                Some(whole.span()),
            );
            return None;
        }
        if !is_column(left) {
            self.error(
                "`= ANY(?)` compares a column with the parameter's elements: write `col = ANY(?)`",
                Some(left.span()),
            );
            return None;
        }
        let col = self.cond_column(left)?;
        if let Some(t) = &col.ty {
            if !t.kind.is_scalar() {
                self.error(
                    format!(
                        "`{} = ANY(?)` compares whole values, but `{}` is {} (`{}`)",
                        col.name,
                        col.name,
                        t.kind.describe(),
                        t.rust
                    ),
                    Some(left.span()),
                );
                return None;
            }
        }
        // The parameter is an array of the column's values.
        let ty = col.ty.as_ref().map(|t| {
            let mut element = t.clone();
            element.nullable = false;
            element.outer_null = false;
            ColumnType {
                kind: Kind::Array,
                nullable: false,
                rust: format!("Vec<{}>", element.base_rust()),
                fields: vec![],
                element: Some(Box::new(element)),
                access: vec![],
                outer_null: false,
            }
        });
        let param = self.param(at, ParamUsage::Compare { column: col.name.clone(), ty })?;
        Some(Cond::atom(Atom {
            field: col.field,
            positions: col.positions,
            ty: col.ty,
            test: Test::InElements { param, negated: false },
        }))
    }

    /// `array @> ARRAY[…]` (or a whole-array parameter).
    fn contains(&mut self, left: &Expr, right: &Expr, whole: &Expr) -> Option<Cond> {
        let array = self.array_column(left, "@>")?;
        let items = match right {
            Expr::Array(_) | Expr::Value(_) => self.operand(right, &array, Use::Compare)?,
            other => {
                self.error(
                    "`@>` takes ARRAY[…] or a `?` parameter on the right: tags @> ARRAY['vip', ?]",
                    Some(other.span()),
                );
                return None;
            }
        };
        if items.has_null() {
            self.error("an array with NULL is never contained in SQL: leave the NULL out", Some(whole.span()));
            return None;
        }
        Some(Cond::atom(Atom {
            field: array.field,
            positions: array.positions,
            ty: array.ty,
            test: Test::Contains { items, negated: false },
        }))
    }

    /// `CARDINALITY(array) = n`.
    fn cardinality(&mut self, arg: &Expr, op: CmpOp, value: &Expr, whole: &Expr) -> Option<Cond> {
        let array = self.array_column(arg, "CARDINALITY")?;
        if op != CmpOp::Eq {
            self.error(
                format!("CARDINALITY({}) can only be compared with `=`: Mango's `$size` tests one exact length (write `CARDINALITY({}) = 3`, or OR several)", array.name, array.name),
                Some(whole.span()),
            );
            return None;
        }
        let n = match value {
            Expr::Value(v) if matches!(v.value, Value::Placeholder(_)) => {
                Operand::Param(self.param(v.span, ParamUsage::Count)?)
            }
            v => match self.literal(v) {
                Some(Lit::Int(n)) if n >= 0 => Operand::Lit(Lit::Int(n)),
                _ => {
                    self.error("CARDINALITY(…) = takes a whole number or a `?` parameter", Some(v.span()));
                    return None;
                }
            },
        };
        Some(Cond::atom(Atom {
            field: array.field,
            positions: array.positions,
            ty: array.ty,
            test: Test::Size { n, negated: false },
        }))
    }

    /// `EXISTS (SELECT … FROM UNNEST(array) AS e [WHERE …])`.
    fn exists_unnest(&mut self, q: &sqlparser::ast::Query, whole: &Expr) -> Option<Cond> {
        use sqlparser::ast::{SetExpr, TableFactor};
        let shape = "EXISTS takes one form: EXISTS (SELECT 1 FROM UNNEST(array_column) AS e WHERE …), true when one element satisfies the condition";
        let s = match q.body.as_ref() {
            SetExpr::Select(s) if q.order_by.is_none() && q.limit_clause.is_none() && q.with.is_none() => s,
            _ => {
                self.error(shape, Some(whole.span()));
                return None;
            }
        };
        let (alias, array_expr) = match s.from.as_slice() {
            [t] if t.joins.is_empty() => match &t.relation {
                TableFactor::UNNEST { alias, array_exprs, with_offset: false, with_ordinality: false, .. }
                    if array_exprs.len() == 1 =>
                {
                    (alias.as_ref().map(|a| a.name.value.clone()), &array_exprs[0])
                }
                TableFactor::UNNEST { .. } => {
                    self.error(
                        "UNNEST takes one array column here, without WITH OFFSET or ORDINALITY",
                        Some(t.relation.span()),
                    );
                    return None;
                }
                _ => {
                    self.error(
                        format!("{}; a subquery over a table is not supported: {}", shape, subquery_message()),
                        Some(whole.span()),
                    );
                    return None;
                }
            },
            _ => {
                self.error(shape, Some(whole.span()));
                return None;
            }
        };
        if !matches!(&s.group_by, sqlparser::ast::GroupByExpr::Expressions(v, _) if v.is_empty())
            || s.having.is_some()
            || s.distinct.is_some()
        {
            self.error(shape, Some(whole.span()));
            return None;
        }
        let array = self.array_column(array_expr, "UNNEST")?;
        let Some(alias) = alias else {
            self.error(
                format!("name the element: UNNEST({}) AS e, then write conditions on `e`", array.name),
                Some(array_expr.span()),
            );
            return None;
        };
        let element = array.ty.as_ref().and_then(|t| t.element.as_deref().cloned()).map(|mut t| {
            t.access = array.ty.as_ref().map(|a| a.access.clone()).unwrap_or_default();
            t.access.push(crate::schema::Access::Element);
            t
        });
        let scalar = element.as_ref().is_some_and(|t| t.kind.is_scalar() || t.kind == Kind::Json);
        self.scopes.push(super::Scope { alias, array: array.name.clone(), element });
        let inner = match &s.selection {
            None => Some(Cond::True),
            Some(w) => self.cond(w),
        };
        self.scopes.pop();
        let inner = Cond::And(vec![inner?]).simplify();
        // Without a model, an element is scalar when the condition names it alone.
        let scalar = scalar || (array.ty.is_none() && names_element_only(&inner));
        let elem = |inner: Cond| {
            Cond::atom(Atom {
                field: array.field.clone(),
                positions: array.positions,
                ty: array.ty.clone(),
                test: Test::Elem { inner: Box::new(inner), scalar, negated: false },
            })
        };
        if !scalar {
            return Some(elem(inner));
        }
        // A scalar element is tested with one operator map: EXISTS distributes over OR.
        match dnf(inner, 32) {
            Some(terms) => Some(Cond::Or(terms.into_iter().map(|t| elem(Cond::And(t))).collect()).simplify()),
            None => {
                self.error(
                    "this condition on the elements is too complex for Mango: simplify its ORs",
                    Some(whole.span()),
                );
                None
            }
        }
    }

    /// A column that must be an array for `what`.
    fn array_column(&mut self, e: &Expr, what: &str) -> Option<ResolvedColumn> {
        let col = self.cond_column(e)?;
        match &col.ty {
            Some(t) if t.kind != Kind::Array => {
                self.error(
                    format!("{what} needs an array column, but `{}` is {} (`{}`)", col.name, t.kind.describe(), t.rust),
                    Some(e.span()),
                );
                None
            }
            _ => Some(col),
        }
    }

    fn cond_column(&mut self, e: &Expr) -> Option<ResolvedColumn> {
        if is_column(e) {
            self.column(e)
        } else {
            self.error(format!("`{e}` must be a column of the table"), Some(e.span()));
            None
        }
    }

    fn escape_char(&mut self, e: Option<&Expr>) -> Option<Option<char>> {
        let Some(e) = e else { return Some(Some(DEFAULT_ESCAPE)) };
        match self.literal(e) {
            Some(Lit::Str(s)) if s.is_empty() => Some(None),
            Some(Lit::Str(s)) if s.chars().count() == 1 => Some(s.chars().next()),
            _ => {
                self.error("ESCAPE takes a single character, e.g. ESCAPE '!'", Some(e.span()));
                None
            }
        }
    }

    /// A literal or parameter compared with or stored in `col`, type-checked against it.
    pub(crate) fn operand(&mut self, e: &Expr, col: &ResolvedColumn, usage: Use) -> Option<Operand> {
        if let Expr::Value(v) = e {
            if let Value::Placeholder(p) = &v.value {
                if p != "?" {
                    return None; // reported when tokenizing
                }
                let (column, ty) = (col.name.clone(), col.ty.clone());
                let u = match usage {
                    Use::Compare => ParamUsage::Compare { column, ty },
                    Use::Store => ParamUsage::Store { column, ty },
                };
                return self.param(v.span, u).map(Operand::Param);
            }
        }
        if let Expr::Array(arr) = e {
            return match &col.ty {
                Some(t) if t.kind != Kind::Array => {
                    self.error(
                        format!("`{e}` is an array, but `{}` is {} (`{}`)", col.name, t.kind.describe(), t.rust),
                        Some(e.span()),
                    );
                    None
                }
                _ => {
                    let elem = element_column(col);
                    let items: Vec<Option<Operand>> = arr.elem.iter().map(|x| self.operand(x, &elem, usage)).collect();
                    items.into_iter().collect::<Option<Vec<_>>>().map(Operand::Array)
                }
            };
        }
        if is_column(e) {
            self.error(
                format!("`{e}` is a column; Mango can only compare a column with a constant or a `?` parameter"),
                Some(e.span()),
            );
            return None;
        }
        let lit = match self.literal(e) {
            Some(l) => l,
            None => {
                if let Expr::Subquery(_) = e {
                    self.error(subquery_message(), Some(e.span()));
                } else if let Expr::Function(f) = e {
                    self.error(function_message(&f.name.to_string()), Some(e.span()));
                } else {
                    self.error(
                        format!("`{e}` is not a value: use a literal ('text', 42, 1.5, TRUE, NULL) or a `?` parameter"),
                        Some(e.span()),
                    );
                }
                return None;
            }
        };
        let mut lit = lit;
        if let Some(ty) = &col.ty {
            if let (Kind::DateTime, Lit::Str(text)) = (ty.kind, &lit) {
                match crate::datetime::normalize(text) {
                    Ok(t) => lit = Lit::Str(t),
                    Err(m) => {
                        self.error(
                            format!("'{text}' is not a date-time for column `{}`: {m}", col.name),
                            Some(e.span()),
                        );
                        return None;
                    }
                }
            }
            if let (Lit::Int(i), Some((lo, hi))) = (&lit, ty.int_range()) {
                if usage == Use::Store && !(lo..=hi).contains(&i128::from(*i)) {
                    self.error(
                        format!(
                            "{} does not fit column `{}`, which is `{}` ({lo} to {hi})",
                            lit.describe(),
                            col.name,
                            ty.rust
                        ),
                        Some(e.span()),
                    );
                    return None;
                }
            }
            if !literal_fits(&lit, ty, usage) {
                let verb = if usage == Use::Store { "stored in" } else { "compared with" };
                let null_hint = if lit == Lit::Null { " (NULL needs an Option<…> field in the model)" } else { "" };
                self.error(
                    format!(
                        "{} cannot be {verb} column `{}`, which is {} (`{}`){null_hint}",
                        lit.describe(),
                        col.name,
                        ty.kind.describe(),
                        ty.rust
                    ),
                    Some(e.span()),
                );
                return None;
            }
        }
        Some(Operand::Lit(lit))
    }

    /// A literal value, or `None` (with no error) if `e` is not one.
    pub(crate) fn literal(&mut self, e: &Expr) -> Option<Lit> {
        match e {
            Expr::Nested(inner) => self.literal(inner),
            Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match self.literal(expr)? {
                Lit::Int(i) => Some(Lit::Int(-i)),
                Lit::Float(f) => Some(Lit::Float(-f)),
                _ => None,
            },
            Expr::UnaryOp { op: UnaryOperator::Plus, expr } => match self.literal(expr)? {
                l @ (Lit::Int(_) | Lit::Float(_)) => Some(l),
                _ => None,
            },
            Expr::Value(v) => match &v.value {
                Value::Null => Some(Lit::Null),
                Value::Boolean(b) => Some(Lit::Bool(*b)),
                Value::Number(n, _) => {
                    if let Ok(i) = n.parse::<i64>() {
                        Some(Lit::Int(i))
                    } else if let Ok(f) = n.parse::<f64>() {
                        if f.is_finite() {
                            Some(Lit::Float(f))
                        } else {
                            self.error(format!("the number {n} is too large for CouchDB's JSON numbers"), Some(v.span));
                            None
                        }
                    } else {
                        None
                    }
                }
                Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) | Value::NationalStringLiteral(s) => {
                    Some(Lit::Str(s.clone()))
                }
                Value::DoubleQuotedString(s) => {
                    // GenericDialect reads "x" as a string; SQL reserves it for names. Say so.
                    self.error(
                        format!(
                            "\"{s}\" is written with double quotes: in SQL, text values take single quotes ('{s}')"
                        ),
                        Some(v.span),
                    );
                    None
                }
                _ => None,
            },
            _ => None,
        }
    }
}

fn literal_fits(lit: &Lit, ty: &ColumnType, usage: Use) -> bool {
    match (lit, ty.kind) {
        (Lit::Null, _) => (ty.nullable && !ty.outer_null) || usage == Use::Compare,
        (Lit::Bool(_), Kind::Bool) => true,
        (Lit::Int(_), Kind::Integer | Kind::Float) => true,
        (Lit::Float(_), Kind::Float) => true,
        (Lit::Float(_), Kind::Integer) => usage == Use::Compare,
        (Lit::Str(_), Kind::Text | Kind::DateTime) => true,
        _ => false,
    }
}

/// The terms of a chain of one operator (`a AND b AND (c AND d)` → a, b, c, d), in order.
fn chain<'e>(e: &'e Expr, op: &BinaryOperator) -> Vec<&'e Expr> {
    let mut out = Vec::new();
    let mut todo = vec![e];
    while let Some(cur) = todo.pop() {
        match cur {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                todo.push(right);
                todo.push(left);
            }
            Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: o, .. } if o == op) => {
                todo.push(inner)
            }
            other => out.push(other),
        }
    }
    out
}

pub(crate) fn is_column(e: &Expr) -> bool {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::CompoundFieldAccess { root, .. } => is_column(root),
        Expr::Nested(inner) => is_column(inner),
        _ => false,
    }
}

pub(crate) fn subquery_message() -> String {
    "subqueries are not supported: a Mango query reads one set of documents and cannot nest another query; run the inner query first and pass its results as `?` parameters".into()
}

pub(crate) fn function_message(name: &str) -> String {
    let upper = name.to_uppercase();
    if ["COUNT", "SUM", "AVG", "MIN", "MAX"].contains(&upper.as_str()) {
        format!("{upper}() is an aggregate: it is computed per group, after WHERE has chosen the documents, so it cannot stand in WHERE; compare it in HAVING (… GROUP BY col HAVING {upper}(…) > ?)")
    } else {
        format!("the function {name}() is not supported: Mango selectors have no functions")
    }
}

/// The argument of `CARDINALITY(x)`, if `e` is that call.
fn cardinality_arg(e: &Expr) -> Option<&Expr> {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let Expr::Function(f) = e else { return None };
    if !f.name.to_string().eq_ignore_ascii_case("cardinality") {
        return None;
    }
    match &f.args {
        FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x),
            _ => None,
        },
        _ => None,
    }
}

/// The element of an array column, as a column of its own (for type checks).
fn element_column(array: &ResolvedColumn) -> ResolvedColumn {
    ResolvedColumn {
        name: format!("{}[]", array.name),
        field: String::new(),
        positions: 0,
        ty: array.ty.as_ref().and_then(|t| t.element.as_deref().cloned()),
        span: array.span,
    }
}

pub(crate) fn json_message(col: &ResolvedColumn) -> String {
    format!(
        "`{}` is opaque JSON{}: it is read and written whole, and in WHERE only `{} IS NULL` / `IS NOT NULL` can test it; model it with #[derive(CouchObject)] to query inside it",
        col.name,
        col.ty.as_ref().map(|t| format!(" (`{}`)", t.rust)).unwrap_or_default(),
        col.name
    )
}

/// Whether every atom of `c` tests the element itself (an empty path).
fn names_element_only(c: &Cond) -> bool {
    match c {
        Cond::True | Cond::False => true,
        Cond::And(v) | Cond::Or(v) => v.iter().all(names_element_only),
        Cond::Atom(a) => a.0.field.is_empty(),
    }
}

/// `c` as an OR of ANDs of atoms, unless that takes more than `limit` terms.
fn dnf(c: Cond, limit: usize) -> Option<Vec<Vec<Cond>>> {
    match c {
        Cond::True => Some(vec![vec![]]),
        Cond::False => Some(vec![]),
        Cond::Or(v) => {
            let mut out = Vec::new();
            for x in v {
                out.extend(dnf(x, limit)?);
                if out.len() > limit {
                    return None;
                }
            }
            Some(out)
        }
        Cond::And(v) => {
            let mut out: Vec<Vec<Cond>> = vec![vec![]];
            for x in v {
                let terms = dnf(x, limit)?;
                let mut next = Vec::new();
                for a in &out {
                    for t in &terms {
                        let mut conj = a.clone();
                        conj.extend(t.iter().cloned());
                        next.push(conj);
                    }
                }
                if next.len() > limit {
                    return None;
                }
                out = next;
            }
            Some(out)
        }
        atom => Some(vec![vec![atom]]),
    }
}
