//! `SELECT` with aggregates, `GROUP BY`, `HAVING` or `DISTINCT` → an [`Aggregate`] plan.
//!
//! The WHERE is translated as for any SELECT (it selects the documents); the
//! groups, aggregates, HAVING and ORDER BY are resolved here against the
//! model, so that every column is checked and every row field has a type.

use super::expr::{is_column, Cond, Use};
use super::{Cx, ResolvedColumn};
use crate::plan::{AggCall, AggFunc, AggSort, AggValue, Aggregate, GroupColumn, Having, HavingTerm, Output, Select};
use crate::schema::{ColumnType, Kind};
use sqlparser::ast::{
    BinaryOperator, Distinct, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, OrderByKind,
    OrderBySort, Query, SelectItem, Spanned, UnaryOperator,
};

/// Whether a SELECT groups: aggregates in its list, `GROUP BY`, `HAVING` or `DISTINCT`.
pub(super) fn is_aggregate(s: &sqlparser::ast::Select) -> bool {
    s.distinct.is_some()
        || !matches!(&s.group_by, GroupByExpr::Expressions(v, _) if v.is_empty())
        || s.having.is_some()
        || s.projection.iter().any(|i| match i {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => has_aggregate(e),
            _ => false,
        })
}

/// The aggregate function a call names, if it is one.
fn func_of(name: &str) -> Option<AggFunc> {
    Some(match name.to_ascii_uppercase().as_str() {
        "COUNT" => AggFunc::Count,
        "SUM" => AggFunc::Sum,
        "AVG" => AggFunc::Avg,
        "MIN" => AggFunc::Min,
        "MAX" => AggFunc::Max,
        _ => return None,
    })
}

/// Whether `e` contains an aggregate call.
pub(crate) fn has_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => func_of(&f.name.to_string()).is_some(),
        Expr::Nested(x) | Expr::UnaryOp { expr: x, .. } | Expr::IsNull(x) | Expr::IsNotNull(x) => has_aggregate(x),
        Expr::BinaryOp { left, right, .. } => has_aggregate(left) || has_aggregate(right),
        _ => false,
    }
}

struct Groups {
    cols: Vec<GroupColumn>,
    types: Vec<Option<ColumnType>>,
}

struct Aggs {
    calls: Vec<AggCall>,
    types: Vec<ColumnType>,
    names: Vec<String>,
}

