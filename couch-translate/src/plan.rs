//! What a statement becomes: the plan the runtime executes.

use crate::schema::{ColumnType, TableKey};
use crate::template::Tmpl;
use serde::{Deserialize, Serialize};

/// The result of translating one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Translation {
    /// The plan the runtime executes.
    pub plan: Plan,
    /// One entry per `?`, in order: what each parameter is used for.
    pub params: Vec<ParamUse>,
}

/// An executable statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Plan {
    /// A `SELECT`: one `_find` request, paged.
    Select(Select),
    /// `INSERT`.
    Insert(Insert),
    /// `UPDATE`: read, change, write back with `_rev`.
    Update(Update),
    /// `DELETE`: read, then write tombstones.
    Delete(Delete),
    /// `CREATE INDEX name ON table (cols)`: a json index on `["type", cols…]`.
    CreateIndex(IndexDef),
    /// `DROP INDEX name ON table`.
    DropIndex(IndexDef),
    /// `EXPLAIN SELECT …`: the server's `_explain` for the SELECT's first page.
    Explain(Select),
    /// `SELECT` with aggregates, `GROUP BY` or `DISTINCT`.
    Aggregate(Box<Aggregate>),
}

impl Plan {
    /// The table the statement is about.
    pub fn table(&self) -> &str {
        match self {
            Plan::Select(s) => &s.table,
            Plan::Insert(i) => &i.table,
            Plan::Update(u) => &u.table,
            Plan::Delete(d) => &d.table,
            Plan::CreateIndex(i) | Plan::DropIndex(i) => &i.table,
            Plan::Explain(s) => &s.table,
            Plan::Aggregate(a) => &a.read.table,
        }
    }
}

/// `SELECT`: a `_find` request, paged until every matching row is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Select {
    /// The table.
    pub table: String,
    /// How the table's documents are recognised.
    #[serde(default)]
    pub key: TableKey,
    /// The Mango selector, always including `"type": table`.
    pub selector: Tmpl,
    /// The `fields` projection (`None` = whole documents, for `SELECT *`).
    pub fields: Option<Vec<String>>,
    /// The selected columns (`None` for `SELECT *`).
    pub projection: Option<Vec<Projected>>,
    /// `ORDER BY`, in SQL order.
    pub order_by: Vec<SortKey>,
    /// The server can sort (one direction, no nullable key): the `sort` is sent
    /// and the json index `index` is created for it. Otherwise the runtime sorts.
    pub server_sort: bool,
    /// Fields of the json index the server-side sort needs.
    pub index: Option<Vec<String>>,
    /// `LIMIT`.
    pub limit: Option<Count>,
    /// `OFFSET`.
    pub offset: Option<Count>,
    /// `WHERE _id = x` / `_id IN (…)` alone: read the documents by id
    /// (`GET /db/id`, `_all_docs`) instead of `_find`.
    pub by_id: Option<Vec<Tmpl>>,
    /// The json index planned for this query: `type`, the fields compared with `=`, then the
    /// first range field; or the sort index. `None` for lookups by id.
    pub planned: Option<Vec<String>>,
    /// Fields every matching document has (the selector fails without them), `type`
    /// first: an existing index on fields among these can serve the query.
    #[serde(default)]
    pub required: Vec<String>,
    /// Fields of the model's non-`Option` columns: a document without one is not a
    /// row of the table, so a server-side sort may require them to reuse an index.
    #[serde(default)]
    pub not_null: Vec<String>,
    /// A partitioned table's partition, when the WHERE fixes it.
    #[serde(default)]
    pub partition: Option<Partition>,
}

/// The partition of a table in a partitioned database (CouchDB 3): every document
/// id is `{partition}:{rest}`, and the partition is the value of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// The column (document field) whose value is the partition: `tenant`.
    pub field: String,
    /// The one partition the statement touches: the WHERE says `field = x` (a
    /// literal or a parameter) at its top level. `None` runs on every partition.
    pub value: Option<Tmpl>,
}

