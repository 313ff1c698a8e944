//! `INSERT`, `UPDATE` and `DELETE` → write plans.

use super::expr::{Cond, Use};
use super::select::table_selector;
use super::Cx;
use crate::plan::{Arith, ArithOp, Delete, IndexDef, Insert, SetValue, Update};
use crate::schema::Kind;
use crate::template::Tmpl;
use sqlparser::ast::{
    AssignmentTarget, BinaryOperator, Expr, FromTable, ObjectName, SetExpr, Spanned, TableFactor, TableObject,
    UnaryOperator,
};

pub(super) fn relation_name(t: &TableFactor) -> Option<ObjectName> {
    match t {
        TableFactor::Table { name, .. } => Some(name.clone()),
        _ => None,
    }
}

pub(super) fn delete_table(d: &sqlparser::ast::Delete) -> Option<ObjectName> {
    let tables = match &d.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    match tables.as_slice() {
        [t] => relation_name(&t.relation),
        _ => None,
    }
}

/// Columns the model maintains itself and SQL may not write.
fn read_only(field: &str) -> bool {
    field == "_rev" || field == crate::schema::CONFLICTS
}

pub(super) fn insert(cx: &mut Cx, i: &sqlparser::ast::Insert) -> Option<Insert> {
    let TableObject::TableName(name) = &i.table else {
        cx.error("INSERT needs a table name: INSERT INTO users (…) VALUES (…)", Some(i.span()));
        return None;
    };
    cx.set_table(name);
    if i.on.is_some() || i.returning.is_some() || i.or.is_some() || i.ignore || i.replace_into {
        cx.error(
            "this INSERT clause is not supported: write INSERT INTO table (columns) VALUES (…), (…)",
            Some(i.span()),
        );
    }
    if i.columns.is_empty() {
        cx.error("INSERT must list its columns: INSERT INTO users (name, age) VALUES (?, ?)", Some(i.span()));
        return None;
    }
    let mut cols = Vec::new();
    for c in &i.columns {
        let expr = match c.0.as_slice() {
            [sqlparser::ast::ObjectNamePart::Identifier(id)] => Expr::Identifier(id.clone()),
            _ => {
                cx.error(format!("`{c}` is not a column name"), Some(c.span()));
                return None;
            }
        };
        let Some(col) = cx.column(&expr) else { continue };
        if read_only(&col.field) {
            let why = if col.field == "_rev" {
                "`_rev` is set by CouchDB on every write and cannot be inserted"
            } else {
                "`_conflicts` lists a document's conflicting revisions, which replication makes: it cannot be inserted"
            };
            cx.error(why, Some(col.span));
            continue;
        }
        if cols.iter().any(|(_, c): &(Expr, super::ResolvedColumn)| c.field == col.field) {
            cx.error(format!("the column `{}` is listed twice", col.name), Some(col.span));
            continue;
        }
        cols.push((expr, col));
    }
    if let Some(schema) = cx.schema {
        let missing: Vec<String> = schema
            .columns
            .iter()
            .filter(|c| !c.ty.nullable && !c.field.starts_with('_'))
            .filter(|c| !cols.iter().any(|(_, r)| r.field == crate::path::escape(&c.field)))
            .map(|c| format!("`{}` ({})", c.name, c.ty.rust))
            .collect();
        if !missing.is_empty() {
            cx.error(
                format!(
                    "INSERT INTO {} must give a value for every column that is not an Option: missing {}",
                    schema.table,
                    missing.join(", ")
                ),
                Some(i.span()),
            );
        }
    }
    let rows = match i.source.as_deref().map(|q| q.body.as_ref()) {
        Some(SetExpr::Values(v)) => &v.rows,
        _ => {
            cx.error("INSERT takes VALUES (…): inserting the result of a query is not supported", Some(i.span()));
            return None;
        }
    };
    let table = cx.table();
    let mut docs = Vec::new();
    for row in rows {
        if row.content.len() != i.columns.len() {
            cx.error(
                format!("this row has {} values for {} columns", row.content.len(), i.columns.len()),
                Some(row.content.first().map(|e| e.span()).unwrap_or_else(|| i.span())),
            );
            continue;
        }
        let mut doc: Vec<(String, Tmpl)> = match cx.key() {
            crate::schema::TableKey::Field(f) => vec![(f, Tmpl::Str(table.clone()))],
            crate::schema::TableKey::IdPrefix(_) => vec![],
        };
        for ((_, col), value) in cols.iter().zip(&row.content) {
            if let Some(op) = cx.operand(value, col, Use::Store) {
                doc.push((crate::path::segments(&col.field).remove(0), op_tmpl(op)));
            }
        }
        docs.push(Tmpl::Object(doc));
    }
    let partition = cx.partition(&Tmpl::Null);
    Some(Insert { table, key: cx.key(), rows: docs, partition })
}

