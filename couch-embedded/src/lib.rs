#![warn(missing_docs)]
//! An embedded CouchDB-compatible engine: the HTTP API couch-sql uses, answered
//! in process with Apache CouchDB 3.4.3's semantics (revisions and conflicts,
//! `_bulk_docs`, `_all_docs`, all of Mango with ICU collation, json indexes,
//! `_explain`, and the map/reduce views couch-sql generates for aggregates).
//!
//! [`Engine::handle`] takes a request (method, path with query, body) and returns
//! the status and JSON body CouchDB would; couch-sql's runtime calls it for
//! `mem://` databases, and `couch-sql serve` puts it behind HTTP.
//!
//! ```
//! let engine = couch_embedded::Engine::new();
//! assert_eq!(engine.handle("PUT", "/shop", b"").0, 201);
//! let (status, body) = engine.handle("POST", "/shop/_bulk_docs", br#"{"docs": [{"_id": "a", "n": 1}]}"#);
//! assert_eq!(status, 201);
//! let (_, found) = engine.handle("POST", "/shop/_find", br#"{"selector": {"n": {"$gt": 0}}}"#);
//! assert!(String::from_utf8(found).unwrap().contains(r#""_id":"a""#));
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod attachments;
mod auth;
mod find;
pub mod json;
mod password;
mod revisions;
// CouchDB's meaning (collation, paths, matching) lives in one crate, shared with the runtime.
use couch_semantics::{collate, mango};
mod store;
mod views;
mod written;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod serve;

pub use attachments::base64;
use auth::{ServerAuth, Who};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};
pub use store::ApiError;
use store::Db;

/// The version this engine answers as, and follows.
pub const COUCHDB_VERSION: &str = "3.4.3";
/// The vendor name in `GET /`, by which clients tell the engine from CouchDB.
pub const VENDOR: &str = couch_semantics::ENGINE_VENDOR;

/// Databases, in memory.
#[derive(Clone)]
pub struct Engine {
    dbs: Arc<Mutex<BTreeMap<String, Arc<RwLock<Db>>>>>,
    /// The server admins (none: every request is an admin's) and the cookie key.
    auth: Arc<ServerAuth>,
    /// Where persistent databases live (`<dir>/<name>.redb`); `None`: in memory.
    dir: Option<std::path::PathBuf>,
    /// Bumped and notified on every write: what a `longpoll` changes feed waits on.
    written: Arc<written::Written>,
}

impl Default for Engine {
    fn default() -> Self {
        let mut dbs = BTreeMap::new();
        // CouchDB's users database, so clients can make users and log in.
        dbs.insert("_users".to_string(), Arc::default());
        let auth = Arc::new(ServerAuth::new());
        Engine { dbs: Arc::new(Mutex::new(dbs)), auth, dir: None, written: Arc::default() }
    }
}

/// The salt of a stored password hash: what signs its owner's cookies.
fn salt(hash: &serde_json::Map<String, Value>) -> String {
    hash.get("salt").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Seconds since the Unix epoch.
fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A cookie's `Expires`, as CouchDB writes it: `Fri, 04-Dec-2026 14:37:30 GMT`.
fn cookie_date(secs: u64) -> String {
    let days = secs / 86_400;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let name = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][month as usize - 1];
    format!("{weekday}, {day:02}-{name}-{year} {h:02}:{m:02}:{s:02} GMT")
}

fn session_cookie(value: &str, now: u64) -> String {
    format!(
        "AuthSession={value}; Version=1; Expires={}; Max-Age={}; Path=/; HttpOnly",
        cookie_date(now + auth::SESSION_SECONDS),
        auth::SESSION_SECONDS
    )
}

/// A response: status, extra headers, JSON body.
pub struct HttpReply {
    /// The HTTP status.
    pub status: u16,
    /// Headers to add (`set-cookie` after a login).
    pub headers: Vec<(String, String)>,
    /// The JSON body (empty for `HEAD`).
    pub body: Vec<u8>,
}

type Reply = Result<(u16, Value), ApiError>;

/// The request headers, besides credentials, that change an answer.
#[derive(Debug, Default, Clone, Copy)]
pub struct Head<'a> {
    /// `Content-Type`: an attachment's type, or `multipart/related` for a document
    /// written with its attachments' bytes in parts.
    pub content_type: Option<&'a str>,
    /// `Accept`: `open_revs` answers `multipart/mixed` unless JSON is asked for.
    pub accept: Option<&'a str>,
}

impl Head<'_> {
    /// Whether the client takes `multipart/mixed` (CouchDB's rule: unless it asks
    /// for JSON; no `Accept` takes anything).
    fn takes_multipart(&self) -> bool {
        match self.accept {
            None => true,
            Some(a) => a.contains("multipart/mixed") || (a.contains("*/*") && !a.contains("application/json")),
        }
    }
}

/// An answer that is not JSON: an attachment's bytes, a multipart body.
struct Raw {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// A user document's clear `password`, replaced by its hash, on every way a user
/// document is written (`PUT`, `POST /_users`, `_bulk_docs`), as CouchDB does.
fn hash_password(doc: &mut Value) {
    let Value::Object(doc) = doc else { return };
    if let Some(p) = doc.remove("password").and_then(|p| p.as_str().map(str::to_owned)) {
        doc.extend(password::hashed(&p));
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The query string's parameters, decoded.
pub(crate) fn query_params(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

fn valid_db_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_$()+-/".contains(c))
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    json::parse(body)
}

/// The largest document, as JSON, in bytes: CouchDB's `[couchdb] max_document_size`.
pub const MAX_DOCUMENT_BYTES: usize = 8_000_000;

/// CouchDB's 413 for a document over [`MAX_DOCUMENT_BYTES`] (`reason`: its id, if
/// the body named one). `body_len` bounds the documents' sizes: only a body that
/// large has any to measure.
fn check_size<'a>(docs: impl IntoIterator<Item = &'a Value>, body_len: usize) -> Result<(), ApiError> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    if body_len <= MAX_DOCUMENT_BYTES {
        return Ok(());
    }
    for doc in docs {
        let mut size = Count(0);
        let _ = serde_json::to_writer(&mut size, doc);
        if size.0 > MAX_DOCUMENT_BYTES {
            let id = doc.get("_id").and_then(Value::as_str).unwrap_or("");
            return Err(ApiError::new(413, "document_too_large", id));
        }
    }
    Ok(())
}

impl Engine {
    /// An engine with no databases.
    pub fn new() -> Self {
        Engine::default()
    }

