//! Document paths in Mango's dotted syntax (`address.city`, `lines.0.sku`):
//! CouchDB's one grammar, from `couch_semantics::path`, which the runtime and the
//! engine read too.

pub use couch_semantics::path::{can_escape, child, escape, parse, segments, PathError};
