#![warn(missing_docs)]
//! Procedural macros of couch-sql. This crate is a thin shell: the SQL work
//! is done by `couch-translate`; here we only read Rust syntax and emit code.
//!
//! How a query finds its table's model: `#[derive(CouchRow)]` with
//! `#[couch(table = "users")]` emits the name `users` twice: a marker type
//! whose `Table::Model` is the struct, and a `macro_rules!` that carries the
//! table's schema. `couch_sql!` reads the table name from the SQL and calls
//! `users!`, which hands the schema to `__couch_sql_expand!`, where the query
//! is checked and expanded. Rust's own name resolution thus finds tables
//! (`use models::users;` imports one), like diesel's `table!`.

mod chain;
mod derive;
mod expand;
mod model_type;
mod names;
mod tables;
mod test_attr;

use proc_macro::TokenStream;

/// Derives a table model: `#[derive(CouchRow)] #[couch(table = "users")] struct User { … }`.
///
/// Field attributes: `#[couch(id)]` (the document's `_id`, `String` or
/// `Option<String>`), `#[couch(rev)]` (`_rev`), `#[couch(rename = "field")]`,
/// `#[couch(json)]` (any serde type, stored whole as opaque JSON).
/// Column types: integers (`i8`…`i64`, `u8`…`u64`), `f32`, `f64`, `String`,
/// `bool`, `chrono::DateTime<Utc>` (feature `chrono`), `serde_json::Value`,
/// `#[derive(CouchObject)]` structs, and `Vec` or `Option` of these
/// (`Option` = the field may be NULL: missing or `null` in the document).
#[proc_macro_derive(CouchRow, attributes(couch))]
pub fn derive_couch_row(input: TokenStream) -> TokenStream {
    derive::expand_row(syn::parse_macro_input!(input as syn::DeriveInput)).into()
}

/// Derives a nested object type: a struct stored inside documents (no table,
/// no `type` field), whose fields SQL reaches with paths (`address.city`).
#[proc_macro_derive(CouchObject, attributes(couch))]
pub fn derive_couch_object(input: TokenStream) -> TokenStream {
    derive::expand_object(syn::parse_macro_input!(input as syn::DeriveInput)).into()
}

#[doc(hidden)]
#[proc_macro]
pub fn __couch_sql_schema(input: TokenStream) -> TokenStream {
    chain::expand(input.into()).into()
}

/// `couch_sql!("SELECT … FROM table WHERE col = ?", arg, …)`: an SQL
/// statement checked at compile time against the table's `#[derive(CouchRow)]` model.
#[proc_macro]
pub fn couch_sql(input: TokenStream) -> TokenStream {
    expand::front(input.into()).into()
}

/// `couch_sql_as!(Adult, "SELECT name, age FROM users WHERE age >= ?", 18)`: like
/// `couch_sql!`, with rows of a struct of yours (no derive needed). The SELECT's
/// columns are checked against the struct's fields at compile time: a column
/// the struct lacks, a field the SELECT lacks, or a type that differs is an
/// error at the query.
#[proc_macro]
pub fn couch_sql_as(input: TokenStream) -> TokenStream {
    expand::front_as(input.into()).into()
}

/// `#[couch_sql::test]`: a test with a new database of its own, deleted afterwards
/// (also when the test panics or returns `Err`).
///
/// ```text
/// #[couch_sql::test]
/// async fn counts_adults(db: couch_sql::Database) { … }
///
/// #[couch_sql::test(fixtures("tests/fixtures/users.json"), indexes = false)]
/// fn blocking_too(db: couch_sql::blocking::Database) -> couch_sql::Result<()> { … }
/// ```
///
/// The database is on the server `COUCHDB_URL` names, or, when it is unset, on
/// the embedded engine in memory. Fixture files (paths relative to the crate's
/// `Cargo.toml`) are JSON arrays of documents (or `{"docs": [...]}`), loaded
/// before the body; the program's planned indexes and views are ensured unless
/// `indexes = false`.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::expand(attr.into(), item.into()).into()
}

#[doc(hidden)]
#[proc_macro]
pub fn __couch_sql_expand(input: TokenStream) -> TokenStream {
    expand::with_schema(input.into()).into()
}
