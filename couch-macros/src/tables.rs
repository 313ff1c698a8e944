//! The tables this compilation has seen derived, to name them when a query's
//! table is misspelled.
//!
//! Rust's name resolution is what finds a table (see the crate docs), and it
//! stays the judge: a table unknown here may come from another crate or a module
//! expanded later. Only a name that is a near miss of a table derived in this
//! crate is reported as a typo, with the tables this crate declares.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

static TABLES: Mutex<BTreeMap<String, BTreeSet<String>>> = Mutex::new(BTreeMap::new());

/// The crate being compiled (cargo sets it for rustc, which runs the macros).
fn this_crate() -> String {
    std::env::var("CARGO_CRATE_NAME").unwrap_or_default()
}

/// Notes a `#[derive(CouchRow)]` table of this crate.
pub(crate) fn declared(table: &str) {
    let mut tables = TABLES.lock().unwrap_or_else(|e| e.into_inner());
    tables.entry(this_crate()).or_default().insert(table.to_string());
}

/// The message for `table` when it is a near miss of a table derived in this crate.
pub(crate) fn misspelled(table: &str) -> Option<String> {
    let tables = TABLES.lock().unwrap_or_else(|e| e.into_inner());
    let known = tables.get(&this_crate())?;
    if known.contains(table) {
        return None;
    }
    let near = couch_translate::closest(table, known.iter().map(String::as_str))?;
    let all: Vec<String> = known.iter().map(|t| format!("`{t}`")).collect();
    Some(format!(
        "unknown table `{table}`: did you mean `{near}`? Tables declared with #[derive(CouchRow)] in this crate: {}",
        all.join(", ")
    ))
}
