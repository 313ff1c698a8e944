//! SQL text → [`Translation`]: parse with sqlparser, check against the schema,
//! build the Mango templates. Every problem is collected, not only the first.

mod aggregate;
mod expr;
mod select;
mod view;
mod write;

use crate::error::{TranslateError, TranslateErrors};
use crate::plan::{ParamUsage, ParamUse, Translation};
use crate::schema::{Access, ColumnType, Kind, Schema};
use sqlparser::ast::{AccessExpr, Expr, Ident, ObjectName, ObjectNamePart, ObjectType, Spanned, Statement, Subscript};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer};

/// Translates one SQL statement. With a `schema`, every column, literal and
/// parameter is checked against it; without one (run-time SQL), any column is
/// accepted as a document field.
pub fn translate(sql: &str, schema: Option<&Schema>) -> Result<Translation, TranslateErrors> {
    // Tokenize once: the tokens give the parameters' positions, then the parser reads them.
    let tokens = tokenize(sql)?;
    let mut cx = Cx::new(&tokens, schema);
    let statement = parse_tokens(tokens)?;
    let plan = match &statement {
        Statement::Query(q) => select::translate(&mut cx, q),
        Statement::Insert(i) => write::insert(&mut cx, i).map(crate::plan::Plan::Insert),
        Statement::Update(u) => write::update(&mut cx, u).map(crate::plan::Plan::Update),
        Statement::Delete(d) => write::delete(&mut cx, d).map(crate::plan::Plan::Delete),
        Statement::CreateIndex(c) => write::create_index(&mut cx, c).map(crate::plan::Plan::CreateIndex),
        Statement::Drop { object_type: ObjectType::Index, names, table, .. } => {
            write::drop_index(&mut cx, names, table.as_ref()).map(crate::plan::Plan::DropIndex)
        }
        Statement::Explain { statement, analyze: false, .. } => match statement.as_ref() {
            // An aggregate's EXPLAIN is that of its read.
            Statement::Query(q) => select::translate(&mut cx, q).map(|p| match p {
                crate::plan::Plan::Aggregate(a) => crate::plan::Plan::Explain(a.read),
                crate::plan::Plan::Select(s) => crate::plan::Plan::Explain(s),
                other => other,
            }),
            other => {
                cx.error("EXPLAIN explains a SELECT", Some(other.span()));
                None
            }
        },
        other => {
            cx.error(unsupported_statement(other), Some(other.span()));
            None
        }
    };
    cx.finish(plan)
}

/// The table a statement reads or writes (the macro needs it before it can
/// look up the table's model).
pub fn table_of(sql: &str) -> Result<String, TranslateErrors> {
    let statement = parse_one(sql)?;
    let name = match &statement {
        Statement::Query(q) => select::table_name(q),
        Statement::Insert(i) => match &i.table {
            sqlparser::ast::TableObject::TableName(n) => Some(n.clone()),
            _ => None,
        },
        Statement::Update(u) => write::relation_name(&u.table.relation),
        Statement::Delete(d) => write::delete_table(d),
        Statement::CreateIndex(c) => Some(c.table_name.clone()),
        Statement::Drop { object_type: ObjectType::Index, table, .. } => table.clone(),
        Statement::Explain { statement, .. } => match statement.as_ref() {
            Statement::Query(q) => select::table_name(q),
            _ => None,
        },
        other => return Err(TranslateError::new(unsupported_statement(other), loc(other.span())).into()),
    };
    match name {
        Some(n) => simple_name(&n).map_err(Into::into),
        // Translating without a schema explains what is wrong (UNION, a subquery in FROM, …).
        None => Err(translate(sql, None).err().unwrap_or_else(|| {
            TranslateError::new(
                "the statement must name exactly one table (`FROM users`, `INSERT INTO users`, `UPDATE users`)",
                loc(statement.span()),
            )
            .into()
        })),
    }
}

fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>, TranslateErrors> {
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| syntax_error(ParserError::TokenizerError(e.to_string())))
}

fn parse_one(sql: &str) -> Result<Statement, TranslateErrors> {
    parse_tokens(tokenize(sql)?)
}

fn parse_tokens(tokens: Vec<TokenWithSpan>) -> Result<Statement, TranslateErrors> {
    let mut statements =
        Parser::new(&GenericDialect {}).with_tokens_with_locations(tokens).parse_statements().map_err(syntax_error)?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(TranslateError::new("the SQL text is empty: write one statement such as `SELECT * FROM users`", None)
            .into()),
        _ => Err(TranslateError::new(
            "write one statement per query: separate statements cannot be run together on CouchDB",
            loc(statements[1].span()),
        )
        .into()),
    }
}

