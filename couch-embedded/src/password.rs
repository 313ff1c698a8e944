//! Passwords and session tokens, as CouchDB 3.4 keeps them: PBKDF2-SHA256 with a
//! random salt (`password_scheme`, `pbkdf2_prf`, `iterations`, `derived_key`, `salt`
//! in the user document), and tokens from the operating system's random source.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// CouchDB 3.4's default `[chttpd_auth] iterations`.
pub(crate) const ITERATIONS: u32 = 600_000;

/// `n` random bytes as lowercase hex, from the operating system.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn derive(password: &str, salt: &str, iterations: u32) -> String {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut key);
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fields a user document keeps instead of `password`.
pub(crate) fn hashed(password: &str) -> Map<String, Value> {
    let salt = random_hex(16);
    let key = derive(password, &salt, ITERATIONS);
    let v = json!({
        "password_scheme": "pbkdf2",
        "pbkdf2_prf": "sha256",
        "iterations": ITERATIONS,
        "derived_key": key,
        "salt": salt,
    });
    v.as_object().cloned().unwrap_or_default()
}

/// Byte strings compared in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `password` is the one a user document (its `derived_key`, `salt`,
/// `iterations`) keeps. A password once verified against a document's key is
/// remembered (by a SHA-256 of the key, salt and password, never the password),
/// so a request with Basic credentials does not hash 600,000 rounds each time;
/// CouchDB 3.4 keeps such a cache too.
pub(crate) fn verify(user: &Map<String, Value>, password: &str) -> bool {
    static VERIFIED: Mutex<Option<HashMap<[u8; 32], ()>>> = Mutex::new(None);
    let (Some(key), Some(salt)) =
        (user.get("derived_key").and_then(Value::as_str), user.get("salt").and_then(Value::as_str))
    else {
        return false;
    };
    if user.get("password_scheme").and_then(Value::as_str) != Some("pbkdf2")
        || user.get("pbkdf2_prf").and_then(Value::as_str).is_some_and(|p| p != "sha256")
    {
        return false; // a scheme this engine does not write
    }
    let iterations = user.get("iterations").and_then(Value::as_u64).unwrap_or(u64::from(ITERATIONS));
    let Ok(iterations) = u32::try_from(iterations) else { return false };
    let mut tag = Sha256::new();
    for part in [key, salt, password] {
        tag.update((part.len() as u64).to_le_bytes());
        tag.update(part.as_bytes());
    }
    let tag: [u8; 32] = tag.finalize().into();
    let mut cache = VERIFIED.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if cache.contains_key(&tag) {
        return true;
    }
    let ok = same(derive(password, salt, iterations).as_bytes(), key.as_bytes());
    if ok {
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(tag, ());
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_kept_as_couchdb_keeps_it_and_verified() {
        let doc = hashed("s3cret");
        assert_eq!(doc["password_scheme"], "pbkdf2");
        assert_eq!(doc["pbkdf2_prf"], "sha256");
        assert_eq!(doc["iterations"], ITERATIONS);
        assert_eq!(doc["derived_key"].as_str().unwrap().len(), 64);
        assert_ne!(hashed("s3cret")["salt"], doc["salt"], "a new salt each time");
        assert!(verify(&doc, "s3cret"));
        assert!(verify(&doc, "s3cret"), "again, from the cache");
        assert!(!verify(&doc, "s3cret "));
        assert!(!verify(&Map::new(), "s3cret"));
    }

    /// RFC 7914's PBKDF2-HMAC-SHA256 test vector (P = "passwd", S = "salt", c = 1).
    #[test]
    fn pbkdf2_sha256_is_the_standard_one() {
        assert!(derive("passwd", "salt", 1).starts_with("55ac046e56e3089fec1691c22544b605"));
    }
}
