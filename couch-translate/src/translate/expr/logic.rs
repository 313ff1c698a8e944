//! The logic tree of a condition: literals, operands, atoms on one column, AND/OR,
//! and `NOT` pushed down to the atoms (De Morgan holds in SQL's three-valued logic).

use crate::schema::CONFLICTS;
use crate::schema::{ColumnType, TableKey};
use crate::template::Tmpl;
use sqlparser::ast::BinaryOperator;

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

    pub(crate) fn json_type(&self) -> Option<&'static str> {
        match self {
            Lit::Null => None,
            Lit::Bool(_) => Some("boolean"),
            Lit::Int(_) | Lit::Float(_) => Some("number"),
            Lit::Str(_) => Some("string"),
        }
    }

    pub(crate) fn describe(&self) -> String {
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
    pub(crate) fn params(&self) -> Vec<usize> {
        match self {
            Operand::Param(i) => vec![*i],
            Operand::Lit(_) => vec![],
            Operand::Array(v) => v.iter().flat_map(Operand::params).collect(),
        }
    }

    pub(crate) fn has_null(&self) -> bool {
        match self {
            Operand::Lit(l) => *l == Lit::Null,
            Operand::Param(_) => false,
            Operand::Array(v) => v.iter().any(Operand::has_null),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The comparison an SQL operator names (`=`, `<>`/`!=`, `<`, `<=`, `>`, `>=`).
    pub(crate) fn from_sql(op: &BinaryOperator) -> Option<CmpOp> {
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

    pub(crate) fn negate(self) -> Self {
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
    pub(crate) fn flip(self) -> Self {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }

    pub(crate) fn mango(self) -> &'static str {
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
pub(crate) enum Test {
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
pub(crate) struct Atom {
    pub(crate) field: String,
    /// Which segments of `field` are array positions (bit `i` for segment `i`); a
    /// number that is not one is an object key (`stats."2024"`).
    pub(crate) positions: u64,
    pub(crate) ty: Option<ColumnType>,
    pub(crate) test: Test,
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
pub(crate) struct AtomCond(pub(crate) Atom);

impl Cond {
    pub(crate) fn atom(a: Atom) -> Cond {
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
            // `_conflicts` is no field of the stored document: no index holds it.
            if a.field == "_id" || a.field == CONFLICTS || key.mango_field().as_deref() == Some(a.field.as_str()) {
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
            if f == CONFLICTS {
                continue; // added when a document is read, never indexed
            }
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
    pub(crate) fn not(self) -> Cond {
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

    /// Flattens nested AND/OR and folds TRUE/FALSE.
    pub(crate) fn simplify(self) -> Cond {
        match self {
            Cond::And(v) => fold(v, true),
            Cond::Or(v) => fold(v, false),
            other => other,
        }
    }
}

pub(crate) fn fold(items: Vec<Cond>, is_and: bool) -> Cond {
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

/// Whether every atom of `c` tests the element itself (an empty path).
pub(crate) fn names_element_only(c: &Cond) -> bool {
    match c {
        Cond::True | Cond::False => true,
        Cond::And(v) | Cond::Or(v) => v.iter().all(names_element_only),
        Cond::Atom(a) => a.0.field.is_empty(),
    }
}

/// `c` as an OR of ANDs of atoms, unless that takes more than `limit` terms.
pub(crate) fn dnf(c: Cond, limit: usize) -> Option<Vec<Vec<Cond>>> {
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
