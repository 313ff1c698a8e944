//! Emission: a condition as a Mango selector that matches exactly where SQL's
//! WHERE is true on both servers (type guards, broken paths, `$or` merging).

use super::logic::*;
use crate::like::like_to_regex;
use crate::schema::{ColumnType, Kind};
use crate::template::Tmpl;

impl Cond {
    /// The Mango selector for this condition.
    pub(crate) fn mango(&self) -> Tmpl {
        match self {
            Cond::True => Tmpl::Object(vec![]),
            Cond::False => never(),
            // One conjunction object with nothing left for pouchdb-server to fold (see
            // `merged_selector`), in a one-item `$and` so that pouchdb-server
            // normalises it (a LIKE's `$regex`) as it does a top-level selector.
            Cond::And(_) => match crate::translate::select::merged_selector(vec![], self.clone()) {
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
pub(crate) fn type_guard(a: &Atom, v: &Operand) -> Tmpl {
    if let Some(ty) = &a.ty {
        return Tmpl::Str(ty.kind.json_type().to_string());
    }
    match v {
        Operand::Lit(l) => Tmpl::Str(l.json_type().unwrap_or("null").to_string()),
        Operand::Param(i) => Tmpl::TypeOf(*i),
        Operand::Array(_) => Tmpl::Str("array".into()),
    }
}

pub(crate) fn guarded(params: Vec<usize>, inner: Tmpl) -> Tmpl {
    if params.is_empty() {
        inner
    } else {
        Tmpl::Guard { params, inner: Box::new(inner) }
    }
}

pub(crate) fn atom_mango(a: &Atom) -> Tmpl {
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
                and_as_double_nor(crate::translate::select::merged_selector(vec![], (**inner).clone()))
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
pub(crate) fn path_broken(f: &str, positions: u64) -> Vec<Tmpl> {
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
pub(crate) fn guard_path(a: &Atom, t: Tmpl) -> Tmpl {
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
pub(crate) fn container_for(positions: u64, next: usize) -> &'static str {
    if next < 64 && positions & (1 << next) != 0 {
        "array"
    } else {
        "object"
    }
}

/// Whether a Mango path has more than one segment.
pub(crate) fn has_inner_dot(f: &str) -> bool {
    crate::path::segments(f).len() > 1
}

/// `f` is an array and none of `tests` holds for it.
pub(crate) fn not_in_array(f: &str, tests: Vec<Tmpl>) -> Tmpl {
    obj1("$and", Tmpl::Array(vec![obj1(f, obj1("$type", Tmpl::Str("array".into()))), obj1("$nor", Tmpl::Array(tests))]))
}

/// The element type of an array atom's column.
pub(crate) fn element_type(a: &Atom) -> Option<ColumnType> {
    a.ty.as_ref().and_then(|t| t.element.as_deref().cloned())
}

/// `{"": ops}` (an atom on the element itself) → `ops`; guards stay outside.
pub(crate) fn unwrap_scalar(t: Tmpl) -> Tmpl {
    match t {
        Tmpl::Object(mut e) if e.len() == 1 && e[0].0.is_empty() => e.remove(0).1,
        Tmpl::Guard { params, inner } => Tmpl::Guard { params, inner: Box::new(unwrap_scalar(*inner)) },
        other => other,
    }
}

/// `{"$and": [a, b]}` as `{"$nor": [{"$nor": [a]}, {"$nor": [b]}]}`, the same on
/// CouchDB. Inside `$elemMatch` on objects pouchdb-server reads `$and` as a field
/// name (it only normalises `$and` at the top level) and fails; `$nor` it evaluates.
pub(crate) fn and_as_double_nor(t: Tmpl) -> Tmpl {
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
pub(crate) fn is_and(t: &Tmpl) -> bool {
    matches!(t, Tmpl::Object(e) if e.len() == 1 && e[0].0 == "$and")
}

/// The `$elemMatch` value for a conjunction of tests on a scalar element: one
/// operator map (pouchdb-server evaluates only operators on scalar elements).
pub(crate) fn scalar_selector(inner: &Cond) -> Tmpl {
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
