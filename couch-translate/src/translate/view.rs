//! The view path of an aggregate: map functions generated from the plan, with
//! CouchDB's built-in reduces. A map reads each value as SQL does (missing,
//! null and wrong-typed values are NULL), the same rule the streaming path applies.

use super::expr::{is_column, Use};
use super::Cx;
use crate::plan::{AggCall, AggFunc, AggSlot, AggView, GroupColumn};
use crate::schema::{Kind, TableKey};
use crate::template::Tmpl;
use sqlparser::ast::{BinaryOperator, Expr};

/// A JavaScript expression reading `path` from `doc` as a value of `kind`, or `null`.
fn read(field: &str, kind: Kind) -> String {
    let steps: Vec<String> =
        crate::path::segments(field).iter().map(|s| serde_json::to_string(s).expect("a string serializes")).collect();
    format!("norm(at(doc, [{}]), {})", steps.join(", "), serde_json::to_string(kind_tag(kind)).expect("serializes"))
}

fn kind_tag(kind: Kind) -> &'static str {
    match kind {
        Kind::Integer => "int",
        Kind::Float => "num",
        Kind::Text | Kind::DateTime => "str",
        Kind::Bool => "bool",
        _ => "any",
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

/// The equality conditions `col = value` of a WHERE that is only such an AND:
/// `(field, kind, value)`, or `None` when the WHERE needs the streaming path.
fn equalities(cx: &mut Cx, e: &Expr, out: &mut Vec<(String, Kind, Tmpl)>) -> Option<()> {
    match e {
        Expr::Nested(x) => equalities(cx, x, out),
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            equalities(cx, left, out)?;
            equalities(cx, right, out)
        }
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => {
            let (col, value) = match (is_column(left), is_column(right)) {
                (true, false) => (left, right),
                (false, true) => (right, left),
                _ => return None,
            };
            let col = cx.column(col)?;
            let kind = col.ty.as_ref()?.kind;
            if !kind.is_scalar() || col.field.starts_with('_') {
                return None;
            }
            // Translated again as the WHERE was: the same parameter, the same normalised literal.
            let op = cx.operand(value, &col, Use::Compare)?;
            let t = op.tmpl();
            if t == Tmpl::Null {
                return None;
            }
            out.push((col.field, kind, t));
            Some(())
        }
        _ => None,
    }
}

/// The views that answer an aggregate, when its WHERE and aggregates allow it.
pub(super) fn plan(cx: &mut Cx, selection: Option<&Expr>, groups: &[GroupColumn], aggs: &[AggCall]) -> Option<AggView> {
    cx.schema?; // kinds are needed to read values as SQL does
    let mut eqs = Vec::new();
    if let Some(w) = selection {
        equalities(cx, w, &mut eqs)?;
    }
    let table = cx.table();
    let key = cx.key();
    let mut keys: Vec<String> = eqs.iter().map(|(f, k, _)| read(f, *k)).collect();
    keys.extend(groups.iter().map(|g| read(&g.field, g.kind)));
    let mut values = vec!["1".to_string()];
    let mut slots = Vec::new();
    let mut stats: Vec<String> = Vec::new();
    for (i, a) in aggs.iter().enumerate() {
        let field = a.field.as_ref();
        let numeric = field.is_some_and(|(_, k)| matches!(k, Kind::Integer | Kind::Float));
        let var = format!("a{i}");
        let slot = match a.func {
            AggFunc::CountAll => AggSlot::Count(0),
            AggFunc::Count => {
                values.push(format!("{var} === null ? 0 : 1"));
                AggSlot::Count(values.len() - 1)
            }
            AggFunc::Sum | AggFunc::Avg if numeric => {
                values.push(format!("{var} === null ? 0 : 1"));
                values.push(format!("{var} === null ? 0 : {var}"));
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
        .filter_map(|(i, a)| a.field.as_ref().map(|(f, k)| format!("var a{i} = {}; ", read(f, *k))))
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
    let ddoc = format!("couchsql-agg-{:016x}", content_hash(&views.to_string()));
    Some(AggView { ddoc, views, prefix: eqs.into_iter().map(|(_, _, t)| t).collect(), slots })
}
