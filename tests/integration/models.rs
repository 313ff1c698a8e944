//! Table models shared by the tests (defined in their own module, imported
//! elsewhere with `use crate::models::{users, User}`).

use couch_sql::CouchRow;

#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "users")]
pub struct User {
    #[couch(id)]
    pub id: Option<String>,
    #[couch(rev)]
    pub rev: Option<String>,
    pub name: String,
    pub age: i64,
    pub email: Option<String>,
    pub active: bool,
}

/// A table whose columns may be NULL, to test NULL semantics.
#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "items")]
pub struct Item {
    #[couch(id)]
    pub id: Option<String>,
    pub label: String,
    pub c: Option<String>,
    pub n: Option<i64>,
    pub price: Option<f64>,
}

pub mod loose {
    //! The `people` table as written by a buggy client: `age` is text.
    use couch_sql::CouchRow;

    #[derive(CouchRow, Debug, Clone, PartialEq)]
    #[couch(table = "people")]
    pub struct PersonText {
        pub name: String,
        pub age: String,
    }
}

pub mod strict {
    //! The `people` table as the application reads it.
    use couch_sql::CouchRow;

    #[derive(CouchRow, Debug, Clone, PartialEq)]
    #[couch(table = "people")]
    pub struct Person {
        pub name: String,
        pub age: i64,
    }
}

/// A counter document, for concurrent updates.
#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "counters")]
pub struct Counter {
    #[couch(id)]
    pub id: Option<String>,
    pub n: i64,
    pub score: Option<f64>,
}

/// An order, for replication and conflicts.
#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "orders")]
pub struct Order {
    #[couch(id)]
    pub id: Option<String>,
    pub region: String,
    pub qty: i64,
    pub note: Option<String>,
}