impl Partition {
    /// The partition of `field` that `selector` fixes, if it does: an `$eq` (or a
    /// bare value) at the top level or inside a top-level `$and`.
    pub fn of(field: &str, selector: &Tmpl) -> Partition {
        fn fixed(field: &str, t: &Tmpl) -> Option<Tmpl> {
            let entries = match t {
                Tmpl::Object(entries) => entries,
                // A parameter's NULL guard: the selector within is the one sent.
                Tmpl::Guard { inner, .. } | Tmpl::Agree { inner, .. } | Tmpl::NoNullElement { inner, .. } => {
                    return fixed(field, inner)
                }
                _ => return None,
            };
            entries.iter().find_map(|(k, v)| match (k.as_str(), v) {
                ("$and", Tmpl::Array(all)) => all.iter().find_map(|c| fixed(field, c)),
                (k, Tmpl::Str(_) | Tmpl::Param(_)) if k == field => Some(v.clone()),
                (k, Tmpl::Object(ops)) if k == field => ops
                    .iter()
                    .find_map(|(op, x)| (op == "$eq" && matches!(x, Tmpl::Str(_) | Tmpl::Param(_))).then(|| x.clone())),
                _ => None,
            })
        }
        Partition { field: field.to_string(), value: fixed(field, selector) }
    }
}

#[cfg(test)]
mod partition_tests {
    use super::*;

    #[test]
    fn the_partition_is_found_behind_guards_and_conjunctions() {
        let eq = |v: Tmpl| Tmpl::Object(vec![("tenant".into(), Tmpl::Object(vec![("$eq".into(), v)]))]);
        let guarded = Tmpl::Guard { params: vec![0], inner: Box::new(eq(Tmpl::Param(0))) };
        let and = Tmpl::Object(vec![("$and".into(), Tmpl::Array(vec![Tmpl::Object(vec![]), guarded.clone()]))]);
        assert_eq!(Partition::of("tenant", &and).value, Some(Tmpl::Param(0)));
        assert_eq!(Partition::of("tenant", &eq(Tmpl::Str("a".into()))).value, Some(Tmpl::Str("a".into())));
        let range = Tmpl::Object(vec![("tenant".into(), Tmpl::Object(vec![("$gte".into(), Tmpl::Param(0))]))]);
        assert_eq!(Partition::of("tenant", &range).value, None);
    }
}

impl Select {
    /// The read of an UPDATE or DELETE, as a SELECT of whole documents.
    pub fn read(
        table: &str,
        key: &TableKey,
        selector: &Tmpl,
        by_id: &Option<Vec<Tmpl>>,
        planned: &Option<Vec<String>>,
    ) -> Select {
        Select {
            table: table.to_string(),
            key: key.clone(),
            selector: selector.clone(),
            fields: None,
            projection: None,
            order_by: vec![],
            server_sort: true,
            index: None,
            limit: None,
            offset: None,
            by_id: by_id.clone(),
            planned: planned.clone(),
            required: vec![],
            not_null: vec![],
            partition: None,
        }
    }
}

/// One selected column: the row field it fills and the document field it reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projected {
    /// Name of the row struct's field (the column name or its alias).
    pub name: String,
    /// The column's SQL name in the model.
    pub column: String,
    /// The document field's Mango path (`address.city`).
    pub field: String,
    /// The column's type at this path, when a model is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<crate::schema::ColumnType>,
}

/// One `ORDER BY` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    /// The document field.
    pub field: String,
    /// Descending.
    pub desc: bool,
    /// Where NULL (missing or null) goes; by default first ascending, last descending.
    pub nulls_first: bool,
}

/// A `LIMIT`/`OFFSET` value: a literal or a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Count {
    /// A number in the SQL.
    Literal(u64),
    /// The `n`-th parameter.
    Param(usize),
}

/// `INSERT`: one `_bulk_docs` request carrying every row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Insert {
    /// The table.
    pub table: String,
    #[serde(default)]
    /// How the table's documents are recognised.
    pub key: TableKey,
    /// Each row as a document template, the table's discriminator field first
    /// (an id-prefixed table's ids are made or prefixed by the runtime).
    pub rows: Vec<Tmpl>,
    /// A partitioned table: each row's id is `{its partition}:{rest}`.
    #[serde(default)]
    pub partition: Option<Partition>,
}

/// `UPDATE`: find every matching document, apply `set`, write back with `_rev`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The table.
    pub table: String,
    #[serde(default)]
    /// How the table's documents are recognised.
    pub key: TableKey,
    /// The Mango selector (the table's condition AND the WHERE).
    pub selector: Tmpl,
    /// `(document field, new value)`.
    pub set: Vec<(String, SetValue)>,
    /// The documents to update are named by id (see [`Select::by_id`]).
    pub by_id: Option<Vec<Tmpl>>,
    /// The json index planned for the read phase.
    pub planned: Option<Vec<String>>,
    /// A partitioned table's partition, when the WHERE fixes it.
    #[serde(default)]
    pub partition: Option<Partition>,
}

