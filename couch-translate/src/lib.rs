#![warn(missing_docs)]
//! SQL → CouchDB Mango translation for `couch-sql`.
//!
//! This crate does no I/O. The `couch_sql!` macro runs it at compile time and
//! embeds the resulting [`Plan`]; the runtime renders the plan's [`Tmpl`]
//! templates with the bound parameters into `_find` / `_bulk_docs` bodies.
//!
//! ```
//! use couch_translate::{translate, Schema, Column, ColumnType, Kind};
//!
//! let users = Schema::new("users", vec![
//!     Column::new("name", ColumnType::new(Kind::Text, false, "String")),
//!     Column::new("age", ColumnType::new(Kind::Integer, false, "i64")),
//! ]);
//! let t = translate("SELECT name FROM users WHERE age >= ?", Some(&users)).unwrap();
//! assert_eq!(t.params.len(), 1);
//! ```

pub mod datetime;
mod error;
pub mod like;
pub mod path;
mod plan;
pub mod relax;
mod schema;
pub mod template;
mod translate;

pub use error::{TranslateError, TranslateErrors};
pub use plan::{
    AggCall, AggFunc, AggSlot, AggSort, AggValue, AggView, Aggregate, Arith, ArithOp, Count, Delete, GroupColumn,
    Having, HavingTerm, IndexDef, Insert, KeyRange, Output, ParamUsage, ParamUse, Partition, Plan, Projected, Select,
    SetValue, SortKey, Translation, Update,
};
pub use schema::{closest, Access, Column, ColumnType, Kind, Schema, TableKey, CONFLICTS};
pub use template::{Compiled, Dialect, RenderError, Tmpl};
pub use translate::{table_of, translate};
