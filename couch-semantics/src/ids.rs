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

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_ordered() {
        let a = super::new_id();
        let b = super::new_id();
        assert_eq!(a.len(), 32);
        assert!(a < b);
    }
}