/// The value a `SET` assigns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SetValue {
    /// A literal or parameter.
    Value(Tmpl),
    /// Arithmetic on the document's own fields (`n = n + 1`), evaluated on
    /// the fetched document; integer columns use checked `i64` arithmetic.
    Arith {
        /// The expression.
        expr: Arith,
        /// The column is an integer: checked `i64` arithmetic.
        integer: bool,
    },
}

/// An arithmetic expression over a document's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Arith {
    /// A document field (a Mango path).
    Field(String),
    /// A literal or parameter.
    Value(Tmpl),
    /// Unary minus.
    Neg(Box<Arith>),
    /// A binary operation.
    Op(ArithOp, Box<Arith>, Box<Arith>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
/// An arithmetic operator of `SET`.
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (division by zero is an error)
    Div,
}

/// A json index made or dropped by SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDef {
    /// The table.
    pub table: String,
    /// The index name, also used as its design document (`_design/<name>`).
    pub name: String,
    /// Indexed fields, `type` first (empty for DROP INDEX).
    pub fields: Vec<String>,
}

/// `DELETE`: find every matching document, write back `_deleted: true` with `_rev`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delete {
    /// The table.
    pub table: String,
    #[serde(default)]
    /// How the table's documents are recognised.
    pub key: TableKey,
    /// The Mango selector (the table's condition AND the WHERE).
    pub selector: Tmpl,
    /// The documents to delete are named by id (see [`Select::by_id`]).
    pub by_id: Option<Vec<Tmpl>>,
    /// The json index planned for the read phase.
    pub planned: Option<Vec<String>>,
    /// A partitioned table's partition, when the WHERE fixes it.
    #[serde(default)]
    pub partition: Option<Partition>,
}

/// `SELECT` with aggregates, `GROUP BY` or `DISTINCT`: the matching documents are
/// grouped and each group becomes one row (one row in all without `GROUP BY`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// The documents to aggregate (the WHERE, and the fields the groups and
    /// aggregates need): the streaming path reads them page by page.
    pub read: Select,
    /// The `GROUP BY` columns (or the `DISTINCT` ones), in order.
    pub groups: Vec<GroupColumn>,
    /// The aggregates computed for each group, SELECT's and HAVING's/ORDER BY's.
    pub aggs: Vec<AggCall>,
    /// The row's columns, in SELECT order.
    pub output: Vec<Output>,
    /// `HAVING`, over the groups and aggregates.
    pub having: Option<Having>,
    /// `ORDER BY`, applied to the groups.
    pub order_by: Vec<AggSort>,
    /// `LIMIT`.
    pub limit: Option<Count>,
    /// `OFFSET`.
    pub offset: Option<Count>,
    /// `GROUP BY` (or `DISTINCT`) was written: without it there is exactly one row.
    pub grouped: bool,
    /// The map/reduce views that answer the query, when its WHERE fits their keys.
    #[serde(default)]
    pub view: Option<AggView>,
}

/// The view path of an aggregate: a design document generated from the plan,
/// whose built-in reduces (`_sum`, `_stats`) CouchDB computes incrementally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggView {
    /// The design document (`_design/<ddoc>`), named by a hash of its content.
    pub ddoc: String,
    /// The design document's `views` object: `sums` (`_sum` over an array of
    /// counts and sums) and `stats<i>` (`_stats`, for MIN/MAX of numbers).
    pub views: serde_json::Value,
    /// The same views described as data (`"couchsql"` in the design document), for
    /// engines that run no JavaScript, such as couch-sql's embedded engine.
    #[serde(default)]
    pub spec: couch_semantics::view::ViewSpecs,
    /// The equality conditions of the WHERE, the leading key values.
    pub prefix: Vec<Tmpl>,
    /// A range condition on the next key column, if the WHERE has one.
    #[serde(default)]
    pub range: Option<KeyRange>,
    /// Where each aggregate's value comes from.
    pub slots: Vec<AggSlot>,
}