pub(super) fn translate(cx: &mut Cx, q: &Query, s: &sqlparser::ast::Select) -> Option<Aggregate> {
    let mut ok = true;
    let mut groups = Groups { cols: vec![], types: vec![] };
    let mut aggs = Aggs { calls: vec![], types: vec![], names: vec![] };
    let grouped = match &s.group_by {
        GroupByExpr::Expressions(v, mods) => {
            if !mods.is_empty() {
                cx.error("GROUP BY … WITH ROLLUP/CUBE is not supported", Some(s.group_by.span()));
                ok = false;
            }
            for e in v {
                ok &= group_column(cx, e, &mut groups).is_some();
            }
            !v.is_empty()
        }
        GroupByExpr::All(_) => {
            cx.error("GROUP BY ALL is not supported: name the columns", Some(s.group_by.span()));
            return None;
        }
    };
    let distinct = match &s.distinct {
        None | Some(Distinct::All) => false,
        Some(Distinct::Distinct) if grouped => {
            cx.error("write either DISTINCT or GROUP BY, not both", Some(s.span()));
            return None;
        }
        Some(Distinct::Distinct) => true,
        Some(Distinct::On(_)) => {
            cx.error("DISTINCT ON is not supported: write SELECT DISTINCT col, … or GROUP BY", Some(s.span()));
            return None;
        }
    };

    // The SELECT list.
    let mut output: Vec<Output> = Vec::new();
    for item in &s.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            other => {
                cx.error(
                    "`*` cannot be aggregated: list the grouped columns and the aggregates (COUNT(*), SUM(col), …)",
                    Some(other.span()),
                );
                ok = false;
                continue;
            }
        };
        if distinct && is_column(expr) {
            ok &= group_column(cx, expr, &mut groups).is_some();
        }
        let resolved = if let Some(i) = aggregate(cx, expr, &mut aggs) {
            Some((AggValue::Agg(i), aggs.names[i].clone(), aggs.types[i].clone()))
        } else if is_column(expr) {
            cx.column(expr).and_then(|col| match groups.cols.iter().position(|g| g.field == col.field) {
                Some(i) => {
                    let ty = groups.types[i].clone().unwrap_or_else(|| ColumnType::new(Kind::Json, true, "Value"));
                    Some((AggValue::Group(i), col.name.replace(['.', '['], "_").replace(']', ""), ty))
                }
                None => {
                    cx.error(
                        format!(
                            "`{}` is neither grouped nor aggregated: add it to GROUP BY, or use an aggregate such as MIN({})",
                            col.name, col.name
                        ),
                        Some(expr.span()),
                    );
                    None
                }
            })
        } else {
            if !has_aggregate(expr) {
                cx.error(
                    format!("`{expr}` is not supported in an aggregate SELECT: list grouped columns and COUNT, SUM, AVG, MIN or MAX of a column"),
                    Some(expr.span()),
                );
            }
            None
        };
        let Some((value, default_name, ty)) = resolved else {
            ok = false;
            continue;
        };
        let name = alias.unwrap_or(default_name);
        if output.iter().any(|o| o.name == name) {
            cx.error(format!("`{name}` is selected twice: give one of them another name with AS"), Some(expr.span()));
            ok = false;
            continue;
        }
        output.push(Output { name, value, ty });
    }

    let cond = match &s.selection {
        None => Some(Cond::True),
        Some(w) => cx.cond(w),
    };
    let having = s.having.as_ref().map(|h| having(cx, h, &output, &mut groups, &mut aggs));
    let order_by = order_by(cx, q, &output, &mut groups, &mut aggs);
    let (limit, offset) = super::select::limits(cx, q);

    let cond = cond?;
    let having = match having {
        Some(h) => Some(h?),
        None => None,
    };
    let order_by = order_by?;
    if !ok || cx.has_errors() {
        return None;
    }
    let view = super::view::plan(cx, s.selection.as_ref(), &groups.cols, &aggs.calls);
    let read = read_plan(cx, cond, &groups, &aggs);
    Some(Aggregate {
        read,
        groups: groups.cols,
        aggs: aggs.calls,
        output,
        having,
        order_by,
        limit,
        offset,
        grouped: grouped || distinct,
        view,
    })
}

/// The `_find` read of the documents: the WHERE and the top-level fields needed.
fn read_plan(cx: &mut Cx, cond: Cond, groups: &Groups, aggs: &Aggs) -> Select {
    let table = cx.table();
    let key = cx.key();
    let simple = Cond::And(vec![cond.clone()]).simplify();
    let mut fields = vec!["_id".to_string()];
    let used =
        groups.cols.iter().map(|g| &g.field).chain(aggs.calls.iter().filter_map(|a| a.field.as_ref().map(|f| &f.0)));
    for f in used {
        let top = crate::path::escape(&crate::path::segments(f)[0]);
        if !fields.contains(&top) {
            fields.push(top);
        }
    }
    let selector = super::select::table_selector(&table, &key, cond);
    Select {
        partition: cx.partition(&selector),
        selector,
        table,
        key: key.clone(),
        fields: Some(fields),
        projection: None,
        order_by: vec![],
        server_sort: true,
        index: None,
        limit: None,
        offset: None,
        by_id: simple.id_lookup(),
        planned: simple.index_fields(&key),
        required: simple.required_fields(&key),
        not_null: cx.not_null_fields(),
    }
}

