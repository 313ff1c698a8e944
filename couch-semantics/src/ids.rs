//! Document ids, as CouchDB's "sequential" uuid algorithm makes them: a random
//! prefix per process and a counter, which keeps B-trees append-friendly.
//!
//! couch-sql's inserts carry their own `_id` (so a retried `_bulk_docs` can never
//! create a duplicate), and its engine names a `POST`ed document with one.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// 64 fresh random bits (seeded from the OS; not for secrets).
pub fn random_u64() -> u64 {
    // RandomState is seeded from the OS; hashing the time through it gives fresh bits.
    let mut h = RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

fn prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| format!("{:016x}{:04x}", random_u64(), random_u64() & 0xffff))
}

/// A new id: 20 random hex digits, then a 12-digit counter (32 in all).
///
/// ```
/// let (a, b) = (couch_semantics::ids::new_id(), couch_semantics::ids::new_id());
/// assert_eq!(a.len(), 32);
/// assert!(a < b);
/// ```
pub fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}{:012x}", prefix(), n & 0xffff_ffff_ffff)
}

/// A stable digest of `text`: 32 hex digits, the same in every process and on
/// every machine (two FNV-1a variants; not for secrets). Revision ids and
/// replication ids are made with it.
///
/// ```
/// assert_eq!(couch_semantics::ids::digest("a"), couch_semantics::ids::digest("a"));
/// assert_ne!(couch_semantics::ids::digest("a"), couch_semantics::ids::digest("b"));
/// ```
pub fn digest(text: &str) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for byte in text.bytes() {
        a = (a ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        b = (b ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(5);
    }
    format!("{a:016x}{b:016x}")
}

/// Whether `p` can be a partition of a partitioned database, as CouchDB's
/// `couch_partition:validate_partition` says: a non-empty string that does not
/// start with `_` and has no `:` (the first colon of an id ends its partition).
pub fn valid_partition(p: &str) -> bool {
    partition_error(p).is_none()
}

/// Why `p` cannot be a partition (CouchDB's `illegal_partition` reason), if it cannot.
pub fn partition_error(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        Some("Partition must not be empty")
    } else if p.starts_with('_') {
        Some("Partition must not start with an underscore")
    } else if p.contains(':') {
        Some("Partition must not contain a colon")
    } else {
        None
    }
}

/// Why `id` cannot be a document id of a partitioned database, if it cannot, as
/// CouchDB's `(error, reason)`: it must be `partition:rest` (or a design or local
/// document's id).
pub fn partitioned_id_error(id: &str) -> Option<(&'static str, &'static str)> {
    if id.starts_with("_design/") || id.starts_with("_local/") {
        return None;
    }
    match id.split_once(':') {
        Some((p, rest)) if !rest.is_empty() && !rest.starts_with('_') => {
            partition_error(p).map(|reason| ("illegal_partition", reason))
        }
        _ => Some(("illegal_docid", "Doc id must be of form partition:id")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ordered() {
        let a = super::new_id();
        let b = super::new_id();
        assert_eq!(a.len(), 32);
        assert!(a < b);
    }

    #[test]
    fn partitions_follow_couchdbs_rules() {
        assert!(valid_partition("acme") && !valid_partition("") && !valid_partition("_x") && !valid_partition("a:b"));
        assert_eq!(partitioned_id_error("acme:1"), None);
        assert_eq!(partitioned_id_error("_design/x"), None);
        assert_eq!(partitioned_id_error("plain").map(|e| e.0), Some("illegal_docid"));
        assert_eq!(partitioned_id_error("_x:1").map(|e| e.0), Some("illegal_partition"));
    }
}
