//! Who a request is, and what it may do, as CouchDB 3.4.3 decides: server admins,
//! users of `_users`, `AuthSession` cookies, and each database's `_security`.
//!
//! An engine with no server admin (in process: the process owns its data, as
//! SQLite's does; or `couch-sql serve --insecure-no-auth`) treats every request
//! as an admin's. With one, it answers as CouchDB 3 does: no admin party.

use crate::password;
use crate::store::ApiError;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::collections::HashMap;

/// How long a session cookie lives (CouchDB's `[chttpd_auth] timeout` default).
pub(crate) const SESSION_SECONDS: u64 = 600;

/// The server's admins and the key its cookies are signed with.
#[derive(Clone)]
pub(crate) struct ServerAuth {
    /// Admin name → the password's hash (the fields a user document keeps).
    admins: HashMap<String, std::sync::Arc<Map<String, Value>>>,
    /// Signs cookies; made at start, so a restart ends every session.
    secret: [u8; 32],
}

impl ServerAuth {
    pub(crate) fn new() -> ServerAuth {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).expect("the operating system's random source");
        ServerAuth { admins: HashMap::new(), secret }
    }

    pub(crate) fn add_admin(&mut self, name: &str, password: &str) {
        self.admins.insert(name.to_string(), std::sync::Arc::new(password::hashed(password)));
    }

    pub(crate) fn has_admins(&self) -> bool {
        !self.admins.is_empty()
    }

    /// The stored hash of admin `name`.
    pub(crate) fn admin(&self, name: &str) -> Option<&std::sync::Arc<Map<String, Value>>> {
        self.admins.get(name)
    }

    /// `AuthSession`'s value, as CouchDB makes it: base64url of
    /// `name:HEXTIME:` and an HMAC-SHA256 of `name:HEXTIME` keyed by the server's
    /// secret and the user's salt (a changed password ends the user's sessions).
    pub(crate) fn cookie(&self, name: &str, salt: &str, now: u64) -> String {
        let text = format!("{name}:{now:X}");
        let mut bytes = format!("{text}:").into_bytes();
        bytes.extend_from_slice(&self.sign(&text, salt));
        base64_encode(&bytes, URL)
    }

    fn sign(&self, text: &str, salt: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[&self.secret[..], salt.as_bytes()].concat())
            .expect("HMAC takes a key of any length");
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A cookie's user name, if its signature holds and it has not expired.
    /// `salt_of` finds the user's salt (called once). A cookie that is not one at all
    /// is CouchDB's 400.
    pub(crate) fn check_cookie(
        &self,
        cookie: &str,
        now: u64,
        salt_of: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Option<String>, ApiError> {
        let malformed = || ApiError::bad_request("Malformed AuthSession cookie. Please clear your cookies.");
        let bytes = base64_decode(cookie, URL).ok_or_else(malformed)?;
        if bytes.len() < 32 + 4 {
            return Err(malformed());
        }
        let (head, mac) = bytes.split_at(bytes.len() - 32);
        let head = std::str::from_utf8(head).map_err(|_| malformed())?;
        let text = head.strip_suffix(':').ok_or_else(malformed)?;
        let (name, time) = text.rsplit_once(':').ok_or_else(malformed)?;
        let time = u64::from_str_radix(time, 16).map_err(|_| malformed())?;
        let Some(salt) = salt_of(name) else { return Ok(None) };
        let expected = self.sign(text, &salt);
        // Constant time: the comparison does not tell where a forged signature differs.
        let genuine = expected.iter().zip(mac).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        Ok((genuine && now < time.saturating_add(SESSION_SECONDS)).then(|| name.to_string()))
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Who {
    /// A server admin (everyone, on an engine without admins).
    Admin(Option<String>),
    /// A user of `_users`, with its roles.
    User { name: String, roles: Vec<String> },
    /// No credentials.
    Anonymous,
}

impl Who {
    pub(crate) fn is_admin(&self) -> bool {
        matches!(self, Who::Admin(_))
    }

    /// `userCtx`, as `GET /_session` shows it.
    pub(crate) fn user_ctx(&self) -> Value {
        match self {
            Who::Admin(name) => json!({"name": name, "roles": ["_admin"]}),
            Who::User { name, roles } => json!({"name": name, "roles": roles}),
            Who::Anonymous => json!({"name": null, "roles": []}),
        }
    }

    /// Whether `group` (`members` or `admins` of a `_security` object) names this user.
    fn in_group(&self, group: &Value) -> bool {
        let Who::User { name, roles } = self else { return false };
        let listed = |k: &str| group.get(k).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        listed("names").iter().any(|n| n.as_str() == Some(name))
            || listed("roles").iter().any(|r| r.as_str().is_some_and(|r| roles.iter().any(|mine| mine == r)))
    }

    /// A database admin: a server admin, or named by `admins`.
    pub(crate) fn is_db_admin(&self, security: &Value) -> bool {
        self.is_admin() || self.in_group(&security["admins"])
    }

    /// A member may read and write documents: a database with no members (neither
    /// names nor roles) is public; `{"roles": ["_admin"]}`, CouchDB 3's default,
    /// admits admins only.
    pub(crate) fn is_member(&self, security: &Value) -> bool {
        let members = &security["members"];
        let empty = |k: &str| members.get(k).and_then(Value::as_array).is_none_or(Vec::is_empty);
        (empty("names") && empty("roles")) || self.is_db_admin(security) || self.in_group(members)
    }

    /// The refusal CouchDB gives: 401 to someone anonymous, 403 to a known user.
    pub(crate) fn refused(&self, reason: &str) -> ApiError {
        match self {
            Who::Anonymous => ApiError::new(401, "unauthorized", reason),
            _ => ApiError::new(403, "forbidden", reason),
        }
    }
}

/// CouchDB 3's `_security` for a new database (`[couchdb] default_security = admin_only`).
pub(crate) fn admin_only() -> Value {
    json!({"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}})
}

/// Refused by a server-admin endpoint.
pub(crate) fn not_server_admin() -> ApiError {
    ApiError::new(401, "unauthorized", "You are not a server admin.")
}

/// Refused a database.
pub(crate) const NOT_MEMBER_ANONYMOUS: &str = "You are not authorized to access this db.";
pub(crate) const NOT_MEMBER: &str = "You are not allowed to access this db.";
/// Refused a design document or `_security`.
pub(crate) const NOT_DB_ADMIN: &str = "You are not a db or server admin.";

/// The alphabets of RFC 4648: `Authorization: Basic` uses the standard one, cookies the URL one.
pub(crate) const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub(crate) const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 without padding.
pub(crate) fn base64_encode(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Base64, padded or not; `None` for a character outside `alphabet`.
pub(crate) fn base64_decode(s: &str, alphabet: &[u8; 64]) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for c in s.trim_end_matches('=').bytes() {
        let v = alphabet.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_in_both_alphabets() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 250) as u8).collect();
            for alphabet in [STANDARD, URL] {
                assert_eq!(base64_decode(&base64_encode(&bytes, alphabet), alphabet).unwrap(), bytes);
            }
        }
        assert_eq!(base64_encode(b"admin:password", STANDARD), "YWRtaW46cGFzc3dvcmQ");
        assert_eq!(base64_decode("YWRtaW46cGFzc3dvcmQ=", STANDARD).unwrap(), b"admin:password");
        assert!(base64_decode("a*b", STANDARD).is_none());
    }

    #[test]
    fn a_cookie_is_couchdbs_and_holds_only_while_signed_and_fresh() {
        let auth = ServerAuth::new();
        let salt = |n: &str| (n == "bob").then(|| "s1".to_string());
        let cookie = auth.cookie("bob", "s1", 1_000);
        let raw = base64_decode(&cookie, URL).unwrap();
        assert!(raw.starts_with(b"bob:3E8:"), "name:HEXTIME: then the signature");
        assert_eq!(auth.check_cookie(&cookie, 1_001, salt).unwrap().as_deref(), Some("bob"));
        assert_eq!(auth.check_cookie(&cookie, 1_000 + SESSION_SECONDS, salt).unwrap(), None, "expired");
        let other_salt = |_: &str| Some("s2".to_string());
        assert_eq!(auth.check_cookie(&cookie, 1_001, other_salt).unwrap(), None, "a new password ends it");
        let mut forged = raw.clone();
        forged[..3].copy_from_slice(b"eve");
        let forged = base64_encode(&forged, URL);
        assert_eq!(auth.check_cookie(&forged, 1_001, |_| Some("s1".into())).unwrap(), None, "a forged name");
        assert_eq!(ServerAuth::new().check_cookie(&cookie, 1_001, salt).unwrap(), None, "another server's");
        assert_eq!(auth.check_cookie("garbage", 1, salt).unwrap_err().status, 400);
    }
}