    /// An engine whose databases are files in `dir` (created if missing), each a
    /// redb database, kept in memory while open.
    pub fn open(dir: impl Into<std::path::PathBuf>) -> std::io::Result<Engine> {
        let dir = dir.into();
        // The directory is made when its first database is created, not before:
        // opening a database that does not exist leaves nothing behind.
        if dir.exists() && !dir.is_dir() {
            return Err(std::io::Error::other(format!("{} is not a directory", dir.display())));
        }
        // `_users` is a file too (made by `PUT /_users`, as `couch-sql serve --dir` does
        // at start): users and their passwords outlive the process.
        Ok(Engine { dir: Some(dir), dbs: Arc::default(), ..Engine::default() })
    }

    /// The names of the databases: those open, and those on disk.
    fn all_dbs(&self) -> Vec<String> {
        let mut names: Vec<String> = self.dbs.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        if let Some(entries) = self.dir.as_ref().and_then(|d| std::fs::read_dir(d).ok()) {
            for entry in entries.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if let Some(name) = file.strip_suffix(".redb") {
                    let name = name.replace("%2F", "/");
                    if (valid_db_name(&name) || name == "_users") && !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        names.sort();
        names
    }

    /// The file of database `name`.
    fn file_of(&self, name: &str) -> Option<std::path::PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{}.redb", name.replace('/', "%2F"))))
    }

    fn db(&self, name: &str) -> Result<Arc<RwLock<Db>>, ApiError> {
        let mut dbs = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = dbs.get(name) {
            return Ok(db.clone());
        }
        // Only a valid name has a file: `a%2Fb` (a `%` is no database name) must not
        // open `a/b`, whose file it would name.
        if !valid_db_name(name) && name != "_users" {
            return Err(ApiError::not_found("Database does not exist."));
        }
        match self.file_of(name).filter(|f| f.exists()) {
            Some(file) => {
                let db = Arc::new(RwLock::new(Db::open(&file)?));
                dbs.insert(name.to_string(), db.clone());
                Ok(db)
            }
            None => Err(ApiError::not_found("Database does not exist.")),
        }
    }

    /// This engine, with a server admin: from now on an HTTP request
    /// ([`Engine::handle_http`]) is authenticated and authorized as CouchDB 3.4.3
    /// does it (no admin party): databases are made and dropped by admins, a
    /// database is read by its `_security` members, design documents are written
    /// by its admins. [`Engine::handle`] stays the process's own, admin, access.
    ///
    /// ```
    /// let engine = couch_embedded::Engine::new().with_admin("admin", "s3cret");
    /// assert_eq!(engine.handle_http("PUT", "/shop", None, None, b"").status, 401);
    /// let basic = "Basic YWRtaW46czNjcmV0"; // admin:s3cret
    /// assert_eq!(engine.handle_http("PUT", "/shop", Some(basic), None, b"").status, 201);
    /// ```
    pub fn with_admin(mut self, name: &str, password: &str) -> Engine {
        Arc::make_mut(&mut self.auth).add_admin(name, password);
        self
    }

    /// Whether HTTP requests must authenticate: the engine has a server admin.
    pub fn requires_auth(&self) -> bool {
        self.auth.has_admins()
    }

    /// Answers one request as CouchDB would: `(status, JSON body)`, as the admin.
    /// `target` is the path with its query string (`/shop/_find`, `/shop/_all_docs?limit=2`).
    pub fn handle(&self, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let json = Head { accept: Some("application/json"), ..Head::default() };
        let r = self.answer(Ok((Who::Admin(None), "")), method, target, json, body);
        (r.status, r.body)
    }

    /// Answers one HTTP request, with its `Authorization` and `Cookie` headers.
    /// Without a server admin ([`Engine::with_admin`]) every request is an admin's
    /// (an admin party, as pouchdb-server's), though credentials given must be
    /// right; with one, as CouchDB 3.4.3.
    pub fn handle_http(
        &self,
        method: &str,
        target: &str,
        authorization: Option<&str>,
        cookie: Option<&str>,
        body: &[u8],
    ) -> HttpReply {
        self.handle_request(method, target, authorization, cookie, Head::default(), body)
    }

    /// [`Engine::handle_http`], with the other headers that change an answer
    /// (`Content-Type`, `Accept`): attachments, and multipart bodies both ways.
    pub fn handle_request(
        &self,
        method: &str,
        target: &str,
        authorization: Option<&str>,
        cookie: Option<&str>,
        head: Head<'_>,
        body: &[u8],
    ) -> HttpReply {
        let who = self.identify(authorization, cookie);
        self.answer(who, method, target, head, body)
    }

    fn answer(
        &self,
        who: Result<(Who, &'static str), ApiError>,
        method: &str,
        target: &str,
        head: Head<'_>,
        body: &[u8],
    ) -> HttpReply {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let segments: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(decode).collect();
        let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
        let mut headers = Vec::new();
        if let Ok((w, _)) = &who {
            match self.raw(w, method, &seg, &query_params(query), head) {
                Some(Ok(raw)) => {
                    let body = if method == "HEAD" { Vec::new() } else { raw.body };
                    return HttpReply {
                        status: raw.status,
                        headers: vec![("content-type".into(), raw.content_type)],
                        body,
                    };
                }
                Some(Err(e)) => {
                    let body = if method == "HEAD" { Vec::new() } else { json::to_vec(&e.body()) };
                    return HttpReply { status: e.status, headers, body };
                }
                None => {}
            }
        }
        let result = who.and_then(|(who, how)| match (method, seg.as_slice()) {
            ("POST", ["_session"]) => self.login(body).map(|(cookie, value)| {
                headers.push(("set-cookie".to_string(), session_cookie(&cookie, now_secs())));
                (200, value)
            }),
            ("DELETE", ["_session"]) => {
                headers.push(("set-cookie".to_string(), session_cookie("", now_secs())));
                Ok((200, json!({"ok": true})))
            }
            ("GET", ["_session"]) => {
                let mut info = json!({"authentication_handlers": ["cookie", "default"]});
                if !how.is_empty() {
                    info["authenticated"] = json!(how);
                }
                Ok((200, json!({"ok": true, "userCtx": who.user_ctx(), "info": info})))
            }
            _ => self.route(&who, method, &seg, &query_params(query), head, body),
        });
        let (status, value) = match result {
            Ok(r) => r,
            Err(e) => (e.status, e.body()),
        };
        let body = if method == "HEAD" { Vec::new() } else { json::to_vec(&value) };
        HttpReply { status, headers, body }
    }

    /// The reads whose answer is not JSON: an attachment (`GET /db/id/name`), and
    /// `open_revs` for a client that takes `multipart/mixed`. `None` for the others.
    fn raw(
        &self,
        who: &Who,
        method: &str,
        seg: &[&str],
        q: &HashMap<String, String>,
        head: Head<'_>,
    ) -> Option<Result<Raw, ApiError>> {
        if !matches!(method, "GET" | "HEAD") {
            return None;
        }
        let (name, id, att): (&str, String, Option<String>) = match seg {
            [db, "_design", ddoc, first, rest @ ..] if !first.starts_with('_') => {
                (db, format!("_design/{ddoc}"), Some(attachment_name(first, rest)))
            }
            [db, id, first, rest @ ..] if !db.starts_with('_') && !id.starts_with('_') => {
                (db, id.to_string(), Some(attachment_name(first, rest)))
            }
            [db, id]
                if !db.starts_with('_')
                    && !id.starts_with('_')
                    && q.contains_key("open_revs")
                    && head.takes_multipart() =>
            {
                (db, id.to_string(), None)
            }
            _ => return None,
        };
        Some((|| {
            let db = self.db(name)?;
            self.admit(who, &db, name, method, &seg[1..], &[])?;
            let db = read(&db);
            match att {
                Some(att) => attachment(&db, &id, &att, q),
                None => {
                    // As multipart, attachments always travel (except those older than
                    // `atts_since`): CouchDB's replicator asks for them this way.
                    let extras = revisions::Extras { attachments: true, ..revisions::Extras::from_query(q) };
                    let latest = q.get("latest").is_some_and(|v| v == "true");
                    let opened = revisions::open_revs(&db, &id, &q["open_revs"], latest, &extras)?;
                    let (content_type, body) = revisions::multipart_mixed(opened);
                    Ok(Raw { status: 200, content_type, body })
                }
            }
        })())
    }

    fn unauthorized() -> ApiError {
        ApiError::new(401, "unauthorized", "Name or password is incorrect.")
    }

    /// Who `name` is, and the stored hash of their password (a server admin's, or
    /// their user document: `derived_key`, `salt`, `roles`, …), shared, not copied.
    fn account(&self, name: &str) -> Option<(Who, Arc<serde_json::Map<String, Value>>)> {
        if let Some(hash) = self.auth.admin(name) {
            return Some((Who::Admin(Some(name.to_string())), hash.clone()));
        }
        let users = self.db("_users").ok()?;
        let user = read(&users).get(&format!("org.couchdb.user:{name}")).ok()?.body.clone();
        if !self.requires_auth() {
            return Some((Who::Admin(Some(name.to_string())), user));
        }
        let roles = user.get("roles").and_then(Value::as_array);
        let roles = roles.into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
        Some((Who::User { name: name.to_string(), roles }, user))
    }

    /// The account of `name`, if `password` is theirs. The hash is checked with no
    /// lock held (it takes 600,000 rounds the first time).
    fn check_password(&self, name: &str, password: &str) -> Option<(Who, Arc<serde_json::Map<String, Value>>)> {
        self.account(name).filter(|(_, hash)| password::verify(hash, password))
    }

    /// Who sends a request: its Basic credentials (wrong ones are 401), else its
    /// session cookie (an expired one is no one), else no one; and how it was known.
    fn identify(&self, authorization: Option<&str>, cookie: Option<&str>) -> Result<(Who, &'static str), ApiError> {
        if let Some(basic) = authorization.and_then(|a| a.strip_prefix("Basic ")) {
            let decoded = auth::base64_decode(basic.trim(), auth::STANDARD).and_then(|b| String::from_utf8(b).ok());
            let (name, password) = decoded.as_deref().and_then(|d| d.split_once(':')).ok_or_else(Self::unauthorized)?;
            return self.check_password(name, password).map(|(who, _)| (who, "default")).ok_or_else(Self::unauthorized);
        }
        let token = cookie.and_then(|c| c.split(';').map(str::trim).find_map(|p| p.strip_prefix("AuthSession=")));
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            // The cookie's account is looked up once: its salt checks the signature.
            let mut signer = None;
            let salt_of = |n: &str| {
                let (who, hash) = self.account(n)?;
                signer = Some(who);
                Some(salt(&hash))
            };
            if self.auth.check_cookie(token, now_secs(), salt_of)?.is_some() {
                if let Some(who) = signer {
                    return Ok((who, "cookie"));
                }
            }
        }
        Ok((if self.requires_auth() { Who::Anonymous } else { Who::Admin(None) }, ""))
    }

    /// `POST /_session`: a cookie for a user's name and password.
    fn login(&self, body: &[u8]) -> Result<(String, Value), ApiError> {
        let creds: Value = serde_json::from_slice(body).unwrap_or_else(|_| {
            // name=…&password=… (a form)
            let form = query_params(&String::from_utf8_lossy(body));
            json!({"name": form.get("name"), "password": form.get("password")})
        });
        let (Some(name), Some(password)) = (creds["name"].as_str(), creds["password"].as_str()) else {
            return Err(Self::unauthorized());
        };
        let (who, hash) = self.check_password(name, password).ok_or_else(Self::unauthorized)?;
        let cookie = self.auth.cookie(name, &salt(&hash), now_secs());
        Ok((cookie, json!({"ok": true, "name": name, "roles": who.user_ctx()["roles"]})))
    }

    /// Whether `who` may make this request of database `name`, as CouchDB decides it
    /// from the database's `_security`; `Ok(true)` for one of its admins.
    fn admit(
        &self,
        who: &Who,
        db: &RwLock<Db>,
        name: &str,
        method: &str,
        rest: &[&str],
        body: &[u8],
    ) -> Result<bool, ApiError> {
        if who.is_admin() {
            return Ok(true); // a server admin (everyone, in process): nothing to look up
        }
        let security = read(db).security();
        if !who.is_member(&security) {
            return Err(match who {
                Who::Anonymous => who.refused(auth::NOT_MEMBER_ANONYMOUS),
                _ => who.refused(auth::NOT_MEMBER),
            });
        }
        let db_admin = who.is_db_admin(&security);
        if db_admin {
            return Ok(true);
        }
        if name == "_users" {
            // A user reads and writes their own document; the rest of `_users`
            // (others' password hashes included) is the admins'.
            let own = match who {
                Who::User { name, .. } => format!("org.couchdb.user:{name}"),
                _ => String::new(),
            };
            if !(matches!(method, "GET" | "HEAD" | "PUT") && rest == [own.as_str()]) {
                return Err(who.refused("Only admins can access system databases."));
            }
        }
        let designs = |v: &Value| v.get("_id").and_then(Value::as_str).is_some_and(|id| id.starts_with("_design/"));
        let admins_only = match (method, rest) {
            (_, ["_design", _, ..]) => !matches!(method, "GET" | "HEAD") && rest.get(2) != Some(&"_view"),
            ("PUT", ["_security" | "_revs_limit"]) | ("POST", ["_compact", ..]) => true,
            ("POST" | "DELETE", ["_index", ..]) => true,
            ("POST", []) => serde_json::from_slice::<Value>(body).is_ok_and(|d| designs(&d)),
            _ => false,
        };
        if admins_only {
            return Err(who.refused(auth::NOT_DB_ADMIN));
        }
        Ok(false)
    }

    fn route(
        &self,
        who: &Who,
        method: &str,
        seg: &[&str],
        q: &HashMap<String, String>,
        head: Head<'_>,
        body: &[u8],
    ) -> Reply {
        match (method, seg) {
            ("GET", []) => Ok((
                200,
                json!({"couchdb": "Welcome", "version": COUCHDB_VERSION, "vendor": {"name": VENDOR}, "features": []}),
            )),
            ("GET", ["_up"]) => Ok((200, json!({"status": "ok"}))),
            ("GET", ["_all_dbs"]) if who.is_admin() => Ok((200, json!(self.all_dbs()))),
            ("GET", ["_all_dbs"]) => Err(auth::not_server_admin()),
            // CouchDB's replicator endpoint: replications are run by a replicator pointed at
            // this server (CouchDB's, PouchDB's), not by the engine itself.
            (_, ["_replicate" | "_replicator" | "_scheduler", ..]) => Err(ApiError::new(
                501,
                "not_implemented",
                "couch-sql's engine runs no replications itself: point a replicator (CouchDB's, PouchDB's) at it",
            )),
            (_, [name, rest @ ..]) if !name.starts_with('_') || *name == "_users" => {
                self.db_route(who, method, name, rest, q, head, body)
            }
            _ => Err(ApiError::new(400, "illegal_database_name", "Name must begin with a letter.")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn db_route(
        &self,
        who: &Who,
        method: &str,
        name: &str,
        rest: &[&str],
        q: &HashMap<String, String>,
        head: Head<'_>,
        body: &[u8],
    ) -> Reply {
        if rest.is_empty() && matches!(method, "PUT" | "DELETE") && !who.is_admin() {
            return Err(auth::not_server_admin());
        }
        if rest.is_empty() && method != "PUT" {
            self.admit(who, &*self.db(name)?, name, method, rest, body)?;
        }
        if rest.is_empty() {
            return match method {
                "PUT" => {
                    // CouchDB's limit: a database's file name must fit the file system.
                    if name.len() > 238 {
                        return Err(ApiError::new(
                            400,
                            "database_name_too_long",
                            format!("At least one path segment of `{name}` is too long."),
                        ));
                    }
                    if !valid_db_name(name) && name != "_users" {
                        return Err(ApiError::new(
                            400,
                            "illegal_database_name",
                            format!("Name: '{name}'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."),
                        ));
                    }
                    // One lock from the check to the insert: two creates cannot both succeed.
                    let mut dbs = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
                    if dbs.contains_key(name) || self.file_of(name).is_some_and(|f| f.exists()) {
                        return Err(ApiError::new(
                            412,
                            "file_exists",
                            "The database could not be created, the file already exists.",
                        ));
                    }
                    let mut db = match self.file_of(name) {
                        Some(file) => {
                            if let Some(dir) = file.parent() {
                                std::fs::create_dir_all(dir)
                                    .map_err(|e| ApiError::new(500, "storage_error", e.to_string()))?;
                            }
                            Db::open(&file)?
                        }
                        None => Db::default(),
                    };
                    db.set_security(auth::admin_only())?;
                    match q.get("partitioned").map(String::as_str) {
                        None | Some("false") => {}
                        Some("true") if name.starts_with('_') => {
                            return Err(ApiError::bad_request("Cannot partition a system database"))
                        }
                        Some("true") => db.set_partitioned()?,
                        Some(_) => return Err(ApiError::bad_request("Invalid `partitioned` parameter")),
                    }
                    dbs.insert(name.to_string(), Arc::new(RwLock::new(db)));
                    Ok((201, json!({"ok": true})))
                }
                "DELETE" => {
                    self.db(name)?; // 404 unless it exists, in memory or as a file
                                    // Under the lock that `db` opens files with: no request can open
                                    // (and so recreate) the file between its removal here and the unlink.
                    let mut dbs = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
                    drop(dbs.remove(name));
                    if let Some(file) = self.file_of(name).filter(|f| f.exists()) {
                        std::fs::remove_file(file).map_err(|e| ApiError::new(500, "storage_error", e.to_string()))?;
                    }
                    Ok((200, json!({"ok": true})))
                }
                "GET" | "HEAD" => {
                    let db = self.db(name)?;
                    let db = read(&db);
                    Ok((
                        200,
                        json!({"db_name": name, "doc_count": db.doc_count(), "doc_del_count": db.deleted_count(), "update_seq": db.seq.to_string(), "instance_start_time": "0",
                            "props": if db.is_partitioned() { json!({"partitioned": true}) } else { json!({}) }}),
                    ))
                }
                "POST" => {
                    let db = self.db(name)?;
                    let mut doc = parse_body(body)?;
                    check_size([&doc], body.len())?;
                    let mut db = write(&db);
                    if db.is_partitioned() {
                        // CouchDB makes the id a UUID, which names no partition.
                        let id = doc.get("_id").and_then(Value::as_str).unwrap_or("");
                        db.check_partitioned_id(id)?;
                    }
                    if name == "_users" {
                        hash_password(&mut doc);
                    }
                    let results = db.bulk(&[doc]);
                    let r = &results[0];
                    match r.get("error").and_then(Value::as_str) {
                        Some("conflict") => Err(ApiError::conflict()),
                        Some(e) => Err(ApiError::new(400, e, r["reason"].as_str().unwrap_or(""))),
                        None => Ok((201, r.clone())),
                    }
                }
                _ => Err(ApiError::new(405, "method_not_allowed", "Only DELETE,GET,HEAD,POST,PUT allowed")),
            };
        }
        let db = self.db(name)?;
        let db_admin = self.admit(who, &db, name, method, rest, body)?;
        if rest == ["_changes"] {
            return self.changes(&db, q, &parse_body(body)?);
        }
        if let ["_partition", partition, within @ ..] = rest {
            return Self::partition_request(&db, method, name, partition, within, q, body);
        }
        // Reads share the database; `_find` takes it only while it gathers documents.
        if let ("POST", ["_find"]) = (method, rest) {
            return Ok((200, find::find(&db, &parse_body(body)?)?));
        }
        if let Some(reply) = Self::db_read(&read(&db), method, name, rest, q, body) {
            return reply;
        }
        let mut db = write(&db);
        let reply = Self::db_request(&mut db, db_admin, method, name, rest, q, head, body);
        // Whatever the request wrote reaches the file before it is answered.
        db.flush()?;
        drop(db);
        self.written.bump();
        reply
    }

    /// `/db/_partition/{p}/…` of a partitioned database (CouchDB 3): the partition's
    /// counts, and `_all_docs`, `_find`, `_explain` and views confined to its
    /// documents (`_find` reads partitioned indexes only, as CouchDB's does).
    fn partition_request(
        db: &RwLock<Db>,
        method: &str,
        name: &str,
        partition: &str,
        rest: &[&str],
        q: &HashMap<String, String>,
        body: &[u8],
    ) -> Reply {
        if !read(db).is_partitioned() {
            return Err(ApiError::bad_request("database is not partitioned"));
        }
        if let Some(reason) = couch_semantics::ids::partition_error(partition) {
            return Err(ApiError::new(400, "illegal_partition", reason));
        }
        let prefix = format!("{partition}:");
        let in_partition = |mut req: Value| {
            if let Some(sel) = req.get_mut("selector") {
                let own = json!({"_id": {"$beginsWith": prefix}});
                *sel = json!({"$and": [sel.take(), own]});
            }
            req["partition"] = json!(partition);
            req
        };
        match (method, rest) {
            ("GET", []) => {
                let db = read(db);
                let (mut live, mut deleted) = (0u64, 0u64);
                for (_, doc) in db.docs.range(prefix.clone()..format!("{partition};")) {
                    if doc.deleted {
                        deleted += 1;
                    } else {
                        live += 1;
                    }
                }
                Ok((
                    200,
                    json!({"db_name": name, "sizes": {"active": 0, "external": 0}, "partition": partition,
                           "doc_count": live, "doc_del_count": deleted}),
                ))
            }
            ("POST", ["_find"]) => Ok((200, find::find(db, &in_partition(parse_body(body)?))?)),
            ("POST", ["_explain"]) => Ok((200, find::explain(&read(db), name, &in_partition(parse_body(body)?))?)),
            ("GET" | "POST", ["_all_docs"]) => {
                let mut q = q.clone();
                q.remove("startkey");
                q.remove("endkey");
                q.insert("start_key".into(), json!(prefix).to_string());
                q.insert("end_key".into(), json!(format!("{partition};")).to_string());
                q.insert("inclusive_end".into(), "false".into());
                Ok((200, all_docs(&read(db), false, &q, &parse_body(body)?)?))
            }
            ("GET" | "POST", ["_design", ddoc, "_view", view]) => {
                let params = view_params(q, body)?;
                Ok((200, views::query(&read(db), &format!("_design/{ddoc}"), view, &params, Some(partition))?))
            }
            (_, []) => Err(ApiError::new(405, "method_not_allowed", "Only GET,HEAD allowed")),
            _ => Err(ApiError::not_found("missing")),
        }
    }

    /// `_changes`: `normal`, or `longpoll` (waits up to `timeout` ms for a change).
    /// Filters: `_selector` (`{"selector": …}` in the body) and `_doc_ids`.
    fn changes(&self, db: &RwLock<Db>, q: &HashMap<String, String>, body: &Value) -> Reply {
        if let Some(h) = q.get("heartbeat").filter(|h| *h != "true") {
            if !h.parse::<u64>().is_ok_and(|ms| ms > 0) {
                return Err(ApiError::bad_request(
                    "The heartbeat value should be a positive integer (in milliseconds).",
                ));
            }
        }
        let feeds = ["normal", "continuous", "live", "longpoll", "eventsource"];
        if q.get("feed").is_some_and(|f| !feeds.contains(&f.as_str())) {
            return Err(ApiError::bad_request(
                "Supported `feed` types: normal, continuous, live, longpoll, eventsource",
            ));
        }
        let include_docs = q.get("include_docs").is_some_and(|v| v == "true");
        let all_leaves = q.get("style").is_some_and(|v| v == "all_docs");
        let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
        let since = match q.get("since").map(String::as_str) {
            None | Some("0") => 0,
            Some("now") => read(db).seq,
            Some(s) => s
                .split('-')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("Malformed sequence supplied in 'since' parameter."))?,
        };
        let selector = match q.get("filter").map(String::as_str) {
            Some("_selector") => {
                let sel = body
                    .get("selector")
                    .cloned()
                    .ok_or_else(|| ApiError::bad_request("Selector must be specified in POST payload"))?;
                mango::validate(&sel)?;
                Some(sel)
            }
            _ => None,
        };
        let doc_ids: Option<Vec<String>> = match q.get("filter").map(String::as_str) {
            Some("_doc_ids") => {
                let ids = body
                    .get("doc_ids")
                    .cloned()
                    .or_else(|| q.get("doc_ids").and_then(|v| serde_json::from_str(v).ok()));
                Some(ids.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
            }
            Some("_selector") | None => None,
            Some(other) => {
                return Err(ApiError::not_found(&format!("filter {other} is not supported by the embedded engine")))
            }
        };
        let keep = |id: &str, doc: &Value| {
            selector.as_ref().is_none_or(|s| mango::matches(s, doc))
                && doc_ids.as_ref().is_none_or(|ids| ids.iter().any(|i| i == id))
        };
        let longpoll = q.get("feed").is_some_and(|f| f == "longpoll");
        let ms = |k: &str| q.get(k).and_then(|t| t.parse::<u64>().ok());
        // CouchDB keeps a feed with a `heartbeat` open, sending newlines; an answer
        // here is whole, so the wait ends at the heartbeat, with no results.
        let timeout = std::time::Duration::from_millis(match (ms("timeout"), ms("heartbeat")) {
            (t, Some(h)) => t.unwrap_or(h).min(h),
            (t, None) => t.unwrap_or(60_000),
        });
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let seen = self.written.count();
            let (results, last, pending) = read(db).changes_since(since, limit, (include_docs, all_leaves), keep);
            let now = std::time::Instant::now();
            if !results.is_empty() || !longpoll || now >= deadline {
                return Ok((200, json!({"results": results, "last_seq": last.to_string(), "pending": pending})));
            }
            // Wait for a write (to any database), then look again.
            self.written.wait(seen, deadline);
        }
    }

    /// A request that only reads, answered under the database's read lock; `None`
    /// for one that writes.
    fn db_read(
        db: &Db,
        method: &str,
        name: &str,
        rest: &[&str],
        q: &HashMap<String, String>,
        body: &[u8],
    ) -> Option<Reply> {
        let reply = match (method, rest) {
            ("GET" | "POST", ["_all_docs"]) => (|| Ok((200, all_docs(db, false, q, &parse_body(body)?)?)))(),
            ("GET" | "POST", ["_local_docs"]) => (|| Ok((200, all_docs(db, true, q, &parse_body(body)?)?)))(),
            ("POST", ["_explain"]) => (|| Ok((200, find::explain(db, name, &parse_body(body)?)?)))(),
            ("GET", ["_index"]) => Ok((200, find::list_indexes(db))),
            ("GET" | "HEAD", ["_security"]) => Ok((200, db.security())),
            ("GET", ["_revs_limit"]) => Ok((200, json!(db.revs_limit()))),
            (_, ["_revs_limit"]) if method != "PUT" => {
                Err(ApiError::new(405, "method_not_allowed", "Only PUT,GET allowed"))
            }
            ("GET" | "POST", ["_design", ddoc, "_view", view]) => {
                (|| Ok((200, views::query(db, &format!("_design/{ddoc}"), view, &view_params(q, body)?, None)?)))()
            }
            ("POST", ["_revs_diff"]) => (|| Ok((200, revisions::revs_diff(db, &parse_body(body)?)?)))(),
            ("POST", ["_bulk_get"]) => (|| Ok((200, revisions::bulk_get(db, q, &parse_body(body)?)?)))(),
            ("GET" | "HEAD", ["_design", ddoc]) => get_doc(db, &format!("_design/{ddoc}"), q),
            ("GET" | "HEAD", ["_local", id]) => get_doc(db, &format!("_local/{id}"), q),
            ("GET" | "HEAD", [id]) if !id.starts_with('_') => get_doc(db, id, q),
            ("GET" | "HEAD", _) => Err(ApiError::not_found("missing")),
            _ => return None,
        };
        Some(reply)
    }

    #[allow(clippy::too_many_arguments)]
    fn db_request(
        db: &mut Db,
        db_admin: bool,
        method: &str,
        name: &str,
        rest: &[&str],
        q: &HashMap<String, String>,
        head: Head<'_>,
        body: &[u8],
    ) -> Reply {
        match (method, rest) {
            ("POST", ["_bulk_docs"]) => {
                let req = parse_body(body)?;
                let docs = req
                    .get("docs")
                    .and_then(Value::as_array)
                    .ok_or_else(|| ApiError::bad_request("POST body must include `docs` parameter."))?;
                // One document too large, or one CouchDB would not accept (an id or a
                // special member), refuses the whole request, as CouchDB does.
                check_size(docs, body.len())?;
                let new_edits = req.get("new_edits") != Some(&Value::Bool(false));
                for m in docs.iter().filter_map(Value::as_object) {
                    if let Some(Value::String(id)) = m.get("_id") {
                        store::check_id(id)?;
                        db.check_partitioned_id(id)?;
                    } else {
                        db.check_partitioned_id("")?;
                    }
                    store::check_members(m)?;
                    if !new_edits {
                        store::replicated_rev(m)?;
                    }
                }
                if !new_edits {
                    // A replicator's revisions, as given; design documents are the admins'.
                    let (designs, others): (Vec<Value>, Vec<Value>) = docs.iter().cloned().partition(|d| {
                        d.get("_id").and_then(Value::as_str).is_some_and(|id| id.starts_with("_design/"))
                    });
                    let mut failed = db.bulk_replicated(&others);
                    if db_admin {
                        failed.extend(db.bulk_replicated(&designs));
                    } else {
                        failed.extend(designs.iter().map(|d| {
                            json!({"id": d["_id"], "rev": d["_rev"], "error": "forbidden", "reason": auth::NOT_DB_ADMIN})
                        }));
                    }
                    return Ok((201, Value::Array(failed)));
                }
                if name == "_users" {
                    let mut docs = docs.clone();
                    docs.iter_mut().for_each(hash_password);
                    return Ok((201, Value::Array(db.bulk(&docs))));
                }
                if !db_admin {
                    // Design documents are the database admins'; the others are written.
                    let results = docs.iter().map(|d| match d.get("_id").and_then(Value::as_str) {
                        Some(id) if id.starts_with("_design/") => {
                            json!({"id": id, "error": "forbidden", "reason": auth::NOT_DB_ADMIN})
                        }
                        _ => db.bulk(std::slice::from_ref(d)).remove(0),
                    });
                    return Ok((201, Value::Array(results.collect())));
                }
                Ok((201, Value::Array(db.bulk(docs))))
            }
            // Every write reaches the file before it is answered: nothing is left to commit.
            ("POST", ["_ensure_full_commit"]) => Ok((201, json!({"ok": true, "instance_start_time": "0"}))),
            ("POST", ["_compact"]) => {
                db.compact()?;
                Ok((202, json!({"ok": true})))
            }
            // CouchDB answers a limit that is not a positive integer with a 500; this is a 400.
            ("PUT", ["_revs_limit"]) => match parse_body(body)?.as_u64().filter(|n| *n > 0) {
                Some(n) => {
                    db.set_revs_limit(n)?;
                    Ok((200, json!({"ok": true})))
                }
                None => Err(ApiError::bad_request("`_revs_limit` must be a positive integer")),
            },
            ("PUT", ["_security"]) => match parse_body(body)? {
                sec @ Value::Object(_) => {
                    db.set_security(sec)?;
                    Ok((200, json!({"ok": true})))
                }
                _ => Err(ApiError::bad_request("Security object must be a JSON object")),
            },
            ("POST", ["_index"]) => Ok((200, find::create_index(db, &parse_body(body)?)?)),
            ("DELETE", ["_index", ddoc, "json", index]) => Ok((200, find::delete_index(db, ddoc, index)?)),
            ("DELETE", ["_index", "_design", ddoc, "json", index]) => Ok((200, find::delete_index(db, ddoc, index)?)),
            (_, ["_design", ddoc]) => doc_route(db, method, &format!("_design/{ddoc}"), q, head, body),
            ("PUT" | "DELETE", ["_design", ddoc, first, more @ ..]) if !first.starts_with('_') => {
                let att = attachment_name(first, more);
                write_attachment(db, method, &format!("_design/{ddoc}"), &att, q, head, body)
            }
            ("PUT", [id]) if name == "_users" => {
                // The password is kept only salted and hashed, as CouchDB does.
                let mut doc = parse_body(body)?;
                check_size([&doc], body.len())?;
                hash_password(&mut doc);
                let Value::Object(doc) = doc else {
                    return Err(ApiError::bad_request("Document must be a JSON object"));
                };
                let rev = db.write(id, doc)?;
                Ok((201, json!({"ok": true, "id": id, "rev": rev})))
            }
            (_, ["_local", id]) => doc_route(db, method, &format!("_local/{id}"), q, head, body),
            ("PUT", [id]) if !id.starts_with('_') => {
                db.check_partitioned_id(id)?;
                doc_route(db, method, id, q, head, body)
            }
            (_, [id]) if !id.starts_with('_') => doc_route(db, method, id, q, head, body),
            ("PUT" | "DELETE", [id, first, more @ ..]) if !id.starts_with('_') => {
                let att = attachment_name(first, more);
                write_attachment(db, method, id, &att, q, head, body)
            }
            // A document id with a leading `_` that names no endpoint (CouchDB's answer).
            ("PUT" | "DELETE", [_]) => {
                Err(ApiError::new(400, "illegal_docid", "Only reserved document ids may start with underscore."))
            }
            _ => Err(ApiError::not_found("missing")),
        }
    }
}

/// A view query's parameters: the query string's, and a POST body's members as JSON texts.
fn view_params(q: &HashMap<String, String>, body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let mut params = q.clone();
    if let Some(obj) = parse_body(body)?.as_object() {
        for (k, v) in obj {
            params.insert(k.clone(), v.to_string());
        }
    }
    Ok(params)
}

fn get_doc(db: &Db, id: &str, q: &HashMap<String, String>) -> Reply {
    Ok((200, revisions::get(db, id, q)?))
}

/// An attachment's name from the path segments after the document's id (a name may
/// hold `/`).
fn attachment_name(first: &str, more: &[&str]) -> String {
    std::iter::once(first).chain(more.iter().copied()).collect::<Vec<_>>().join("/")
}

/// `GET /db/id/name`: the attachment's bytes, as its type (of the winner, or `?rev=`).
fn attachment(db: &Db, id: &str, name: &str, q: &HashMap<String, String>) -> Result<Raw, ApiError> {
    let doc = db.docs.get(id).ok_or_else(|| ApiError::not_found("missing"))?;
    let rev = match q.get("rev") {
        Some(r) => couch_semantics::revs::Rev::parse(r).ok_or_else(|| ApiError::bad_request("Invalid rev format"))?,
        None if doc.deleted => return Err(ApiError::not_found("deleted")),
        None => doc.winner.clone(),
    };
    let (body, _) = doc.leaf(&rev).ok_or_else(|| ApiError::not_found("missing"))?;
    let missing = || ApiError::not_found("Document is missing attachment");
    let att = body.get("_attachments").and_then(|a| a.get(name)).ok_or_else(missing)?;
    let bytes = att.get("digest").and_then(Value::as_str).and_then(|d| doc.blobs.get(d)).ok_or_else(missing)?;
    let content_type = att.get("content_type").and_then(Value::as_str).unwrap_or("application/octet-stream");
    Ok(Raw { status: 200, content_type: content_type.to_string(), body: bytes.to_vec() })
}

/// `PUT /db/id/name` (the body is the attachment, typed by `Content-Type`) and
/// `DELETE /db/id/name`: a new revision of the document with the attachment set
/// or gone (`PUT` on a document that does not exist creates it).
fn write_attachment(
    db: &mut Db,
    method: &str,
    id: &str,
    name: &str,
    q: &HashMap<String, String>,
    head: Head<'_>,
    body: &[u8],
) -> Reply {
    let rev = q.get("rev").cloned();
    let current = match (db.docs.get(id), &rev) {
        (Some(d), Some(r)) => {
            let r = couch_semantics::revs::Rev::parse(r).ok_or_else(|| ApiError::bad_request("Invalid rev format"))?;
            let (b, deleted) = d.leaf(&r).ok_or_else(ApiError::conflict)?;
            if deleted {
                serde_json::Map::new()
            } else {
                (**b).clone()
            }
        }
        (Some(d), None) if !d.deleted => return Err(ApiError::conflict()),
        (None, _) if method == "DELETE" => return Err(ApiError::not_found("missing")),
        _ => serde_json::Map::new(),
    };
    let mut doc = current;
    let atts = doc.entry("_attachments").or_insert_with(|| json!({}));
    let atts = atts.as_object_mut().ok_or_else(|| ApiError::bad_request("Attachments must be a JSON object"))?;
    // The others stay: a stored attachment is already its stub.
    let mut follows = std::collections::BTreeMap::new();
    match method {
        "PUT" => {
            let content_type = head.content_type.unwrap_or("application/octet-stream");
            atts.insert(name.to_string(), json!({"content_type": content_type, "follows": true}));
            follows.insert(name.to_string(), body.to_vec());
        }
        _ => {
            if atts.remove(name).is_none() {
                return Err(ApiError::not_found("Document is missing attachment"));
            }
        }
    }
    if let Some(r) = rev {
        doc.insert("_rev".into(), json!(r));
    }
    let rev = db.write_with(id, doc, follows)?;
    Ok((if method == "PUT" { 201 } else { 200 }, json!({"ok": true, "id": id, "rev": rev})))
}

fn doc_route(db: &mut Db, method: &str, id: &str, q: &HashMap<String, String>, head: Head<'_>, body: &[u8]) -> Reply {
    match method {
        "PUT" if head.content_type.is_some_and(|t| t.trim_start().starts_with("multipart/related")) => {
            // A document and its attachments' bytes, as CouchDB's replicator writes them.
            let (doc, follows) = attachments::read_related(body, head.content_type.unwrap_or_default())?;
            let Value::Object(mut doc) = doc else {
                return Err(ApiError::bad_request("Document must be a JSON object"));
            };
            if let Some(rev) = q.get("rev") {
                doc.insert("_rev".into(), json!(rev));
            }
            if q.get("new_edits").is_some_and(|v| v == "false") {
                let (rev, _) = store::replicated_rev(&doc)?;
                db.write_replicated_with(id, doc, follows)?;
                return Ok((201, json!({"ok": true, "id": id, "rev": rev.to_string()})));
            }
            let rev = db.write_with(id, doc, follows)?;
            Ok((201, json!({"ok": true, "id": id, "rev": rev})))
        }
        "PUT" => {
            let doc = parse_body(body)?;
            // CouchDB names no id here (the id is the URL's).
            check_size([&doc], body.len()).map_err(|e| ApiError::new(e.status, &e.error, ""))?;
            let Value::Object(mut doc) = doc else {
                return Err(ApiError::bad_request("Document must be a JSON object"));
            };
            if let Some(rev) = q.get("rev") {
                doc.insert("_rev".into(), json!(rev));
            }
            if id.starts_with("_design/") {
                views::check_design(&doc)?;
            }
            if q.get("new_edits").is_some_and(|v| v == "false") {
                let (rev, _) = store::replicated_rev(&doc)?;
                db.write_replicated(id, doc)?;
                return Ok((201, json!({"ok": true, "id": id, "rev": rev.to_string()})));
            }
            // A document written deleted is answered 200, as a DELETE is (CouchDB).
            let status = if doc.get("_deleted") == Some(&Value::Bool(true)) { 200 } else { 201 };
            let rev = db.write(id, doc)?;
            Ok((status, json!({"ok": true, "id": id, "rev": rev})))
        }
        "DELETE" => {
            // Deleting what never was is 404 (a tombstone is made only by a write that asks).
            if !id.starts_with("_local/") && !db.docs.contains_key(id) {
                return Err(ApiError::not_found("missing"));
            }
            let mut doc = serde_json::Map::new();
            if let Some(rev) = q.get("rev") {
                doc.insert("_rev".into(), json!(rev));
            }
            doc.insert("_deleted".into(), json!(true));
            let rev = db.write(id, doc)?;
            Ok((200, json!({"ok": true, "id": id, "rev": rev})))
        }
        _ => Err(ApiError::new(405, "method_not_allowed", "Only DELETE,GET,HEAD,PUT allowed")),
    }
}

/// The database, shared with other readers (a panic elsewhere leaves no half-write:
/// a write is whole before the lock is let go).
fn read(db: &RwLock<Db>) -> std::sync::RwLockReadGuard<'_, Db> {
    db.read().unwrap_or_else(|e| e.into_inner())
}

/// The database, alone.
fn write(db: &RwLock<Db>) -> std::sync::RwLockWriteGuard<'_, Db> {
    db.write().unwrap_or_else(|e| e.into_inner())
}

/// CouchDB's 400 for a query parameter it cannot read.
fn query_parse_error(reason: String) -> ApiError {
    ApiError::new(400, "query_parse_error", reason)
}

/// A count parameter (`limit`, `skip`): a non-negative integer, as CouchDB reads it.
fn count(q: &HashMap<String, String>, k: &str) -> Result<Option<usize>, ApiError> {
    let Some(v) = q.get(k) else { return Ok(None) };
    match v.parse::<i128>() {
        Ok(n) if n < 0 => Err(query_parse_error(format!("Invalid value for positive integer: {v:?}"))),
        Ok(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        Err(_) => Err(query_parse_error(format!("Invalid value for integer: {v:?}"))),
    }
}

/// `_all_docs`: by `keys`, or a range of ids in raw order.
/// `_all_docs`, or with `local` `_local_docs` (the `_local/` documents, which CouchDB
/// lists without `total_rows` and `offset`).
fn all_docs(db: &Db, local: bool, q: &HashMap<String, String>, body: &Value) -> Result<Value, ApiError> {
    let docs = if local { &db.locals } else { &db.docs };
    let json_param =
        |k: &str| -> Result<Option<Value>, ApiError> { q.get(k).map(|v| json::parse(v.as_bytes())).transpose() };
    let flag = |k: &str| -> Result<bool, ApiError> {
        match q.get(k).map(String::as_str) {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(query_parse_error(format!("Invalid boolean parameter: {:?}", other))),
            None => Ok(body.get(k) == Some(&Value::Bool(true))),
        }
    };
    let include_docs = flag("include_docs")?;
    let descending = flag("descending")?;
    let inclusive_end = flag("inclusive_end").map(|f| f || !q.contains_key("inclusive_end"))?;
    let keys = body.get("keys").or(None).cloned().or(json_param("keys")?);
    let limit = count(q, "limit")?.unwrap_or(usize::MAX);
    let skip = count(q, "skip")?.unwrap_or(0);
    // `key=k` is the range from k to k.
    let key = json_param("key")?;
    let extras = revisions::Extras { conflicts: flag("conflicts")?, ..Default::default() };
    let row = |id: &str, d: &store::Doc| {
        let mut r = json!({"id": id, "key": id, "value": {"rev": d.rev()}});
        if include_docs {
            r["doc"] = d.to_json(id);
            if let Some(m) = r["doc"].as_object_mut() {
                revisions::annotate(m, d, &d.winner, &extras);
            }
        }
        r
    };
    let mut rows = Vec::new();
    let mut offset = Value::Null; // CouchDB's for `keys`
    if let Some(keys) = keys {
        for k in keys.as_array().into_iter().flatten().skip(skip).take(limit) {
            let Some(id) = k.as_str() else { continue };
            match docs.get(id) {
                Some(d) if d.deleted => {
                    let mut r = json!({"id": id, "key": id, "value": {"rev": d.rev(), "deleted": true}});
                    if include_docs {
                        r["doc"] = Value::Null;
                    }
                    rows.push(r)
                }
                Some(d) => rows.push(row(id, d)),
                None => rows.push(json!({"key": id, "error": "not_found"})),
            }
        }
    } else {
        let start = match &key {
            Some(k) => Some(k.clone()),
            None => json_param("startkey")?.or(json_param("start_key")?),
        }
        .and_then(|v| v.as_str().map(str::to_owned));
        let end = match &key {
            Some(k) => Some(k.clone()),
            None => json_param("endkey")?.or(json_param("end_key")?),
        }
        .and_then(|v| v.as_str().map(str::to_owned));
        let inclusive_end = inclusive_end || key.is_some();
        let live = docs.iter().filter(|(_, d)| !d.deleted);
        let in_range = |id: &str| {
            let (lo, hi) =
                if descending { (end.as_deref(), start.as_deref()) } else { (start.as_deref(), end.as_deref()) };
            lo.is_none_or(|s| id >= s)
                && hi.is_none_or(|e| {
                    if inclusive_end || descending && Some(e) == start.as_deref() {
                        id <= e
                    } else {
                        id < e
                    }
                })
        };
        let ids: Vec<(&String, &store::Doc)> = if descending {
            live.rev().filter(|(id, _)| in_range(id)).collect()
        } else {
            live.filter(|(id, _)| in_range(id)).collect()
        };
        // The position of the first row in the whole index, in the direction read.
        // Only the ids before the start are read.
        let before = match start.as_deref() {
            Some(s) if descending => {
                docs.range::<str, _>((Bound::Excluded(s), Bound::Unbounded)).filter(|(_, d)| !d.deleted).count()
            }
            Some(s) => docs.range::<str, _>((Bound::Unbounded, Bound::Excluded(s))).filter(|(_, d)| !d.deleted).count(),
            None => 0,
        };
        offset = json!((before + skip).min(db.doc_count()));
        rows = ids.into_iter().skip(skip).take(limit).map(|(id, d)| row(id, d)).collect();
    }
    let total = if local { Value::Null } else { json!(db.doc_count()) };
    if local {
        offset = Value::Null;
    }
    let mut out = json!({"total_rows": total, "offset": offset, "rows": rows});
    if flag("update_seq")? {
        out["update_seq"] = json!(db.seq.to_string());
    }
    Ok(out)
}
