//! `WHERE` → Mango selector, with SQL's NULL semantics.
//!
//! The condition is first built as a small logic tree, `NOT` is pushed down to
//! the comparisons (De Morgan holds in SQL's three-valued logic), and every
//! comparison is then emitted so that it matches only documents where the
//! column is present, non-null and of the compared type. A positive AND/OR of
//! such comparisons is true exactly where SQL's WHERE is true, and its meaning
//! does not depend on how CouchDB and pouchdb-server differ on `$ne`, `$nin`
//! and `$not` over missing fields.
//!
//! Three phases, one module each: [`resolve`] reads the SQL against the model,
//! [`logic`] is the tree and its negation, [`emit`] writes Mango.

mod emit;
mod logic;
mod resolve;

pub(crate) use emit::*;
pub(crate) use logic::*;
pub(crate) use resolve::*;
