//! Resolution: SQL expressions read against the model (names, types,
//! parameters) into the logic tree, with errors that point at the SQL.

use super::logic::*;
use crate::like::{like_to_regex, DEFAULT_ESCAPE};
use crate::plan::ParamUsage;
use crate::schema::{ColumnType, Kind};
use crate::translate::{Cx, ResolvedColumn};
use sqlparser::ast::{BinaryOperator, Expr, InTarget, Spanned, UnaryOperator, Value};

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

    pub(crate) fn comparison(&mut self, left: &Expr, op: CmpOp, right: &Expr, whole: &Expr) -> Option<Cond> {
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
    pub(crate) fn any(&mut self, left: &Expr, op: &BinaryOperator, right: &Expr, whole: &Expr) -> Option<Cond> {
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
    pub(crate) fn in_array_param(
        &mut self,
        left: &Expr,
        op: CmpOp,
        at: sqlparser::tokenizer::Span,
        whole: &Expr,
    ) -> Option<Cond> {
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
    pub(crate) fn contains(&mut self, left: &Expr, right: &Expr, whole: &Expr) -> Option<Cond> {
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
    pub(crate) fn cardinality(&mut self, arg: &Expr, op: CmpOp, value: &Expr, whole: &Expr) -> Option<Cond> {
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
    pub(crate) fn exists_unnest(&mut self, q: &sqlparser::ast::Query, whole: &Expr) -> Option<Cond> {
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
        self.scopes.push(crate::translate::Scope { alias, array: array.name.clone(), element });
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
    pub(crate) fn array_column(&mut self, e: &Expr, what: &str) -> Option<ResolvedColumn> {
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

    pub(crate) fn cond_column(&mut self, e: &Expr) -> Option<ResolvedColumn> {
        if is_column(e) {
            self.column(e)
        } else {
            self.error(format!("`{e}` must be a column of the table"), Some(e.span()));
            None
        }
    }

    pub(crate) fn escape_char(&mut self, e: Option<&Expr>) -> Option<Option<char>> {
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

pub(crate) fn literal_fits(lit: &Lit, ty: &ColumnType, usage: Use) -> bool {
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
pub(crate) fn chain<'e>(e: &'e Expr, op: &BinaryOperator) -> Vec<&'e Expr> {
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
pub(crate) fn cardinality_arg(e: &Expr) -> Option<&Expr> {
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
pub(crate) fn element_column(array: &ResolvedColumn) -> ResolvedColumn {
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
