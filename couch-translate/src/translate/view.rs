//! The view path of an aggregate: map functions generated from the plan, with
//! CouchDB's built-in reduces. A map reads each value as SQL does (missing,
//! null and wrong-typed values are NULL), the same rule the streaming path applies.

use super::expr::{is_column, Use};
use super::Cx;
use crate::plan::{AggCall, AggFunc, AggSlot, AggView, GroupColumn, KeyRange};
use crate::schema::{Kind, TableKey};
use crate::template::Tmpl;
use couch_semantics::view::{Read, ReadKind, SumItem, TableTest, ViewSpec, ViewSpecs, ViewValue};
use sqlparser::ast::{BinaryOperator, Expr};

/// A JavaScript expression reading `path` from `doc` as a value of `kind`, or `null`.
fn read(field: &str, kind: Kind) -> String {
    let steps: Vec<String> =
        crate::path::segments(field).iter().map(|s| serde_json::to_string(s).expect("a string serializes")).collect();
    format!(
        "norm(at(doc, [{}]), {})",
        steps.join(", "),
        serde_json::to_string(read_kind(kind).as_str()).expect("serializes")
    )
}

/// The same read, described as data for engines without JavaScript (couch-sql's
/// embedded engine).
fn described(field: &str, kind: Kind) -> Read {
    Read { path: crate::path::segments(field), kind: read_kind(kind) }
}

fn read_kind(kind: Kind) -> ReadKind {
    match kind {
        Kind::Integer => ReadKind::Int,
        Kind::Float => ReadKind::Num,
        Kind::Text | Kind::DateTime => ReadKind::Str,
        Kind::Bool => ReadKind::Bool,
        _ => ReadKind::Any,
    }
}

/// The helpers every generated map starts with: a path walk that only steps into
/// objects (and arrays by position), and SQL's reading of a value of a kind.
const HELPERS: &str = "function at(v, p) { for (var i = 0; i < p.length; i++) { \
if (v === null || typeof v !== 'object') return null; \
if (Array.isArray(v)) { var n = Number(p[i]); if (String(n) !== p[i] || n < 0 || n >= v.length) return null; v = v[n]; } \
else { if (!Object.prototype.hasOwnProperty.call(v, p[i])) return null; v = v[p[i]]; } } \
return v === undefined ? null : v; } \
function norm(v, k) { if (v === null) return null; \
if (k === 'int') return (typeof v === 'number' && isFinite(v) && Math.floor(v) === v) ? v : null; \
if (k === 'num') return (typeof v === 'number' && isFinite(v)) ? v : null; \
if (k === 'str') return typeof v === 'string' ? v : null; \
if (k === 'bool') return typeof v === 'boolean' ? v : null; \
return v; } ";

fn table_test(table: &str, key: &TableKey) -> String {
    let lit = |s: &str| serde_json::to_string(s).expect("a string serializes");
    match key {
        TableKey::Field(f) => format!("doc[{}] === {}", lit(f), lit(table)),
        TableKey::IdPrefix(p) => format!("typeof doc._id === 'string' && doc._id.indexOf({}) === 0", lit(p)),
    }
}

/// FNV-1a: a stable name for a design document's content.
fn content_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// What a WHERE made only of ANDed `col = value` and ranges on one column gives
/// the view's keys; `None` when it needs the streaming path.
#[derive(Default)]
struct KeyConditions {
    /// `(field, kind, value)` of each equality.
    eqs: Vec<(String, Kind, Tmpl)>,
    /// The one column bounded by `<`, `<=`, `>`, `>=` or BETWEEN, and its bounds.
    range: Option<(String, Kind, KeyRange)>,
}

impl KeyConditions {
    fn bound(&mut self, field: String, kind: Kind, lower: bool, value: Tmpl, inclusive: bool) -> Option<()> {
        let (f, _, r) = self.range.get_or_insert_with(|| (field.clone(), kind, KeyRange { lower: None, upper: None }));
        if *f != field {
            return None; // a second range column: the keys cannot serve both
        }
        let slot = if lower { &mut r.lower } else { &mut r.upper };
        if slot.is_some() {
            return None;
        }
        *slot = Some((value, inclusive));
        Some(())
    }
}

