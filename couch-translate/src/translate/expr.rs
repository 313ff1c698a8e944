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
use crate::schema::{ColumnType, Kind};
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
}

impl Operand {
    fn tmpl(&self) -> Tmpl {
        match self {
            Operand::Lit(l) => l.tmpl(),
            Operand::Param(i) => Tmpl::Param(*i),
        }
    }

    fn param(&self) -> Option<usize> {
        match self {
            Operand::Param(i) => Some(*i),
            Operand::Lit(_) => None,
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
    },
    /// The field is present (any value, null included).
    Exists {
        negated: bool,
    },
}

/// A condition on one column.
#[derive(Debug, Clone, PartialEq)]
struct Atom {
    field: String,
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

    /// The field is present in the document.
    pub(crate) fn exists(field: &str) -> Cond {
        Cond::atom(Atom { field: field.to_string(), ty: None, test: Test::Exists { negated: false } })
    }

    /// The json index that serves this condition, under CouchDB's rules: an
    /// index is usable when every field it lists is required by the selector,
    /// and a range scan needs the equality fields first. So: `type`, then the
    /// fields an AND of the whole condition compares with `=`, then the first
    /// field it bounds with `<`, `<=`, `>`, `>=` or BETWEEN. Only conditions
    /// that fail on a missing field are used, because a json index leaves out
    /// the documents that lack an indexed field (so `IS NULL` never is).
    pub(crate) fn index_fields(&self) -> Vec<String> {
        let conjuncts: Vec<&Cond> = match self {
            Cond::And(v) => v.iter().collect(),
            c => vec![c],
        };
        let mut eq: Vec<String> = Vec::new();
        let mut range: Option<String> = None;
        for c in conjuncts {
            let Cond::Atom(a) = c else { continue };
            let a = &a.0;
            if a.field == "_id" || a.field == "type" {
                continue;
            }
            let f = mango_field(&a.field);
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
        let mut fields = vec!["type".to_string()];
        fields.extend(eq.iter().cloned());
        if let Some(r) = range.filter(|r| !eq.contains(r)) {
            fields.push(r);
        }
        fields
    }

    /// The document fields this condition requires to be present (a conjunct
    /// that fails on a missing field), `type` first, as Mango paths.
    pub(crate) fn required_fields(&self) -> Vec<String> {
        let conjuncts: Vec<&Cond> = match self {
            Cond::And(v) => v.iter().collect(),
            c => vec![c],
        };
        let mut out = vec!["type".to_string()];
        for c in conjuncts {
            let Cond::Atom(a) = c else { continue };
            let a = &a.0;
            let present = !matches!(a.test, Test::IsNull { negated: false } | Test::Exists { negated: true });
            let f = mango_field(&a.field);
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
                    Test::IsNull { negated } => Test::IsNull { negated: !negated },
                    Test::Exists { negated } => Test::Exists { negated: !negated },
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
            Cond::And(v) => obj1("$and", Tmpl::Array(one_or(v.iter().map(Cond::mango).collect()))),
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
            Cond::Atom(a) => atom_mango(&a.0),
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

/// A Mango field path for a document field: a literal `.` must be escaped.
pub(crate) fn mango_field(field: &str) -> String {
    field.replace('.', "\\.")
}

/// The `$type` guard: from the column's type, else from the compared value.
fn type_guard(a: &Atom, v: &Operand) -> Tmpl {
    if let Some(ty) = &a.ty {
        return Tmpl::Str(ty.kind.json_type().to_string());
    }
    match v {
        Operand::Lit(l) => Tmpl::Str(l.json_type().unwrap_or("null").to_string()),
        Operand::Param(i) => Tmpl::TypeOf(*i),
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
    let f = mango_field(&a.field);
    let cond =
        |ops: Vec<(&str, Tmpl)>| obj1(&f, Tmpl::Object(ops.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    match &a.test {
        Test::Cmp(CmpOp::Eq, v) => guarded(v.param().into_iter().collect(), cond(vec![("$eq", v.tmpl())])),
        // `$nin: [v]`, not `$ne: v`: pouchdb-server 4.2.0 fails `$ne` under `$or`
        // ("userValue.every is not a function"); with the `$type` guard both mean `<>`.
        Test::Cmp(CmpOp::Ne, v) => guarded(
            v.param().into_iter().collect(),
            cond(vec![("$type", type_guard(a, v)), ("$nin", Tmpl::Array(vec![v.tmpl()]))]),
        ),
        Test::Cmp(op, v) => {
            guarded(v.param().into_iter().collect(), cond(vec![("$type", type_guard(a, v)), (op.mango(), v.tmpl())]))
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
                items.iter().filter_map(Operand::param).collect(),
                cond(vec![("$type", guard), ("$nin", Tmpl::Array(items.iter().map(Operand::tmpl).collect()))]),
            )
        }
        Test::Between { negated, low, high } => {
            let params = [low, high].iter().filter_map(|o| o.param()).collect();
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
                Operand::Lit(_) => never(), // a bad literal pattern is reported at translation time
            }
        }
        Test::IsNull { negated: false } => Tmpl::Object(vec![(
            "$or".into(),
            Tmpl::Array(vec![obj1(&f, obj1("$exists", Tmpl::Bool(false))), obj1(&f, obj1("$eq", Tmpl::Null))]),
        )]),
        Test::IsNull { negated: true } => obj1(&f, obj1("$gt", Tmpl::Null)),
        Test::Exists { negated } => obj1(&f, obj1("$exists", Tmpl::Bool(!negated))),
    }
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
            Expr::BinaryOp { left, op, right } => {
                let op = match op {
                    BinaryOperator::Eq => CmpOp::Eq,
                    BinaryOperator::NotEq => CmpOp::Ne,
                    BinaryOperator::Lt => CmpOp::Lt,
                    BinaryOperator::LtEq => CmpOp::Le,
                    BinaryOperator::Gt => CmpOp::Gt,
                    BinaryOperator::GtEq => CmpOp::Ge,
                    other => {
                        self.error(
                            format!("the operator `{other}` is not supported in WHERE: Mango can compare a column with a value (= <> < <= > >=), combine conditions (AND, OR, NOT), and test IN, BETWEEN, LIKE, IS NULL"),
                            Some(e.span()),
                        );
                        return None;
                    }
                };
                self.comparison(left, op, right, e)
            }
            Expr::In { expr, target: InTarget::List(list), negated, .. } => {
                let col = self.cond_column(expr)?;
                let items: Vec<Option<Operand>> = list.iter().map(|i| self.operand(i, &col, Use::Compare)).collect();
                let items: Option<Vec<Operand>> = items.into_iter().collect();
                Some(Cond::atom(Atom {
                    field: col.field,
                    ty: col.ty,
                    test: Test::In { negated: *negated, items: items? },
                }))
            }
            Expr::In { .. } | Expr::Exists { .. } | Expr::Subquery(_) => {
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
                Some(Cond::atom(Atom { field: col.field, ty: col.ty, test: Test::IsNull { negated } }))
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
        let v = self.operand(value, &col, Use::Compare)?;
        if v == Operand::Lit(Lit::Null) {
            self.error(
                format!("`{whole}` is never true: in SQL a comparison with NULL is unknown; write `{} IS NULL` or `{} IS NOT NULL`", col.name, col.name),
                Some(whole.span()),
            );
            return None;
        }
        Some(Cond::atom(Atom { field: col.field, ty: col.ty, test: Test::Cmp(op, v) }))
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
        if let Some(ty) = &col.ty {
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
        (Lit::Null, _) => ty.nullable || usage == Use::Compare,
        (Lit::Bool(_), Kind::Bool) => true,
        (Lit::Int(_), Kind::Integer | Kind::Float) => true,
        (Lit::Float(_), Kind::Float) => true,
        (Lit::Float(_), Kind::Integer) => usage == Use::Compare,
        (Lit::Str(_), Kind::Text) => true,
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
        format!("the aggregate function {upper}() is not supported: Mango `_find` returns documents, not aggregates (CouchDB computes those with map/reduce views)")
    } else {
        format!("the function {name}() is not supported: Mango selectors have no functions")
    }
}