/// Adds a `GROUP BY` column (once); its index.
fn group_column(cx: &mut Cx, e: &Expr, groups: &mut Groups) -> Option<usize> {
    if !is_column(e) {
        cx.error(format!("GROUP BY `{e}`: group by columns of the table"), Some(e.span()));
        return None;
    }
    let col = cx.column(e)?;
    if let Some(t) = col.ty.as_ref().filter(|t| !t.kind.is_scalar()) {
        cx.error(
            format!(
                "GROUP BY `{}`: it is {} (`{}`); group by a field that holds a single value",
                col.name,
                t.kind.describe(),
                t.rust
            ),
            Some(e.span()),
        );
        return None;
    }
    if let Some(i) = groups.cols.iter().position(|g| g.field == col.field) {
        return Some(i);
    }
    groups.cols.push(GroupColumn { name: col.name.clone(), field: col.field.clone(), kind: kind_of(&col) });
    groups.types.push(col.ty);
    Some(groups.cols.len() - 1)
}

fn kind_of(col: &ResolvedColumn) -> Kind {
    // Without a model any JSON value is taken as it is.
    col.ty.as_ref().map_or(Kind::Json, |t| t.kind)
}

/// `Option<T>` of a column's Rust type.
fn optional(ty: &ColumnType) -> ColumnType {
    let mut t = ty.clone();
    if !t.nullable {
        t.nullable = true;
        t.rust = format!("Option<{}>", t.rust);
    }
    t
}

/// If `e` is an aggregate call: its index among `aggs` (added once), checked.
fn aggregate(cx: &mut Cx, e: &Expr, aggs: &mut Aggs) -> Option<usize> {
    let e = match e {
        Expr::Nested(x) => x.as_ref(),
        e => e,
    };
    let Expr::Function(f) = e else { return None };
    let func = func_of(&f.name.to_string())?;
    let upper = f.name.to_string().to_ascii_uppercase();
    let args = match &f.args {
        FunctionArguments::List(l) if l.duplicate_treatment.is_none() && l.clauses.is_empty() => &l.args,
        _ => {
            cx.error(
                format!("{upper}(DISTINCT …) and other modifiers are not supported: write {upper}(column)"),
                Some(e.span()),
            );
            return None;
        }
    };
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        cx.error(format!("{upper}(…) OVER/FILTER is not supported"), Some(e.span()));
        return None;
    }
    let (func, col) = match args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if func == AggFunc::Count => (AggFunc::CountAll, None),
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] if is_column(x) => (func, Some(cx.column(x)?)),
        _ => {
            cx.error(
                format!(
                    "{upper} takes one column: {upper}(column){}",
                    if func == AggFunc::Count { " or COUNT(*)" } else { "" }
                ),
                Some(e.span()),
            );
            return None;
        }
    };
    let (ty, integer, name) = match &col {
        None => (ColumnType::new(Kind::Integer, false, "i64"), false, "count".to_string()),
        Some(col) => {
            let base = col.name.replace(['.', '['], "_").replace(']', "");
            let kind = kind_of(col);
            let describe = |cx: &mut Cx, what: &str| {
                let t = col.ty.as_ref().expect("a typed column");
                cx.error(
                    format!(
                        "{upper}({}) needs {what}: `{}` is {} (`{}`)",
                        col.name,
                        col.name,
                        t.kind.describe(),
                        t.rust
                    ),
                    Some(e.span()),
                );
            };
            match func {
                AggFunc::Count => (ColumnType::new(Kind::Integer, false, "i64"), false, format!("count_{base}")),
                AggFunc::Sum | AggFunc::Avg if !matches!(kind, Kind::Integer | Kind::Float | Kind::Json) => {
                    describe(cx, "a numeric column");
                    return None;
                }
                AggFunc::Sum if kind == Kind::Integer => {
                    (ColumnType::new(Kind::Integer, true, "Option<i64>"), true, format!("sum_{base}"))
                }
                AggFunc::Sum => (ColumnType::new(Kind::Float, true, "Option<f64>"), false, format!("sum_{base}")),
                AggFunc::Avg => (ColumnType::new(Kind::Float, true, "Option<f64>"), false, format!("avg_{base}")),
                AggFunc::Min | AggFunc::Max if !(kind.is_scalar() || kind == Kind::Json) => {
                    describe(cx, "a column that holds single values");
                    return None;
                }
                AggFunc::Min | AggFunc::Max => {
                    let ty = col.ty.as_ref().map_or_else(|| ColumnType::new(Kind::Json, true, "Value"), optional);
                    let prefix = if func == AggFunc::Min { "min" } else { "max" };
                    (ty, false, format!("{prefix}_{base}"))
                }
                AggFunc::CountAll => unreachable!("COUNT(*) has no column"),
            }
        }
    };
    let call = AggCall { func, field: col.as_ref().map(|c| (c.field.clone(), kind_of(c))), integer };
    if let Some(i) = aggs.calls.iter().position(|c| *c == call) {
        return Some(i);
    }
    aggs.calls.push(call);
    aggs.types.push(ty);
    aggs.names.push(name);
    Some(aggs.calls.len() - 1)
}

