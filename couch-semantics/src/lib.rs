//! CouchDB's meaning, written once: how values collate, how a field path is
//! read and walked, how a Mango selector matches, how `fields` projects a
//! document, how ids are made, how revisions form a tree (and which one wins), and
//! how couch-sql describes its aggregate views.
//!
//! Pure: no I/O, no HTTP. The SQL translator, the runtime (its client-side
//! sorts, groups and live-query matching) and the embedded engine all use this
//! crate, so none of them can disagree with another about what CouchDB means.
//! The ground truth is Apache CouchDB 3.4.3: `couch_ejson_compare` (collation),
//! `mango_util:parse_field` and `mango_doc:get_field` (paths), `mango_selector`
//! (matching).
//!
//! The `matching` feature (default) adds collation and the matcher; without it
//! the crate is what a compile-time translator needs (paths, views, type names).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[cfg(feature = "matching")]
#[cfg_attr(docsrs, doc(cfg(feature = "matching")))]
pub mod collate;
pub mod ids;
#[cfg(feature = "matching")]
#[cfg_attr(docsrs, doc(cfg(feature = "matching")))]
pub mod mango;
pub mod path;
mod projection;
pub mod revs;
pub mod value;
pub mod view;

pub use projection::Projection;

/// The `vendor.name` couch-sql's engine gives in its welcome (`GET /`), by which
/// a client knows it (in process, or `couch-sql serve`).
pub const ENGINE_VENDOR: &str = "couch-sql embedded";