fn op_tmpl(op: super::expr::Operand) -> Tmpl {
    op.tmpl()
}

pub(super) fn update(cx: &mut Cx, u: &sqlparser::ast::Update) -> Option<Update> {
    if relation_name(&u.table.relation).is_none() {
        cx.error("UPDATE needs a table name", Some(u.table.span()));
        return None;
    }
    cx.set_relation(&u.table.relation);
    if !u.table.joins.is_empty() || u.from.is_some() {
        cx.error("UPDATE … FROM / JOIN is not supported: CouchDB has no joins", Some(u.table.span()));
    }
    if u.returning.is_some() || !u.order_by.is_empty() || u.limit.is_some() {
        cx.error("UPDATE supports SET and WHERE only (no RETURNING, ORDER BY or LIMIT)", Some(u.table.span()));
    }
    let mut set = Vec::new();
    for a in &u.assignments {
        let target = match &a.target {
            AssignmentTarget::ColumnName(n) => {
                let ids: Option<Vec<_>> =
                    n.0.iter()
                        .map(|p| match p {
                            sqlparser::ast::ObjectNamePart::Identifier(id) => Some(id.clone()),
                            _ => None,
                        })
                        .collect();
                match ids {
                    Some(mut ids) if ids.len() == 1 => Expr::Identifier(ids.remove(0)),
                    Some(ids) => Expr::CompoundIdentifier(ids),
                    None => {
                        cx.error(format!("`{n}` is not a column name"), Some(n.span()));
                        continue;
                    }
                }
            }
            AssignmentTarget::Tuple(_) => {
                cx.error("SET (a, b) = … is not supported: assign each column", Some(a.span()));
                continue;
            }
        };
        let Some(col) = cx.column(&target) else { continue };
        if col.field == crate::schema::CONFLICTS {
            cx.error(
                "`_conflicts` cannot be set: a conflict ends when its losing revisions are deleted (`Conflict::resolve`)",
                Some(col.span),
            );
            continue;
        }
        if col.field.starts_with('_') {
            cx.error(
                format!(
                    "`{}` cannot be changed: CouchDB sets `_rev` on every write, and a document's `_id` is permanent",
                    col.name
                ),
                Some(col.span),
            );
            continue;
        }
        if is_arith(&a.value) {
            if let Some(expr) = arith(cx, &a.value, &col) {
                let integer = col.ty.as_ref().is_some_and(|t| t.kind == Kind::Integer);
                set.push((col.field.clone(), SetValue::Arith { expr, integer }));
            }
        } else if let Some(op) = cx.operand(&a.value, &col, Use::Store) {
            set.push((col.field.clone(), SetValue::Value(op_tmpl(op))));
        }
    }
    let cond = where_cond(cx, u.selection.as_ref())?;
    let table = cx.table();
    let simple = Cond::And(vec![cond.clone()]).simplify();
    let by_id = simple.id_lookup();
    let key = cx.key();
    let planned = by_id.is_none().then(|| simple.index_fields(&key)).flatten();
    let selector = table_selector(&table, &key, cond);
    Some(Update { partition: cx.partition(&selector), selector, table, key, set, by_id, planned })
}

pub(super) fn delete(cx: &mut Cx, d: &sqlparser::ast::Delete) -> Option<Delete> {
    let tables = match &d.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    let [relation] = tables.as_slice() else {
        cx.error("DELETE needs one table: DELETE FROM users WHERE …", Some(d.span()));
        return None;
    };
    if relation_name(&relation.relation).is_none() {
        cx.error("DELETE needs one table: DELETE FROM users WHERE …", Some(d.span()));
        return None;
    }
    cx.set_relation(&relation.relation);
    if d.using.is_some() || d.returning.is_some() || !d.order_by.is_empty() || d.limit.is_some() || !d.tables.is_empty()
    {
        cx.error("DELETE supports FROM and WHERE only (no USING, RETURNING, ORDER BY or LIMIT)", Some(d.span()));
    }
    let cond = where_cond(cx, d.selection.as_ref())?;
    let table = cx.table();
    let simple = Cond::And(vec![cond.clone()]).simplify();
    let by_id = simple.id_lookup();
    let key = cx.key();
    let planned = by_id.is_none().then(|| simple.index_fields(&key)).flatten();
    let selector = table_selector(&table, &key, cond);
    Some(Delete { partition: cx.partition(&selector), selector, table, key, by_id, planned })
}

fn where_cond(cx: &mut Cx, w: Option<&Expr>) -> Option<Cond> {
    match w {
        None => Some(Cond::True),
        Some(e) => cx.cond(e),
    }
}