/// A value named in HAVING or ORDER BY: an output name, a grouped column, or an aggregate.
fn value(
    cx: &mut Cx,
    e: &Expr,
    output: &[Output],
    groups: &mut Groups,
    aggs: &mut Aggs,
    clause: &str,
) -> Option<(AggValue, ColumnType)> {
    if let Expr::Identifier(id) = e {
        if let Some(o) = output.iter().find(|o| o.name == id.value) {
            return Some((o.value, o.ty.clone()));
        }
    }
    if let Some(i) = aggregate(cx, e, aggs) {
        return Some((AggValue::Agg(i), aggs.types[i].clone()));
    }
    if has_aggregate(e) {
        return None; // reported by `aggregate`
    }
    if !is_column(e) {
        cx.error(format!("{clause} `{e}`: name a grouped column, an output name or an aggregate"), Some(e.span()));
        return None;
    }
    let name = e.to_string();
    let names = output.iter().map(|o| o.name.as_str());
    let known_column = cx.schema.is_none_or(|s| {
        let first = name.split(['.', '[']).next().unwrap_or("");
        s.column(first).is_some()
    });
    if !known_column {
        let hint = crate::schema::closest(&name, names).map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
        cx.error(
            format!("{clause} `{name}`: not an output name of this query nor a column of the table{hint}"),
            Some(e.span()),
        );
        return None;
    }
    let col = cx.column(e)?;
    match groups.cols.iter().position(|g| g.field == col.field) {
        Some(i) => Some((
            AggValue::Group(i),
            groups.types[i].clone().unwrap_or_else(|| ColumnType::new(Kind::Json, true, "Value")),
        )),
        None => {
            cx.error(
                format!(
                    "{clause} `{}`: the column is not grouped; add it to GROUP BY or use an aggregate of it",
                    col.name
                ),
                Some(e.span()),
            );
            None
        }
    }
}