fn syntax_error(e: ParserError) -> TranslateErrors {
    let text = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => "the statement is nested too deeply".to_string(),
    };
    // sqlparser ends its messages with " at Line: L, Column: C"; keep the position separately.
    let (message, location) = match text.rfind(" at Line: ") {
        Some(at) => {
            let pos = &text[at + " at Line: ".len()..];
            let mut parts = pos.split(", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse().ok());
            let col = parts.next().and_then(|c| c.trim().parse().ok());
            (text[..at].to_string(), line.zip(col))
        }
        None if text.ends_with("found: EOF") => (format!("{text} (at the end of the SQL text)"), None),
        None => (text, None),
    };
    TranslateError::new(format!("SQL syntax error: {message}"), location).into()
}

fn unsupported_statement(s: &Statement) -> String {
    let text = s.to_string();
    let head: Vec<&str> = text.split_whitespace().take(2).collect();
    let head = head.join(" ");
    let upper = head.to_uppercase();
    if upper.starts_with("CREATE")
        || upper.starts_with("ALTER")
        || upper.starts_with("DROP")
        || upper.starts_with("TRUNCATE")
    {
        format!(
            "`{head}` is not supported: a CouchDB \"table\" is the set of documents whose `type` field names it, \
             so there is no schema to create or alter; declare a table with #[derive(CouchRow)] and #[couch(table = \"...\")] \
             (CREATE INDEX name ON table (columns) and DROP INDEX name ON table are supported)"
        )
    } else {
        format!("`{head}` is not supported: couch_sql! runs SELECT, INSERT, UPDATE and DELETE on CouchDB")
    }
}

/// The position of a span's start, or `None` for the empty span.
/// The selector of every document of a table (what a SELECT with no WHERE reads).
pub(crate) fn table_only(table: &str, key: &crate::schema::TableKey) -> crate::Tmpl {
    select::table_selector(table, key, expr::Cond::True)
}

pub(crate) fn loc(span: Span) -> Option<(u64, u64)> {
    location(span.start)
}

fn location(l: Location) -> Option<(u64, u64)> {
    (l.line > 0).then_some((l.line, l.column))
}

pub(crate) fn simple_name(n: &ObjectName) -> Result<String, TranslateError> {
    match n.0.as_slice() {
        [ObjectNamePart::Identifier(id)] => Ok(id.value.clone()),
        _ => Err(TranslateError::new(
            format!(
                "`{n}` is not a table name: CouchDB tables have no schema or database prefix; write just the table"
            ),
            loc(n.span()),
        )),
    }
}

/// Translation state: the schema, the parameters seen so far, the errors.
pub(crate) struct Cx<'s> {
    schema: Option<&'s Schema>,
    table: Option<String>,
    /// The table's alias (`FROM customers c`), which may qualify its columns.
    table_alias: Option<String>,
    errors: TranslateErrors,
    /// Location of each `?`, in text order; a parameter's number is its index here.
    placeholders: Vec<(u64, u64)>,
    params: Vec<Option<ParamUse>>,
    /// The `UNNEST` aliases of the `EXISTS` being translated, innermost last.
    pub(crate) scopes: Vec<Scope>,
}

impl<'s> Cx<'s> {
    fn new(tokens: &[TokenWithSpan], schema: Option<&'s Schema>) -> Self {
        let placeholders: Vec<(u64, u64)> = tokens
            .iter()
            .filter(|t| matches!(&t.token, Token::Placeholder(p) if p == "?"))
            .filter_map(|t| location(t.span.start))
            .collect();
        let mut errors = TranslateErrors::default();
        for t in tokens {
            if let Token::Placeholder(p) = &t.token {
                if p != "?" {
                    errors.push(TranslateError::new(
                        format!("`{p}` is not a parameter couch_sql! understands: write `?` and pass the values after the SQL, in order"),
                        location(t.span.start),
                    ));
                }
            }
        }
        let params = vec![None; placeholders.len()];
        Cx { schema, table_alias: None, table: None, errors, placeholders, params, scopes: Vec::new() }
    }

