//! What a statement becomes: the plan the runtime executes.

use crate::schema::ColumnType;
use crate::template::Tmpl;
use serde::{Deserialize, Serialize};

/// The result of translating one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Translation {
    pub plan: Plan,
    /// One entry per `?`, in order: what each parameter is used for.
    pub params: Vec<ParamUse>,
}

/// An executable statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Plan {
    Select(Select),
    Insert(Insert),
    Update(Update),
    Delete(Delete),
}

impl Plan {
    pub fn table(&self) -> &str {
        match self {
            Plan::Select(s) => &s.table,
            Plan::Insert(i) => &i.table,
            Plan::Update(u) => &u.table,
            Plan::Delete(d) => &d.table,
        }
    }
}

/// `SELECT`: a `_find` request, paged until every matching row is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Select {
    pub table: String,
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
    pub limit: Option<Count>,
    pub offset: Option<Count>,
}

/// One selected column: the row field it fills and the document field it reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projected {
    /// Name of the row struct's field (the column name or its alias).
    pub name: String,
    /// The column's SQL name in the model.
    pub column: String,
    /// The document field.
    pub field: String,
}

/// One `ORDER BY` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    /// The document field.
    pub field: String,
    pub desc: bool,
    /// Where NULL (missing or null) goes; by default first ascending, last descending.
    pub nulls_first: bool,
}

/// A `LIMIT`/`OFFSET` value: a literal or a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Count {
    Literal(u64),
    Param(usize),
}

/// `INSERT`: one `_bulk_docs` request carrying every row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Insert {
    pub table: String,
    /// Each row as a document template (without `type`, which the runtime adds first).
    pub rows: Vec<Tmpl>,
}

/// `UPDATE`: find every matching document, apply `set`, write back with `_rev`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub table: String,
    pub selector: Tmpl,
    /// `(document field, new value)`.
    pub set: Vec<(String, Tmpl)>,
}

/// `DELETE`: find every matching document, write back `_deleted: true` with `_rev`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delete {
    pub table: String,
    pub selector: Tmpl,
}

/// How one `?` parameter is used, so the macro can check the argument's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamUse {
    pub usage: ParamUsage,
    /// Line and column of the `?` in the SQL text.
    pub location: (u64, u64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParamUsage {
    /// Compared with a column (`=`, `<`, `IN`, `BETWEEN` …): NULL makes the comparison false.
    Compare { column: String, ty: Option<ColumnType> },
    /// Stored in a column (`INSERT` value, `SET`): NULL only for nullable columns.
    Store { column: String, ty: Option<ColumnType> },
    /// A `LIKE` pattern (a string, converted to a regex when bound).
    Like { column: String },
    /// A `LIMIT` or `OFFSET` row count.
    Count,
}