/// A column and the value it is compared with, translated again as the WHERE
/// was (the same parameter, the same normalised literal).
///
/// Without a model, a column's kind is the compared value's: a number, a string
/// or a boolean written in the SQL (as the `$type` guard of the `_find` path). A
/// parameter's kind is known only when it is bound, so such a range streams; an
/// equality needs no kind (the key is the value itself, of whatever type).
fn column_and_value(cx: &mut Cx, col: &Expr, value: &Expr, equality: bool) -> Option<(String, Kind, Tmpl)> {
    let col = cx.column(col)?;
    if col.field.starts_with('_') {
        return None;
    }
    let t = cx.operand(value, &col, Use::Compare)?.tmpl();
    let kind = match col.ty.as_ref() {
        Some(ty) if ty.kind.is_scalar() => ty.kind,
        Some(_) => return None,
        None => match &t {
            Tmpl::Int(_) | Tmpl::Float(_) => Kind::Float,
            Tmpl::Str(_) => Kind::Text,
            Tmpl::Bool(_) => Kind::Bool,
            Tmpl::Param(_) if equality => Kind::Json,
            _ => return None,
        },
    };
    (t != Tmpl::Null).then_some((col.field, kind, t))
}

fn key_conditions(cx: &mut Cx, e: &Expr, out: &mut KeyConditions) -> Option<()> {
    match e {
        Expr::Nested(x) => key_conditions(cx, x, out),
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            key_conditions(cx, left, out)?;
            key_conditions(cx, right, out)
        }
        Expr::Between { expr, negated: false, low, high } if is_column(expr) => {
            let (f, k, lo) = column_and_value(cx, expr, low, false)?;
            let (_, k_hi, hi) = column_and_value(cx, expr, high, false)?;
            if k != k_hi {
                return None; // bounds of two kinds: no one key range
            }
            out.bound(f.clone(), k, true, lo, true)?;
            out.bound(f, k, false, hi, true)
        }
        Expr::BinaryOp { left, op, right } => {
            let (col, value, flipped) = match (is_column(left), is_column(right)) {
                (true, false) => (left, right, false),
                (false, true) => (right, left, true),
                _ => return None,
            };
            let (f, k, v) = column_and_value(cx, col, value, matches!(op, BinaryOperator::Eq))?;
            // `? < col` is `col > ?`.
            let (lower, inclusive) = match (op, flipped) {
                (BinaryOperator::Eq, _) => {
                    out.eqs.push((f, k, v));
                    return Some(());
                }
                (BinaryOperator::Gt, false) | (BinaryOperator::Lt, true) => (true, false),
                (BinaryOperator::GtEq, false) | (BinaryOperator::LtEq, true) => (true, true),
                (BinaryOperator::Lt, false) | (BinaryOperator::Gt, true) => (false, false),
                (BinaryOperator::LtEq, false) | (BinaryOperator::GtEq, true) => (false, true),
                _ => return None,
            };
            out.bound(f, k, lower, v, inclusive)
        }
        _ => None,
    }
}