/// Whether a SET value is arithmetic (`n + 1`) rather than a plain value.
fn is_arith(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => is_arith(inner),
        Expr::BinaryOp { op, .. } => {
            matches!(
                op,
                BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply | BinaryOperator::Divide
            )
        }
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => super::expr::is_column(expr) || is_arith(expr),
        _ => false,
    }
}

/// Arithmetic assigned to `target`: numeric columns, numbers and parameters.
fn arith(cx: &mut Cx, e: &Expr, target: &super::ResolvedColumn) -> Option<Arith> {
    if let Some(ty) = &target.ty {
        if !matches!(ty.kind, Kind::Integer | Kind::Float) {
            cx.error(
                format!(
                    "arithmetic needs a numeric column, but `{}` is {} (`{}`)",
                    target.name,
                    ty.kind.describe(),
                    ty.rust
                ),
                Some(e.span()),
            );
            return None;
        }
    }
    match e {
        Expr::Nested(inner) => arith(cx, inner, target),
        Expr::BinaryOp { left, op, right } => {
            let op = match op {
                BinaryOperator::Plus => ArithOp::Add,
                BinaryOperator::Minus => ArithOp::Sub,
                BinaryOperator::Multiply => ArithOp::Mul,
                BinaryOperator::Divide => ArithOp::Div,
                other => {
                    cx.error(format!("`{other}` is not supported in SET: use + - * /"), Some(e.span()));
                    return None;
                }
            };
            let (l, r) = (arith(cx, left, target), arith(cx, right, target));
            Some(Arith::Op(op, Box::new(l?), Box::new(r?)))
        }
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } if super::expr::is_column(expr) || is_arith(expr) => {
            Some(Arith::Neg(Box::new(arith(cx, expr, target)?)))
        }
        e if super::expr::is_column(e) => {
            let col = cx.column(e)?;
            if let Some(ty) = &col.ty {
                if !matches!(ty.kind, Kind::Integer | Kind::Float) {
                    cx.error(
                        format!("`{}` is {} (`{}`), not a number", col.name, ty.kind.describe(), ty.rust),
                        Some(e.span()),
                    );
                    return None;
                }
            }
            Some(Arith::Field(col.field))
        }
        e => {
            // A number or a parameter, checked like a value compared with the target column.
            let op = cx.operand(e, target, Use::Compare)?;
            if let super::expr::Operand::Lit(l) = &op {
                if !matches!(l, super::expr::Lit::Int(_) | super::expr::Lit::Float(_)) {
                    cx.error("arithmetic takes numbers", Some(e.span()));
                    return None;
                }
            }
            Some(Arith::Value(op_tmpl(op)))
        }
    }
}

/// `CREATE INDEX name ON table (cols)`: a json index on `type` and the columns.
pub(super) fn create_index(cx: &mut Cx, c: &sqlparser::ast::CreateIndex) -> Option<IndexDef> {
    cx.set_table(&c.table_name);
    let Some(name) = c.name.as_ref().and_then(|n| super::simple_name(n).ok()) else {
        cx.error("CREATE INDEX needs a name: CREATE INDEX users_by_age ON users (age)", Some(c.table_name.span()));
        return None;
    };
    if c.unique || c.predicate.is_some() || c.using.is_some() || !c.include.is_empty() {
        cx.error(
            "CouchDB json indexes are plain: UNIQUE, USING, INCLUDE and WHERE are not supported",
            Some(c.table_name.span()),
        );
    }
    let mut fields = cx.key().index_head();
    for ic in &c.columns {
        if ic.column.options.sort == Some(sqlparser::ast::OrderBySort::Desc) {
            cx.error("CouchDB json indexes serve both directions: leave out DESC", Some(ic.column.expr.span()));
        }
        if super::expr::is_column(&ic.column.expr) {
            if let Some(col) = cx.column(&ic.column.expr) {
                fields.push(col.field);
            }
        } else {
            cx.error("an index lists columns of the table", Some(ic.column.expr.span()));
        }
    }
    Some(IndexDef { table: cx.table(), name, fields })
}

/// `DROP INDEX name ON table`.
pub(super) fn drop_index(cx: &mut Cx, names: &[ObjectName], table: Option<&ObjectName>) -> Option<IndexDef> {
    let Some(table) = table else {
        cx.error("write DROP INDEX name ON table: the table says which model the index belongs to", None);
        return None;
    };
    cx.set_table(table);
    let [name] = names else {
        cx.error("drop one index at a time", Some(table.span()));
        return None;
    };
    let name = super::simple_name(name).ok()?;
    Some(IndexDef { table: cx.table(), name, fields: vec![] })
}
