//! `SELECT` → a `_find` plan.

use super::expr::{function_message, is_column, subquery_message, Cond, Lit};
use super::Cx;
use crate::plan::{Count, ParamUsage, Projected, Select, SortKey};
use crate::schema::TableKey;
use crate::template::Tmpl;
use sqlparser::ast::{
    Expr, LimitClause, ObjectName, OrderByKind, OrderBySort, Query, SelectItem, SetExpr, Spanned, TableFactor, Value,
};

/// The `FROM` table of a query, if it has exactly one.
pub(super) fn table_name(q: &Query) -> Option<ObjectName> {
    match q.body.as_ref() {
        SetExpr::Select(s) if s.from.len() == 1 => match &s.from[0].relation {
            TableFactor::Table { name, .. } => Some(name.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// A SELECT: a `_find` plan, or an aggregate one when it groups.
pub(super) fn translate(cx: &mut Cx, q: &Query) -> Option<crate::plan::Plan> {
    if q.with.is_some() {
        cx.error("WITH (common table expressions) is not supported: a Mango query reads one table and cannot name intermediate results", Some(q.span()));
    }
    if q.fetch.is_some() {
        cx.error("FETCH is not supported: write LIMIT n", Some(q.span()));
    }
    if !q.locks.is_empty() {
        cx.error("FOR UPDATE / FOR SHARE is not supported: CouchDB has no locks; updates are checked with each document's `_rev`", Some(q.span()));
    }
    let s = match q.body.as_ref() {
        SetExpr::Select(s) => s,
        SetExpr::SetOperation { op, .. } => {
            cx.error(
                format!("{op} is not supported: a Mango query returns the documents of one selector; run the queries separately and combine the rows in Rust"),
                Some(q.body.span()),
            );
            return None;
        }
        other => {
            cx.error(format!("`{other}` is not supported: write SELECT … FROM table"), Some(other.span()));
            return None;
        }
    };
    if s.top.is_some() {
        cx.error("TOP is not supported: write LIMIT n", Some(s.span()));
    }
    if s.into.is_some() {
        cx.error("SELECT INTO is not supported: use INSERT", Some(s.span()));
    }
    match s.from.as_slice() {
        [] => {
            cx.error("SELECT needs FROM and a table: `SELECT … FROM users`", Some(s.span()));
            return None;
        }
        [t] => {
            if let Some(j) = t.joins.first() {
                // One error: the rest of the statement is about tables that cannot be read together.
                cx.error(
                    "JOIN is not supported: CouchDB has no joins; Mango queries one table (documents of one `type`) at a time. Query each table and combine the rows in Rust",
                    Some(j.relation.span()),
                );
                return None;
            }
            match &t.relation {
                TableFactor::Table { .. } => {
                    cx.set_relation(&t.relation);
                }
                TableFactor::Derived { .. } => {
                    cx.error(subquery_message(), Some(t.relation.span()));
                    return None;
                }
                other => {
                    cx.error(format!("`{other}` is not a table: write FROM table_name"), Some(other.span()));
                    return None;
                }
            }
        }
        [_, second, ..] => {
            cx.error(
                "selecting from several tables is a join, which CouchDB does not have: query one table at a time",
                Some(second.relation.span()),
            );
            return None;
        }
    }
    if super::aggregate::is_aggregate(s) {
        return super::aggregate::translate(cx, q, s).map(|a| crate::plan::Plan::Aggregate(Box::new(a)));
    }
    if !s.named_window.is_empty() || s.qualify.is_some() {
        cx.error("window functions are not supported by Mango", Some(s.span()));
    }
    if !s.lateral_views.is_empty()
        || s.prewhere.is_some()
        || !s.connect_by.is_empty()
        || !s.cluster_by.is_empty()
        || !s.distribute_by.is_empty()
        || !s.sort_by.is_empty()
    {
        cx.error(
            "this SELECT clause is not supported: write SELECT … FROM … [WHERE …] [ORDER BY …] [LIMIT …] [OFFSET …]",
            Some(s.span()),
        );
    }

    let projection = projection(cx, &s.projection);
    let cond = s.selection.as_ref().map(|w| cx.cond(w));
    let cond = match cond {
        None => Some(Cond::True),
        Some(c) => c,
    };
    let order_by = order_by(cx, q);
    let (limit, offset) = limits(cx, q);

    let table = cx.table();
    let key = cx.key();
    let projection = projection?;
    let cond = cond?;
    let (order_by, server_sort) = order_by?;
    let simple = Cond::And(vec![cond.clone()]).simplify();
    let by_id = if order_by.is_empty() { simple.id_lookup() } else { None };
    // A server-side sort needs its own index; otherwise plan one from the WHERE.
    let planned = match (&by_id, server_sort && !order_by.is_empty()) {
        (Some(_), _) => None,
        (None, true) => None, // filled in below from the sort keys
        (None, false) => simple.index_fields(&key),
    };
    // pouchdb-server cannot sort through an index on fields the selector does
    // not mention; for the non-null keys a server sort uses, `$exists` is true anyway.
    let cond = if server_sort && !order_by.is_empty() {
        let mut all = vec![cond];
        all.extend(order_by.iter().filter(|k| k.field != "_id").map(|k| Cond::exists(&k.field)));
        Cond::And(all)
    } else {
        cond
    };
    let fields = projection.as_ref().map(|cols| {
        let mut fields = vec!["_id".to_string()];
        // Whole top-level fields: the servers differ on projecting inside arrays,
        // and the row decoder walks the nested path itself.
        let top = |f: &String| crate::path::escape(&crate::path::segments(f)[0]);
        let extra = cols.iter().map(|c| top(&c.field));
        let sort_fields = order_by.iter().filter(|_| !server_sort).map(|k| top(&k.field));
        for f in extra.chain(sort_fields) {
            if !fields.contains(&f) {
                fields.push(f);
            }
        }
        fields
    });
    let required = Cond::And(vec![cond.clone()]).simplify().required_fields(&key);
    let not_null = cx.not_null_fields();
    let sort_index: Option<Vec<String>> = (server_sort && !order_by.is_empty())
        .then(|| key.index_head().into_iter().chain(order_by.iter().map(|k| k.field.clone())).collect());
    let selector = table_selector(&table, &key, cond);
    Some(crate::plan::Plan::Select(Select {
        partition: cx.partition(&selector),
        selector,
        table,
        key,
        fields,
        projection,
        order_by,
        server_sort,
        index: sort_index.clone(),
        limit,
        offset,
        by_id,
        planned: planned.or(sort_index),
        required,
        not_null,
    }))
}

fn projection(cx: &mut Cx, items: &[SelectItem]) -> Option<Option<Vec<Projected>>> {
    if let [SelectItem::Wildcard(_)] = items {
        return Some(None);
    }
    let mut out: Vec<Projected> = Vec::new();
    let mut ok = true;
    for item in items {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                cx.error("`*` must stand alone: write `SELECT *` or list the columns", Some(item.span()));
                ok = false;
                continue;
            }
            other => {
                cx.error(
                    format!("`{other}` is not supported in SELECT: list columns of the table"),
                    Some(other.span()),
                );
                ok = false;
                continue;
            }
        };
        if !is_column(expr) {
            let msg = match expr {
                Expr::Function(f) if f.over.is_some() => "window functions are not supported by Mango".to_string(),
                Expr::Function(f) => function_message(&f.name.to_string()),
                Expr::Subquery(_) => subquery_message(),
                other => format!("`{other}` is not a column: SELECT can only list columns of the table (Mango returns document fields, it does not compute values)"),
            };
            cx.error(msg, Some(expr.span()));
            ok = false;
            continue;
        }
        let Some(col) = cx.column(expr) else {
            ok = false;
            continue;
        };
        // A path's row field is its alias, or the path with `_` (`address.city` → `address_city`).
        let name = alias.map(|a| a.value.clone()).unwrap_or_else(|| col.name.replace(['.', '['], "_").replace(']', ""));
        if out.iter().any(|p| p.name == name) {
            cx.error(
                format!("the column `{name}` is selected twice: give one of them another name with AS"),
                Some(expr.span()),
            );
            ok = false;
            continue;
        }
        out.push(Projected { name, column: col.name, field: col.field, ty: col.ty });
    }
    ok.then_some(Some(out))
}

/// ORDER BY keys, and whether the server can do the sorting.
fn order_by(cx: &mut Cx, q: &Query) -> Option<(Vec<SortKey>, bool)> {
    let Some(ob) = &q.order_by else { return Some((vec![], true)) };
    let exprs = match &ob.kind {
        OrderByKind::Expressions(v) => v,
        OrderByKind::All(_) => {
            cx.error("ORDER BY ALL is not supported: name the columns", Some(ob.span()));
            return None;
        }
    };
    let mut keys = Vec::new();
    let mut server = true;
    let mut ok = true;
    for e in exprs {
        let Some(col) = (if is_column(&e.expr) {
            cx.column(&e.expr)
        } else {
            cx.error(
                format!("ORDER BY `{}`: Mango sorts by fields, so ORDER BY takes columns of the table", e.expr),
                Some(e.expr.span()),
            );
            None
        }) else {
            ok = false;
            continue;
        };
        let desc = match e.options.sort {
            None | Some(OrderBySort::Asc) => false,
            Some(OrderBySort::Desc) => true,
            Some(_) => {
                cx.error("ORDER BY … USING is not supported: write ASC or DESC", Some(e.span()));
                ok = false;
                continue;
            }
        };
        // SQL NULL order here follows CouchDB's collation: NULL first ascending, last descending.
        if let Some(nulls_first) = e.options.nulls_first {
            if nulls_first == desc {
                server = false;
            }
        }
        if let Some(t) = col.ty.as_ref().filter(|t| !t.kind.is_scalar()) {
            cx.error(
                format!(
                    "ORDER BY `{}`: it is {} (`{}`); sort by a field that holds a single value",
                    col.name,
                    t.kind.describe(),
                    t.rust
                ),
                Some(e.expr.span()),
            );
            ok = false;
            continue;
        }
        // A json index leaves out documents without the field, so a nullable key is sorted here.
        let nullable = col.ty.as_ref().is_none_or(|t| t.nullable) && col.field != "_id";
        if nullable {
            server = false;
        }
        keys.push(SortKey { field: col.field, desc, nulls_first: e.options.nulls_first.unwrap_or(!desc) });
    }
    if keys.windows(2).any(|w| w[0].desc != w[1].desc) {
        server = false; // CouchDB rejects mixed directions (unsupported_mixed_sort)
    }
    ok.then_some((keys, server))
}

pub(super) fn limits(cx: &mut Cx, q: &Query) -> (Option<Count>, Option<Count>) {
    let Some(lc) = &q.limit_clause else { return (None, None) };
    let (limit, offset) = match lc {
        LimitClause::LimitOffset { limit, offset, limit_by } => {
            if !limit_by.is_empty() {
                cx.error("LIMIT BY is not supported", Some(lc.span()));
            }
            (limit.as_ref(), offset.as_ref().map(|o| &o.value))
        }
        LimitClause::OffsetCommaLimit { offset, limit } => (Some(limit), Some(offset)),
    };
    (limit.and_then(|e| count(cx, e, "LIMIT")), offset.and_then(|e| count(cx, e, "OFFSET")))
}

fn count(cx: &mut Cx, e: &Expr, what: &str) -> Option<Count> {
    if let Expr::Value(v) = e {
        if let Value::Placeholder(_) = v.value {
            return cx.param(v.span, ParamUsage::Count).map(Count::Param);
        }
    }
    match cx.literal(e) {
        Some(Lit::Int(n)) if n >= 0 => Some(Count::Literal(n as u64)),
        _ => {
            cx.error(format!("{what} takes a whole number of rows (0 or more) or a `?` parameter"), Some(e.span()));
            None
        }
    }
}

/// The selector of a statement on `table`: `"type": table` (or the table's
/// other discriminator, or its `_id` prefix) AND the condition, merged into one
/// object (see [`merged_selector`]). pouchdb-server needs the merging: it ignores
/// top-level fields that stand beside `$and`, and it looks for sort fields at the
/// top level.
pub(super) fn table_selector(table: &str, key: &TableKey, cond: Cond) -> Tmpl {
    match key {
        TableKey::Field(_) => {
            let field = key.mango_field().expect("a field key");
            merged_selector(vec![(field, Tmpl::Str(table.to_string()))], cond)
        }
        // `_id LIKE 'prefix%'`: `$beginsWith` (CouchDB 3.4+) or a range, both
        // served by the primary index.
        TableKey::IdPrefix(prefix) => merged_selector(vec![], Cond::And(vec![Cond::id_prefix(prefix), cond])),
    }
}

/// The selector of `head` (field conditions) AND `cond`, as one conjunction whose
/// every key is distinct: conditions on one field merge into one operator map
/// (`{"age": {"$gt": 1, "$lte": 9}}`, two `NOT IN` lists into one); NORs join into
/// one `$nor`; what cannot merge (an operator repeated with another value, `=`
/// beside a range, a second `$or`) joins that `$nor` negated: `A AND B` is
/// `{A, "$nor": [{"$nor": [B]}]}`.
///
/// The reason is pouchdb-server: it folds every `$and` into one object, field by
/// field, keeping one value per operator (`$nin` twice keeps the last list, `$eq`
/// drops the ranges beside it, two `$or`s are crossed and branches on one field
/// dropped), so any conjunction it is given must already be one object with
/// nothing left to fold. CouchDB reads the same selector the same way.
pub(super) fn merged_selector(head: Vec<(String, Tmpl)>, cond: Cond) -> Tmpl {
    let cond = Cond::And(vec![cond]).simplify();
    let parts: Vec<Tmpl> = match &cond {
        Cond::True => vec![],
        Cond::And(v) => v.iter().map(Cond::mango).collect(),
        c => vec![c.mango()],
    };
    let mut merged = head;
    // Conjuncts that cannot merge: each becomes `{"$nor": [it]}` inside the `$nor`.
    let mut leftover: Vec<Tmpl> = Vec::new();
    // A NULL parameter in a top-level conjunct makes the whole AND false:
    // hoist the guards to the whole selector so the conjuncts can merge.
    let mut guards = Vec::new();
    let mut no_null = Vec::new();
    let mut agree = Vec::new();
    let mut parts: std::collections::VecDeque<Tmpl> = parts.into();
    while let Some(p) = parts.pop_front() {
        let p = match p {
            Tmpl::Guard { params, inner } => {
                guards.extend(params);
                *inner
            }
            // Likewise a NULL element of a `NOT (col = ANY(?))` array.
            Tmpl::NoNullElement { param, inner } => {
                no_null.push(param);
                *inner
            }
            p => p,
        };
        // An `$and` among the conjuncts is more conjuncts.
        let p = match p {
            Tmpl::Object(mut e) if e.len() == 1 && e[0].0 == "$and" && matches!(e[0].1, Tmpl::Array(_)) => {
                let Tmpl::Array(items) = e.remove(0).1 else { unreachable!("matched above") };
                for (i, item) in items.into_iter().enumerate() {
                    parts.insert(i, item);
                }
                continue;
            }
            // A one-key object is one conjunct; an object of several keys is several.
            Tmpl::Object(e) if e.len() > 1 => {
                for (i, (k, v)) in e.into_iter().enumerate() {
                    parts.insert(i, Tmpl::Object(vec![(k, v)]));
                }
                continue;
            }
            p => p,
        };
        let (key, value) = match p {
            Tmpl::Object(mut e) if e.len() == 1 => e.remove(0),
            other => {
                leftover.push(other);
                continue;
            }
        };
        // NOR(a) AND NOR(b) is NOR(a, b).
        if key == "$nor" {
            if let Some((_, Tmpl::Array(items))) = merged.iter_mut().find(|(k, _)| k == "$nor") {
                if let Tmpl::Array(more) = value {
                    items.extend(more);
                    continue;
                }
            }
        }
        let Some(pos) = merged.iter().position(|(k, _)| *k == key) else {
            merged.push((key, value));
            continue;
        };
        match merge_ops(&merged[pos].1, &value, &mut agree) {
            Some(ops) if !key.starts_with('$') => merged[pos].1 = ops,
            _ => leftover.push(Tmpl::Object(vec![(key, value)])),
        }
    }
    if !leftover.is_empty() {
        let negated = leftover.into_iter().map(|t| obj1_t("$nor", Tmpl::Array(vec![normalised(t)])));
        match merged.iter_mut().find(|(k, _)| k == "$nor") {
            Some((_, Tmpl::Array(items))) => items.extend(negated),
            _ => merged.push(("$nor".to_string(), Tmpl::Array(negated.collect()))),
        }
    }
    // pouchdb-server ignores top-level fields that stand beside `$and`: when
    // `$and` is needed, everything goes in it.
    // When `$and` stands anywhere below (see `Cond::mango`), pouchdb-server also stops
    // normalising the top-level fields, so then the top level is an `$and` too.
    let nested_and = merged.iter().any(|(k, v)| k == "$and" || has_and(v));
    let selector = if !nested_and {
        Tmpl::Object(merged)
    } else {
        let all: Vec<Tmpl> = merged.into_iter().map(|(k, v)| Tmpl::Object(vec![(k, v)])).collect();
        Tmpl::Object(vec![("$and".to_string(), Tmpl::Array(super::expr::one_or(all)))])
    };
    let selector = if agree.is_empty() { selector } else { Tmpl::Agree { pairs: agree, inner: Box::new(selector) } };
    let selector =
        no_null.into_iter().fold(selector, |inner, param| Tmpl::NoNullElement { param, inner: Box::new(inner) });
    if guards.is_empty() {
        selector
    } else {
        Tmpl::Guard { params: guards, inner: Box::new(selector) }
    }
}

fn obj1_t(k: &str, v: Tmpl) -> Tmpl {
    Tmpl::Object(vec![(k.to_string(), v)])
}

/// A conjunct standing under `$nor`, where pouchdb-server does not normalise
/// what it is given: a LIKE's `$regex` is read only once normalised (a list), so
/// a conjunct holding one stands in a one-item `$and`, which pouchdb-server
/// normalises alone (CouchDB reads it as the conjunct itself).
fn normalised(t: Tmpl) -> Tmpl {
    if has_like(&t) {
        obj1_t("$and", Tmpl::Array(vec![t]))
    } else {
        t
    }
}

/// Whether a LIKE occurs anywhere in a template.
fn has_like(t: &Tmpl) -> bool {
    match t {
        Tmpl::Like { .. } => true,
        Tmpl::Object(e) => e.iter().any(|(_, v)| has_like(v)),
        Tmpl::Array(v) | Tmpl::InList(v) => v.iter().any(has_like),
        Tmpl::Guard { inner, .. } | Tmpl::Agree { inner, .. } => has_like(inner),
        _ => false,
    }
}

/// Whether `$and` occurs anywhere in a template.
fn has_and(t: &Tmpl) -> bool {
    match t {
        Tmpl::Object(e) => e.iter().any(|(k, v)| k == "$and" || has_and(v)),
        Tmpl::Array(v) | Tmpl::InList(v) => v.iter().any(has_and),
        Tmpl::Guard { inner, .. } | Tmpl::Agree { inner, .. } => has_and(inner),
        _ => false,
    }
}

/// Two operator maps of one field as one, unless an operator repeats with
/// another value (two `$nin` lists join: NOT IN a AND NOT IN b is NOT IN a ∪ b),
/// or `$eq` would stand beside a range or another `$eq` (pouchdb-server keeps
/// only the `$eq`).
///
/// Two `$type` guards may differ only in how they are known (a parameter's
/// type is known when it is bound): the merged map keeps one, and `agree`
/// records that both must name the same type, or the selector matches nothing.
fn merge_ops(a: &Tmpl, b: &Tmpl, agree: &mut Vec<(Tmpl, Tmpl)>) -> Option<Tmpl> {
    let (Tmpl::Object(a), Tmpl::Object(b)) = (a, b) else { return None };
    if !a.iter().chain(b).all(|(k, _)| k.starts_with('$')) {
        return None;
    }
    const RANGE: [&str; 5] = ["$gt", "$gte", "$lt", "$lte", "$ne"];
    let has = |m: &[(String, Tmpl)], ops: &[&str]| m.iter().any(|(k, _)| ops.contains(&k.as_str()));
    if (has(a, &["$eq"]) && has(b, &RANGE)) || (has(b, &["$eq"]) && has(a, &RANGE)) {
        return None;
    }
    let mut out = a.clone();
    let mut pending = Vec::new();
    for (k, v) in b {
        match out.iter_mut().find(|(ok, _)| ok == k) {
            Some((_, ov)) if ov == v => {}
            Some((_, ov)) if k == "$type" => pending.push((ov.clone(), v.clone())),
            Some((_, Tmpl::Array(items))) if k == "$nin" => match v {
                Tmpl::Array(more) => items.extend(more.iter().cloned()),
                _ => return None,
            },
            Some(_) => return None,
            None => out.push((k.clone(), v.clone())),
        }
    }
    agree.extend(pending);
    Some(Tmpl::Object(out))
}
