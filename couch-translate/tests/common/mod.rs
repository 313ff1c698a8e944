//! Mango collation for the property tests' reference evaluators: CouchDB's own,
//! from the crate that holds it for every part of couch-sql.

#![allow(unused_imports)] // each test binary uses its own part

pub use couch_semantics::collate::{compare as collate, type_order as rank};
