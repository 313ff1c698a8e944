//! # couch-sql
//!
//! SQL for Apache CouchDB, checked at compile time.
//!
//! `couch_sql!` parses the SQL while your crate compiles, checks every column,
//! literal and parameter against the table's `#[derive(CouchRow)]` model, and
//! expands to a Mango query template; at run time only the parameters are
//! filled in and the request is sent.
//!
//! ```no_run
//! use couch_sql::{couch_sql, CouchRow, Database};
//!
//! #[derive(CouchRow, Debug, Clone, PartialEq)]
//! #[couch(table = "users")]
//! struct User {
//!     #[couch(id)]
//!     id: Option<String>,
//!     name: String,
//!     age: i64,
//!     email: Option<String>,
//! }
//!
//! # fn main() {}
//! # async fn demo() -> couch_sql::Result<()> {
//! let db = Database::connect("http://127.0.0.1:5984/shop").await?;
//! db.create_if_missing().await?;
//! couch_sql!("INSERT INTO users (name, age) VALUES (?, ?)", "Alice", 30).execute(&db).await?;
//! let rows = couch_sql!("SELECT name, age FROM users WHERE age >= ? ORDER BY age DESC", 18)
//!     .fetch_all(&db)
//!     .await?;
//! for row in &rows {
//!     println!("{} is {}", row.name, row.age);
//! }
//! # Ok(()) }
//! ```
//!
//! Models are declared at module level: the derive puts a hidden module named
//! after the table next to the struct, and queries find the table through it.
//!
//! A table is the set of documents whose `type` field equals the table name;
//! a NULL column is a field that is missing or `null`; `LIKE` becomes an
//! anchored `$regex`. See the README for the full mapping.

pub use couch_macros::{couch_sql, CouchRow};
pub use couch_runtime::{
    Batch, Command, Database, DatabaseBuilder, DocOutcome, Error, ExecuteResult, Executor, Explain, ExplainIndex,
    Explanation, Query, Result, RetryPolicy, RowStream, Rows, ServerInfo,
};

/// Compile-time index planning: what the program's queries need, and the policy for using it.
pub use couch_runtime::{planned_indexes, EnsuredIndex, IndexPolicy, IndexSpec};

/// Run-time SQL: `query(sql).bind(v)…`, translated by the same translator as `couch_sql!`.
pub use couch_runtime::{query, query_as, DynQuery, RequestSketch, DEFAULT_PAGE_SIZE};
/// What a statement translates to (see [`DynQuery::translation`]).
pub use couch_translate::{Plan, Translation};

/// The synchronous API: `couch_sql::blocking::Database`, for programs without an async runtime.
pub use couch_runtime::blocking;

/// A table model, implemented by `#[derive(CouchRow)]`.
pub trait CouchRow: serde::de::DeserializeOwned {
    /// The table: the value of the `type` field of this model's documents.
    const TABLE: &'static str;
}

#[doc(hidden)]
pub mod __private {
    pub use couch_macros::__couch_sql_expand as expand;
    pub use couch_runtime::param::{encode, Encode, RowCount};
    pub use couch_runtime::{
        decode_find_response, index_name, inventory, Command, Explain, FieldKey, PlannedIndex, Prepared, Query,
    };
    pub use serde;
    pub use serde_json;
}