/// The bounds of a range condition: `(value, inclusive)` each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRange {
    /// The lower bound and whether it is inclusive.
    pub lower: Option<(Tmpl, bool)>,
    /// The upper bound and whether it is inclusive.
    pub upper: Option<(Tmpl, bool)>,
}

/// How an aggregate is read from the views' rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggSlot {
    /// A count: this position of the `sums` value.
    Count(usize),
    /// A sum (NULL when the count at `count` is 0); `integer` sums must fit an i64.
    Sum {
        /// Position of the count.
        count: usize,
        /// Position of the sum.
        sum: usize,
        /// An integer column's sum.
        integer: bool,
    },
    /// An average: sum / count.
    Avg {
        /// Position of the count.
        count: usize,
        /// Position of the sum.
        sum: usize,
    },
    /// MIN or MAX: the `_stats` view `stats<view>`.
    Stats {
        /// Which `stats<i>` view.
        view: usize,
        /// MAX (else MIN).
        max: bool,
    },
}

/// A grouping column: its Mango path and kind (a value of another kind is NULL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupColumn {
    /// The column's SQL name.
    pub name: String,
    /// The document field (a Mango path).
    pub field: String,
    /// Its kind: a value of another kind is NULL.
    pub kind: crate::schema::Kind,
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggFunc {
    /// `COUNT(*)`: the rows of the group.
    CountAll,
    /// `COUNT(col)`: the rows where `col` is not NULL.
    Count,
    /// `SUM(col)`
    Sum,
    /// `AVG(col)`
    Avg,
    /// `MIN(col)`
    Min,
    /// `MAX(col)`
    Max,
}

/// One aggregate: the function and the column it reads (`None` for `COUNT(*)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggCall {
    /// The function.
    pub func: AggFunc,
    /// The column's Mango path and kind (a value of another kind is NULL).
    pub field: Option<(String, crate::schema::Kind)>,
    /// `SUM` of an integer column: the sum is an integer, and overflow an error.
    pub integer: bool,
}

/// Where a value of an aggregate row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggValue {
    /// The `n`-th grouping column.
    Group(usize),
    /// The `n`-th aggregate.
    Agg(usize),
}

/// One column of an aggregate row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// The row field: the alias, the column, or `count`, `sum_age`, …
    pub name: String,
    /// Where the value comes from.
    pub value: AggValue,
    /// The Rust type of the row field.
    pub ty: ColumnType,
}

/// A `HAVING` condition, evaluated with SQL's three-valued logic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Having {
    /// Both.
    And(Box<Having>, Box<Having>),
    /// Either.
    Or(Box<Having>, Box<Having>),
    /// The negation (UNKNOWN stays UNKNOWN).
    Not(Box<Having>),
    /// `a op b`; `op` is `=`, `<>`, `<`, `<=`, `>` or `>=`.
    Cmp(String, HavingTerm, HavingTerm),
    /// `IS NULL` (`true`: `IS NOT NULL`).
    IsNull(HavingTerm, bool),
}

/// A value in `HAVING`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HavingTerm {
    /// A grouped column or an aggregate.
    Value(AggValue),
    /// A literal or a parameter.
    Const(Tmpl),
}

/// One `ORDER BY` key of an aggregate query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggSort {
    /// The value sorted by.
    pub by: AggValue,
    /// Descending.
    pub desc: bool,
    /// Where NULL goes.
    pub nulls_first: bool,
}

/// How one `?` parameter is used, so the macro can check the argument's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamUse {
    /// What the parameter is for.
    pub usage: ParamUsage,
    /// Line and column of the `?` in the SQL text.
    pub location: (u64, u64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// What a `?` is used for: the macro checks its argument's type against it.
pub enum ParamUsage {
    /// Compared with a column (`=`, `<`, `IN`, `BETWEEN` …): NULL makes the comparison false.
    Compare {
        /// The column's SQL name.
        column: String,
        /// Its type, when a model is known.
        ty: Option<ColumnType>,
    },
    /// Stored in a column (`INSERT` value, `SET`): NULL only for nullable columns.
    Store {
        /// The column's SQL name.
        column: String,
        /// Its type, when a model is known.
        ty: Option<ColumnType>,
    },
    /// A `LIKE` pattern (a string, converted to a regex when bound).
    Like {
        /// The column's SQL name.
        column: String,
    },
    /// A `LIMIT` or `OFFSET` row count.
    Count,
}