/// The views that answer an aggregate, when its WHERE and aggregates allow it.
pub(super) fn plan(cx: &mut Cx, selection: Option<&Expr>, groups: &[GroupColumn], aggs: &[AggCall]) -> Option<AggView> {
    // Without a model a value is read as it is (`any`), and summed as a number.
    let mut conds = KeyConditions::default();
    if let Some(w) = selection {
        key_conditions(cx, w, &mut conds)?;
    }
    let KeyConditions { eqs, range } = conds;
    let table = cx.table();
    let key = cx.key();
    // Keys: the equalities, the range column, then the groups.
    let key_fields: Vec<(&String, Kind)> = eqs
        .iter()
        .map(|(f, k, _)| (f, *k))
        .chain(range.iter().map(|(f, k, _)| (f, *k)))
        .chain(groups.iter().map(|g| (&g.field, g.kind)))
        .collect();
    let keys: Vec<String> = key_fields.iter().map(|(f, k)| read(f, *k)).collect();
    let key_spec: Vec<Read> = key_fields.iter().map(|(f, k)| described(f, *k)).collect();
    let table_spec = match &key {
        TableKey::Field(f) => TableTest::Field { field: f.clone(), value: table.clone() },
        TableKey::IdPrefix(p) => TableTest::IdPrefix { id_prefix: p.clone() },
    };
    let mut values = vec!["1".to_string()];
    let mut value_spec = vec![SumItem::One];
    let mut slots = Vec::new();
    let mut stats: Vec<String> = Vec::new();
    let mut stats_spec: Vec<ViewSpec> = Vec::new();
    for (i, a) in aggs.iter().enumerate() {
        let field = a.field.as_ref();
        let numeric = field.is_some_and(|(_, k)| matches!(k, Kind::Integer | Kind::Float));
        // SUM/AVG of a column without a model: its numbers (a map tests `typeof`).
        let summed = field.map(|(f, k)| (f, if *k == Kind::Json { Kind::Float } else { *k }));
        let numeric_sum = summed.is_some_and(|(_, k)| matches!(k, Kind::Integer | Kind::Float));
        let var = format!("a{i}");
        let slot = match a.func {
            AggFunc::CountAll => AggSlot::Count(0),
            AggFunc::Count => {
                let (f, k) = field.expect("COUNT(col) has a field");
                values.push(format!("{var} === null ? 0 : 1"));
                value_spec.push(SumItem::Present(described(f, *k)));
                AggSlot::Count(values.len() - 1)
            }
            AggFunc::Sum | AggFunc::Avg if numeric_sum => {
                let (f, k) = summed.expect("numeric has a field");
                values.push(format!("{var} === null ? 0 : 1"));
                values.push(format!("{var} === null ? 0 : {var}"));
                value_spec.push(SumItem::Present(described(f, k)));
                value_spec.push(SumItem::Number(described(f, k)));
                let (count, sum) = (values.len() - 2, values.len() - 1);
                if a.func == AggFunc::Sum {
                    AggSlot::Sum { count, sum, integer: a.integer }
                } else {
                    AggSlot::Avg { count, sum }
                }
            }
            AggFunc::Min | AggFunc::Max if numeric => {
                let (f, k) = field.expect("numeric has a field");
                let map = format!(
                    "function (doc) {{ {HELPERS}if ({}) {{ var v = {}; if (v !== null) emit([{}], v); }} }}",
                    table_test(&table, &key),
                    read(f, *k),
                    keys.join(", ")
                );
                let view = stats.iter().position(|m| *m == map).unwrap_or_else(|| {
                    stats.push(map);
                    stats_spec.push(ViewSpec {
                        table: table_spec.clone(),
                        keys: key_spec.clone(),
                        value: ViewValue::Stats(described(f, *k)),
                    });
                    stats.len() - 1
                });
                AggSlot::Stats { view, max: a.func == AggFunc::Max }
            }
            // MIN/MAX of text, dates or booleans, SUM/AVG without a model: streaming.
            _ => return None,
        };
        slots.push(slot);
    }
    let reads: Vec<String> = aggs
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            a.field.as_ref().map(|(f, k)| {
                let summed = matches!(a.func, AggFunc::Sum | AggFunc::Avg) && *k == Kind::Json;
                format!("var a{i} = {}; ", read(f, if summed { Kind::Float } else { *k }))
            })
        })
        .collect();
    let sums = format!(
        "function (doc) {{ {HELPERS}if ({}) {{ {}emit([{}], [{}]); }} }}",
        table_test(&table, &key),
        reads.concat(),
        keys.join(", "),
        values.join(", ")
    );
    let mut views = serde_json::Map::new();
    views.insert("sums".into(), serde_json::json!({ "map": sums, "reduce": "_sum" }));
    for (i, m) in stats.iter().enumerate() {
        views.insert(format!("stats{i}"), serde_json::json!({ "map": m, "reduce": "_stats" }));
    }
    let views = serde_json::Value::Object(views);
    let mut spec = ViewSpecs::new();
    spec.insert("sums".into(), ViewSpec { table: table_spec, keys: key_spec, value: ViewValue::Sum(value_spec) });
    for (i, s) in stats_spec.into_iter().enumerate() {
        spec.insert(format!("stats{i}"), s);
    }
    // Named by the JSON text of both, keys sorted (as a `serde_json::Value` writes them).
    let spec_text = serde_json::to_value(&spec).expect("a view description serializes").to_string();
    let ddoc = format!("couchsql-agg-{:016x}", content_hash(&format!("{views}{spec_text}")));
    Some(AggView {
        ddoc,
        views,
        spec,
        prefix: eqs.into_iter().map(|(_, _, t)| t).collect(),
        range: range.map(|(_, _, r)| r),
        slots,
    })
}