fn having(cx: &mut Cx, e: &Expr, output: &[Output], groups: &mut Groups, aggs: &mut Aggs) -> Option<Having> {
    match e {
        Expr::Nested(x) => having(cx, x, output, groups, aggs),
        Expr::UnaryOp { op: UnaryOperator::Not, expr } => {
            Some(Having::Not(Box::new(having(cx, expr, output, groups, aggs)?)))
        }
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            let (l, r) = (having(cx, left, output, groups, aggs), having(cx, right, output, groups, aggs));
            Some(Having::And(Box::new(l?), Box::new(r?)))
        }
        Expr::BinaryOp { left, op: BinaryOperator::Or, right } => {
            let (l, r) = (having(cx, left, output, groups, aggs), having(cx, right, output, groups, aggs));
            Some(Having::Or(Box::new(l?), Box::new(r?)))
        }
        Expr::IsNull(x) | Expr::IsNotNull(x) => {
            let (v, _) = value(cx, x, output, groups, aggs, "HAVING")?;
            Some(Having::IsNull(HavingTerm::Value(v), matches!(e, Expr::IsNotNull(_))))
        }
        Expr::BinaryOp { left, op, right } => {
            let sym = match op {
                BinaryOperator::Eq => "=",
                BinaryOperator::NotEq => "<>",
                BinaryOperator::Lt => "<",
                BinaryOperator::LtEq => "<=",
                BinaryOperator::Gt => ">",
                BinaryOperator::GtEq => ">=",
                _ => {
                    cx.error(
                        format!("HAVING supports =, <>, <, <=, >, >=, AND, OR, NOT and IS NULL, not `{op}`"),
                        Some(e.span()),
                    );
                    return None;
                }
            };
            let is_value = |x: &Expr| is_column(x) || has_aggregate(x);
            let (l, r) = match (is_value(left), is_value(right)) {
                (true, true) => {
                    let l = value(cx, left, output, groups, aggs, "HAVING");
                    let r = value(cx, right, output, groups, aggs, "HAVING");
                    (HavingTerm::Value(l?.0), HavingTerm::Value(r?.0))
                }
                (true, false) => {
                    let (v, ty) = value(cx, left, output, groups, aggs, "HAVING")?;
                    (HavingTerm::Value(v), constant(cx, right, &left.to_string(), ty)?)
                }
                (false, true) => {
                    let (v, ty) = value(cx, right, output, groups, aggs, "HAVING")?;
                    (constant(cx, left, &right.to_string(), ty)?, HavingTerm::Value(v))
                }
                (false, false) => {
                    cx.error(format!("HAVING `{e}` compares two constants"), Some(e.span()));
                    return None;
                }
            };
            Some(Having::Cmp(sym.to_string(), l, r))
        }
        other => {
            cx.error(
                format!("HAVING `{other}` is not supported: compare aggregates or grouped columns with values"),
                Some(other.span()),
            );
            None
        }
    }
}

/// A literal or `?` compared with a value of type `ty` (checked against it).
fn constant(cx: &mut Cx, e: &Expr, name: &str, ty: ColumnType) -> Option<HavingTerm> {
    let mut ty = ty;
    ty.nullable = true; // comparing with NULL is allowed (and never true)
    let col =
        ResolvedColumn { name: name.to_string(), field: String::new(), positions: 0, ty: Some(ty), span: e.span() };
    cx.operand(e, &col, Use::Compare).map(|o| HavingTerm::Const(o.tmpl()))
}

fn order_by(cx: &mut Cx, q: &Query, output: &[Output], groups: &mut Groups, aggs: &mut Aggs) -> Option<Vec<AggSort>> {
    let Some(ob) = &q.order_by else { return Some(vec![]) };
    let OrderByKind::Expressions(exprs) = &ob.kind else {
        cx.error("ORDER BY ALL is not supported: name the columns", Some(ob.span()));
        return None;
    };
    let mut keys = Vec::new();
    let mut ok = true;
    for e in exprs {
        let desc = match e.options.sort {
            None | Some(OrderBySort::Asc) => false,
            Some(OrderBySort::Desc) => true,
            Some(_) => {
                cx.error("ORDER BY … USING is not supported: write ASC or DESC", Some(e.span()));
                ok = false;
                continue;
            }
        };
        match value(cx, &e.expr, output, groups, aggs, "ORDER BY") {
            Some((by, _)) => keys.push(AggSort { by, desc, nulls_first: e.options.nulls_first.unwrap_or(!desc) }),
            None => ok = false,
        }
    }
    ok.then_some(keys)
}