    /// Document fields of the model's non-`Option` columns (none without a model).
    pub(crate) fn not_null_fields(&self) -> Vec<String> {
        self.schema
            .map(|s| {
                s.columns
                    .iter()
                    .filter(|c| !c.ty.nullable && c.field != "_id" && c.field != "_rev")
                    .map(|c| crate::path::escape(&c.field))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn finish(mut self, plan: Option<crate::plan::Plan>) -> Result<Translation, TranslateErrors> {
        for (i, p) in self.params.iter().enumerate() {
            if p.is_none() && self.errors.is_empty() {
                self.errors.push(TranslateError::new(
                    format!(
                        "parameter {} (`?`) cannot stand here: parameters are values, never names or keywords",
                        i + 1
                    ),
                    Some(self.placeholders[i]),
                ));
            }
        }
        match plan {
            Some(plan) if self.errors.is_empty() => {
                Ok(Translation { plan, params: self.params.into_iter().map(|p| p.expect("checked above")).collect() })
            }
            _ => {
                if self.errors.is_empty() {
                    self.errors.push(TranslateError::new("the statement could not be translated", None));
                }
                Err(self.errors)
            }
        }
    }

    pub(crate) fn error(&mut self, message: impl Into<String>, span: Option<Span>) {
        self.errors.push(TranslateError::new(message, span.and_then(loc)));
    }

    pub(crate) fn error_help(&mut self, message: impl Into<String>, span: Span, help: Option<String>) {
        self.errors.push(TranslateError::new(message, loc(span)).with_help(help));
    }

    /// Sets the statement's table, checking it against the schema.
    /// The table of the statement and its alias, from a `FROM`/`UPDATE`/`DELETE` relation.
    pub(crate) fn set_relation(&mut self, relation: &sqlparser::ast::TableFactor) -> bool {
        let sqlparser::ast::TableFactor::Table { name, alias, .. } = relation else { return false };
        if let Some(a) = alias {
            if !a.columns.is_empty() {
                self.error("a table alias cannot rename columns here: write `FROM users u`", Some(a.span()));
            }
            self.table_alias = Some(a.name.value.clone());
        }
        self.set_table(name)
    }

    pub(crate) fn set_table(&mut self, name: &ObjectName) -> bool {
        match simple_name(name) {
            Ok(t) => {
                if let Some(s) = self.schema {
                    if s.table != t {
                        self.error(
                            format!("the model describes table `{}`, but the statement uses table `{t}`", s.table),
                            Some(name.span()),
                        );
                    }
                }
                self.table = Some(t);
                true
            }
            Err(e) => {
                self.errors.push(e);
                false
            }
        }
    }

    /// Whether an error was reported so far.
    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// How the statement's table recognises its documents (the model's, else `type`).
    pub(crate) fn key(&self) -> crate::schema::TableKey {
        self.schema.map(|s| s.key.clone()).unwrap_or_default()
    }

    /// A partitioned table's partition, as far as `selector` fixes it.
    pub(crate) fn partition(&self, selector: &crate::Tmpl) -> Option<crate::plan::Partition> {
        let field = self.schema?.partition.as_deref()?;
        Some(crate::plan::Partition::of(field, selector))
    }

    pub(crate) fn table(&self) -> String {
        self.table.clone().unwrap_or_default()
    }

    /// Resolves a column reference: `name`, `users.name`, a nested path
    /// (`address.city`, `lines[0].sku`), or a path from an `UNNEST` alias (`l.qty`).
    pub(crate) fn column(&mut self, e: &Expr) -> Option<ResolvedColumn> {
        let parts = self.path_parts(e)?;
        let Some(Part::Name(first)) = parts.first().cloned() else {
            self.error(format!("`{e}` is not a column"), Some(e.span()));
            return None;
        };
        // A name of an enclosing `UNNEST(…) AS alias`: the path starts at one element.
        if let Some(scope) = self.scopes.iter().rev().find(|s| s.alias == first.value).cloned() {
            let start = Step {
                name: scope.alias.clone(),
                field: String::new(),
                positions: 0,
                ty: scope.element,
                nullable: false,
            };
            return self.walk(start, &parts[1..], first.span);
        }
        if let Some(scope) = self.scopes.last() {
            self.error(
                format!(
                    "inside EXISTS (SELECT … FROM UNNEST({}) AS {alias} …) the conditions are on the elements: write `{alias}` or `{alias}.field`; `{e}` is not one of them",
                    scope.array, alias = scope.alias
                ),
                Some(e.span()),
            );
            return None;
        }
        let table = self.table();
        let mut rest = &parts[..];
        // `users.name` or `u.name`: the table's name or alias may qualify a column
        // (unless a column has that name).
        let qualifier = first.value == table || self.table_alias.as_deref() == Some(first.value.as_str());
        if parts.len() >= 2 && qualifier && self.schema.is_none_or(|s| s.column(&first.value).is_none()) {
            rest = &parts[1..];
        } else if parts.len() >= 2 && self.schema.is_some_and(|s| s.column(&first.value).is_none()) {
            self.error(
                format!("`{}` is not the table of this statement (`{table}`) nor one of its columns: CouchDB queries read one table, without joins", first.value),
                Some(first.span),
            );
            return None;
        }
        let Some(Part::Name(top)) = rest.first().cloned() else {
            self.error(format!("`{e}` does not name a column"), Some(e.span()));
            return None;
        };
        let name = top.value.as_str();
        let start = match self.schema {
            None => Step {
                name: name.to_string(),
                field: crate::path::escape(name),
                positions: 0,
                ty: None,
                nullable: false,
            },
            Some(s) => match s.column(name) {
                Some(c) => {
                    let mut ty = c.ty.clone();
                    ty.access = c.index.map(Access::Field).into_iter().collect();
                    Step {
                        name: c.name.clone(),
                        field: crate::path::escape(&c.field),
                        positions: 0,
                        ty: Some(ty),
                        nullable: false,
                    }
                }
                None => {
                    let help = s.suggest(name).map(|c| format!("did you mean `{c}`?"));
                    let known: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
                    let help = help.or_else(|| Some(format!("the columns of `{}` are: {}", s.table, known.join(", "))));
                    self.error_help(format!("unknown column `{name}` in table `{}`", s.table), top.span, help);
                    return None;
                }
            },
        };
        self.walk(start, &rest[1..], top.span)
    }

    /// Follows the rest of a path from `at`, checking each step against the nested types.
    fn walk(&mut self, mut at: Step, rest: &[Part], span: Span) -> Option<ResolvedColumn> {
        for part in rest {
            match part {
                Part::Name(id) => {
                    let next = match &at.ty {
                        None => None,
                        Some(t) if t.kind == Kind::Object => match t.field(&id.value) {
                            Some(c) => {
                                let mut ty = c.ty.clone();
                                ty.access = t.access.clone();
                                ty.access.extend(c.index.map(Access::Field));
                                at.nullable |= t.nullable;
                                at.field = crate::path::child(&at.field, &c.field);
                                Some(ty)
                            }
                            None => {
                                let help = crate::schema::closest(&id.value, t.fields.iter().map(|c| c.name.as_str()))
                                    .map(|c| format!("did you mean `{}.{c}`?", at.name))
                                    .or_else(|| {
                                        let known: Vec<&str> = t.fields.iter().map(|c| c.name.as_str()).collect();
                                        Some(format!(
                                            "the fields of `{}` (`{}`) are: {}",
                                            at.name,
                                            t.rust,
                                            known.join(", ")
                                        ))
                                    });
                                self.error_help(
                                    format!("`{}` (`{}`) has no field `{}`", at.name, t.rust, id.value),
                                    id.span,
                                    help,
                                );
                                return None;
                            }
                        },
                        Some(t) if t.kind == Kind::Array => {
                            let alias: String = at.name.chars().take(1).collect();
                            self.error(
                                format!(
                                    "`{name}` is an array (`{rust}`): `{name}.{f}` would mean every element at once. Test the elements with EXISTS (SELECT 1 FROM UNNEST({name}) AS {alias} WHERE {alias}.{f} …), or pick one by position: {name}[0].{f}",
                                    name = at.name, rust = t.rust, f = id.value
                                ),
                                Some(id.span),
                            );
                            return None;
                        }
                        Some(t) if t.kind == Kind::Json => {
                            self.error(
                                format!("`{}` is opaque JSON (`{}`): the fields inside it cannot be queried; model them with #[derive(CouchObject)] to query them", at.name, t.rust),
                                Some(id.span),
                            );
                            return None;
                        }
                        Some(t) => {
                            self.error(
                                format!(
                                    "`{}` is {} (`{}`): it has no field `{}`",
                                    at.name,
                                    t.kind.describe(),
                                    t.rust,
                                    id.value
                                ),
                                Some(id.span),
                            );
                            return None;
                        }
                    };
                    if next.is_none() {
                        at.field = crate::path::child(&at.field, &id.value);
                    }
                    at.name = format!("{}.{}", at.name, id.value);
                    at.ty = next;
                }
                Part::Index(i, ispan) => {
                    let next = match &at.ty {
                        None => None,
                        Some(t) if t.kind == Kind::Array => {
                            let mut ty = (**t.element.as_ref().expect("an array has an element type")).clone();
                            ty.access = t.access.clone();
                            ty.access.push(Access::Element);
                            Some(ty)
                        }
                        Some(t) => {
                            self.error(
                                format!(
                                    "`{}` is {} (`{}`), not an array: `[{i}]` picks an array element",
                                    at.name,
                                    t.kind.describe(),
                                    t.rust
                                ),
                                Some(*ispan),
                            );
                            return None;
                        }
                    };
                    // An element at a position may be missing: the path is NULL then.
                    at.nullable = true;
                    at.field = crate::path::child(&at.field, &i.to_string());
                    let at_segment = crate::path::segments(&at.field).len() - 1;
                    if at_segment < 64 {
                        at.positions |= 1 << at_segment;
                    }
                    at.name = format!("{}[{i}]", at.name);
                    at.ty = next;
                }
            }
        }
        let ty = at.ty.map(|mut t| {
            if at.nullable && !t.nullable {
                t.nullable = true;
                t.outer_null = true;
            }
            t
        });
        Some(ResolvedColumn { name: at.name, field: at.field, positions: at.positions, ty, span })
    }

    /// The parts of a column path, or `None` (reported) when `e` is not one.
    fn path_parts(&mut self, e: &Expr) -> Option<Vec<Part>> {
        match e {
            Expr::Nested(inner) => self.path_parts(inner),
            Expr::Identifier(id) => Some(vec![Part::Name(id.clone())]),
            Expr::CompoundIdentifier(ids) => Some(ids.iter().cloned().map(Part::Name).collect()),
            Expr::CompoundFieldAccess { root, access_chain } => {
                let mut parts = self.path_parts(root)?;
                for a in access_chain {
                    match a {
                        AccessExpr::Dot(Expr::Identifier(id)) => parts.push(Part::Name(id.clone())),
                        AccessExpr::Dot(Expr::CompoundIdentifier(ids)) => {
                            parts.extend(ids.iter().cloned().map(Part::Name))
                        }
                        AccessExpr::Subscript(Subscript::Index { index }) => match self.literal(index) {
                            Some(expr::Lit::Int(i)) if i >= 0 => parts.push(Part::Index(i, index.span())),
                            _ => {
                                self.error(
                                    "an array position is a whole number written in the SQL, 0-based: tags[0], lines[2].sku",
                                    Some(index.span()),
                                );
                                return None;
                            }
                        },
                        other => {
                            self.error(
                                format!("`{other}` is not supported in a path: write field names and 0-based positions, e.g. lines[0].sku"),
                                Some(e.span()),
                            );
                            return None;
                        }
                    }
                }
                Some(parts)
            }
            _ => {
                self.error(format!("`{e}` is not a column"), Some(e.span()));
                None
            }
        }
    }

    /// Records how parameter `?` at `span` is used; returns its number.
    pub(crate) fn param(&mut self, span: Span, usage: ParamUsage) -> Option<usize> {
        let at = loc(span)?;
        let index = self.placeholders.iter().position(|p| *p == at)?;
        self.params[index] = Some(ParamUse { usage, location: at });
        Some(index)
    }
}

/// An `UNNEST(array) AS alias` whose condition is being translated.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub alias: String,
    /// The SQL path of the array.
    pub array: String,
    /// The element type, when a schema is known.
    pub element: Option<ColumnType>,
}

/// One part of a column path.
#[derive(Debug, Clone)]
enum Part {
    Name(Ident),
    Index(i64, Span),
}

/// Where a path walk stands.
struct Step {
    name: String,
    field: String,
    /// Which segments of `field` are array positions.
    positions: u64,
    ty: Option<ColumnType>,
    /// An enclosing object is nullable or a position was picked: the path may be NULL.
    nullable: bool,
}

/// A column reference checked against the schema.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedColumn {
    /// SQL path (`address.city`, `lines[0].sku`).
    pub name: String,
    /// The Mango path of the field (`address.city`, `lines.0.sku`), relative to
    /// the element inside `EXISTS (… UNNEST …)` (empty for the element itself).
    pub field: String,
    /// Which segments of `field` are array positions (bit `i` for segment `i`).
    pub positions: u64,
    /// Type, when a schema is known.
    pub ty: Option<ColumnType>,
    pub span: Span,
}
