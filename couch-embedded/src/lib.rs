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

mod collate;
mod find;
pub mod mango;
mod password;
pub use find::Projection;
mod store;
mod views;

#[cfg(feature = "http")]
pub mod serve;

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
pub use store::ApiError;
use store::Db;

/// The version this engine answers as, and follows.
pub const COUCHDB_VERSION: &str = "3.4.3";
/// The vendor name in `GET /`, by which clients tell the engine from CouchDB.
pub const VENDOR: &str = "couch-sql embedded";

/// Databases, in memory.
#[derive(Clone)]
pub struct Engine {
    dbs: Arc<Mutex<BTreeMap<String, Arc<Mutex<Db>>>>>,
    /// Session cookies: token → (user name, expiry).
    sessions: Arc<Mutex<HashMap<String, (String, std::time::Instant)>>>,
    /// Where persistent databases live (`<dir>/<name>.redb`); `None`: in memory.
    dir: Option<std::path::PathBuf>,
    /// Bumped and notified on every write: what a `longpoll` changes feed waits on.
    written: Arc<(Mutex<u64>, std::sync::Condvar)>,
}

impl Default for Engine {
    fn default() -> Self {
        let mut dbs = BTreeMap::new();
        // CouchDB's users database, so clients can make users and log in.
        dbs.insert("_users".to_string(), Arc::default());
        Engine { dbs: Arc::new(Mutex::new(dbs)), sessions: Arc::default(), dir: None, written: Arc::default() }
    }
}

/// How long a session cookie lives (CouchDB's `[chttpd_auth] timeout` default).
const SESSION_SECONDS: u64 = 600;

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
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|_| ApiError::new(400, "bad_request", "invalid UTF-8 JSON"))
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
        Ok(Engine { dir: Some(dir), ..Engine::default() })
    }

    /// The names of the databases: those open, and those on disk.
    fn all_dbs(&self) -> Vec<String> {
        let mut names: Vec<String> = self.dbs.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        if let Some(entries) = self.dir.as_ref().and_then(|d| std::fs::read_dir(d).ok()) {
            for entry in entries.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if let Some(name) = file.strip_suffix(".redb") {
                    let name = name.replace("%2F", "/");
                    if valid_db_name(&name) && !names.contains(&name) {
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

    fn db(&self, name: &str) -> Result<Arc<Mutex<Db>>, ApiError> {
        let mut dbs = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = dbs.get(name) {
            return Ok(db.clone());
        }
        // Only a valid name has a file: `a%2Fb` (a `%` is no database name) must not
        // open `a/b`, whose file it would name.
        if !valid_db_name(name) {
            return Err(ApiError::not_found("Database does not exist."));
        }
        match self.file_of(name).filter(|f| f.exists()) {
            Some(file) => {
                let db = Arc::new(Mutex::new(Db::open(&file)?));
                dbs.insert(name.to_string(), db.clone());
                Ok(db)
            }
            None => Err(ApiError::not_found("Database does not exist.")),
        }
    }

    /// Answers one request as CouchDB would: `(status, JSON body)`, as the admin.
    /// `target` is the path with its query string (`/shop/_find`, `/shop/_all_docs?limit=2`).
    pub fn handle(&self, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let r = self.handle_http(method, target, None, None, body);
        (r.status, r.body)
    }

    /// Answers one HTTP request, with its `Authorization` and `Cookie` headers.
    /// Without credentials a client is the admin (an admin party, as pouchdb-server);
    /// credentials given must be a user's of `_users` (or a live session's cookie).
    pub fn handle_http(
        &self,
        method: &str,
        target: &str,
        authorization: Option<&str>,
        cookie: Option<&str>,
        body: &[u8],
    ) -> HttpReply {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let segments: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(decode).collect();
        let mut headers = Vec::new();
        let result = match self.authenticate(authorization, cookie) {
            Err(e) => Err(e),
            Ok(()) if method == "POST" && segments == ["_session"] => self.login(body).map(|(cookie, value)| {
                headers.push(("set-cookie".to_string(), format!("AuthSession={cookie}; Version=1; Path=/; HttpOnly")));
                (200, value)
            }),
            Ok(()) => self.route(method, &segments, &query_params(query), body),
        };
        let (status, value) = match result {
            Ok(r) => r,
            Err(e) => (e.status, e.body()),
        };
        let body = if method == "HEAD" { Vec::new() } else { serde_json::to_vec(&value).unwrap_or_default() };
        HttpReply { status, headers, body }
    }

    fn unauthorized() -> ApiError {
        ApiError::new(401, "unauthorized", "Name or password is incorrect.")
    }

    /// Whether `name` has `password` in `_users`.
    fn check_password(&self, name: &str, password: &str) -> bool {
        let Ok(users) = self.db("_users") else { return false };
        let users = users.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(doc) = users.get(&format!("org.couchdb.user:{name}")) else { return false };
        password::verify(&doc.body, password)
    }

    fn authenticate(&self, authorization: Option<&str>, cookie: Option<&str>) -> Result<(), ApiError> {
        if let Some(basic) = authorization.and_then(|a| a.strip_prefix("Basic ")) {
            let decoded = base64_decode(basic.trim()).ok_or_else(Self::unauthorized)?;
            let (name, password) = decoded.split_once(':').ok_or_else(Self::unauthorized)?;
            return if self.check_password(name, password) { Ok(()) } else { Err(Self::unauthorized()) };
        }
        let token = cookie.and_then(|c| c.split(';').map(str::trim).find_map(|p| p.strip_prefix("AuthSession=")));
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            return match sessions.get(token) {
                Some((_, until)) if *until > std::time::Instant::now() => Ok(()),
                _ => Err(ApiError::new(401, "unauthorized", "Your session has expired.")),
            };
        }
        Ok(())
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
        if !self.check_password(name, password) {
            return Err(Self::unauthorized());
        }
        // 128 random bits from the operating system: a token cannot be guessed.
        let token = password::random_hex(16);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(SESSION_SECONDS);
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(token.clone(), (name.to_string(), until));
        Ok((token, json!({"ok": true, "name": name, "roles": []})))
    }

    fn route(&self, method: &str, seg: &[String], q: &HashMap<String, String>, body: &[u8]) -> Reply {
        let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
        match (method, seg.as_slice()) {
            ("GET", []) => Ok((
                200,
                json!({"couchdb": "Welcome", "version": COUCHDB_VERSION, "vendor": {"name": VENDOR}, "features": []}),
            )),
            ("GET", ["_up"]) => Ok((200, json!({"status": "ok"}))),
            ("GET", ["_all_dbs"]) => Ok((200, json!(self.all_dbs()))),
            ("GET" | "POST", ["_session"]) => {
                Ok((200, json!({"ok": true, "userCtx": {"name": null, "roles": ["_admin"]}})))
            }
            (_, [name, rest @ ..]) if !name.starts_with('_') || *name == "_users" => {
                self.db_route(method, name, rest, q, body)
            }
            _ => Err(ApiError::new(400, "illegal_database_name", "Name must begin with a letter.")),
        }
    }

    fn db_route(&self, method: &str, name: &str, rest: &[&str], q: &HashMap<String, String>, body: &[u8]) -> Reply {
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
                    if !valid_db_name(name) {
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
                    let db = match self.file_of(name) {
                        Some(file) => {
                            if let Some(dir) = file.parent() {
                                std::fs::create_dir_all(dir)
                                    .map_err(|e| ApiError::new(500, "storage_error", e.to_string()))?;
                            }
                            Db::open(&file)?
                        }
                        None => Db::default(),
                    };
                    dbs.insert(name.to_string(), Arc::new(Mutex::new(db)));
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
                    let db = db.lock().unwrap_or_else(|e| e.into_inner());
                    Ok((
                        200,
                        json!({"db_name": name, "doc_count": db.doc_count(), "update_seq": db.seq.to_string(), "instance_start_time": "0"}),
                    ))
                }
                "POST" => {
                    let db = self.db(name)?;
                    let mut db = db.lock().unwrap_or_else(|e| e.into_inner());
                    let mut doc = parse_body(body)?;
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
        if rest == ["_changes"] {
            return self.changes(&db, q, &parse_body(body)?);
        }
        let mut db = db.lock().unwrap_or_else(|e| e.into_inner());
        let reply = Self::db_request(&mut db, method, name, rest, q, body);
        // Whatever the request wrote reaches the file before it is answered.
        db.flush()?;
        if !matches!(method, "GET" | "HEAD") {
            let (count, cv) = &*self.written;
            *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            cv.notify_all();
        }
        reply
    }

    /// `_changes`: `normal`, or `longpoll` (waits up to `timeout` ms for a change).
    /// Filters: `_selector` (`{"selector": …}` in the body) and `_doc_ids`.
    fn changes(&self, db: &Mutex<Db>, q: &HashMap<String, String>, body: &Value) -> Reply {
        if let Some(h) = q.get("heartbeat").filter(|h| *h != "true") {
            if !h.parse::<u64>().is_ok_and(|ms| ms > 0) {
                return Err(ApiError::bad_request(
                    "The heartbeat value should be a positive integer (in milliseconds).",
                ));
            }
        }
        let include_docs = q.get("include_docs").is_some_and(|v| v == "true");
        let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
        let since = match q.get("since").map(String::as_str) {
            None | Some("0") => 0,
            Some("now") => db.lock().unwrap_or_else(|e| e.into_inner()).seq,
            Some(s) => s
                .split('-')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("Malformed since"))?,
        };
        let selector = match q.get("filter").map(String::as_str) {
            Some("_selector") => {
                let sel = body
                    .get("selector")
                    .cloned()
                    .ok_or_else(|| ApiError::bad_request("Selector must be specified in POST payload"))?;
                mango::validate(&sel).map_err(|e| ApiError::new(400, "invalid_operator", e.0))?;
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
            let seen = *self.written.0.lock().unwrap_or_else(|e| e.into_inner());
            let (results, last, pending) =
                db.lock().unwrap_or_else(|e| e.into_inner()).changes_since(since, limit, include_docs, keep);
            let now = std::time::Instant::now();
            if !results.is_empty() || !longpoll || now >= deadline {
                return Ok((200, json!({"results": results, "last_seq": last.to_string(), "pending": pending})));
            }
            // Wait for a write (to any database), then look again.
            let (count, cv) = &*self.written;
            let guard = count.lock().unwrap_or_else(|e| e.into_inner());
            if *guard == seen {
                let _ = cv.wait_timeout(guard, deadline - now);
            }
        }
    }

    fn db_request(
        db: &mut Db,
        method: &str,
        name: &str,
        rest: &[&str],
        q: &HashMap<String, String>,
        body: &[u8],
    ) -> Reply {
        match (method, rest) {
            ("POST", ["_bulk_docs"]) => {
                let req = parse_body(body)?;
                let docs = req
                    .get("docs")
                    .and_then(Value::as_array)
                    .ok_or_else(|| ApiError::bad_request("POST body must include `docs` parameter."))?;
                if name == "_users" {
                    let mut docs = docs.clone();
                    docs.iter_mut().for_each(hash_password);
                    return Ok((201, Value::Array(db.bulk(&docs))));
                }
                Ok((201, Value::Array(db.bulk(docs))))
            }
            ("GET" | "POST", ["_all_docs"]) => Ok((200, all_docs(db, q, &parse_body(body)?)?)),
            ("POST", ["_find"]) => Ok((200, find::find(db, &parse_body(body)?)?)),
            ("POST", ["_explain"]) => Ok((200, find::explain(db, name, &parse_body(body)?)?)),
            ("GET", ["_index"]) => Ok((200, find::list_indexes(db))),
            ("POST", ["_index"]) => Ok((200, find::create_index(db, &parse_body(body)?)?)),
            ("DELETE", ["_index", ddoc, "json", index]) => Ok((200, find::delete_index(db, ddoc, index)?)),
            ("DELETE", ["_index", "_design", ddoc, "json", index]) => Ok((200, find::delete_index(db, ddoc, index)?)),
            ("GET" | "POST", ["_design", ddoc, "_view", view]) => {
                let mut params = q.clone();
                if let Some(obj) = parse_body(body)?.as_object() {
                    for (k, v) in obj {
                        params.insert(k.clone(), v.to_string());
                    }
                }
                Ok((200, views::query(db, &format!("_design/{ddoc}"), view, &params)?))
            }
            (_, ["_design", ddoc]) => doc_route(db, method, &format!("_design/{ddoc}"), q, body),
            ("PUT", [id]) if name == "_users" => {
                // The password is kept only salted and hashed, as CouchDB does.
                let mut doc = parse_body(body)?;
                hash_password(&mut doc);
                let Value::Object(doc) = doc else {
                    return Err(ApiError::bad_request("Document must be a JSON object"));
                };
                let rev = db.write(id, doc)?;
                Ok((201, json!({"ok": true, "id": id, "rev": rev})))
            }
            (_, ["_local", id]) => doc_route(db, method, &format!("_local/{id}"), q, body),
            (_, [id]) if !id.starts_with('_') => doc_route(db, method, id, q, body),
            // A document id with a leading `_` that names no endpoint (CouchDB's answer).
            ("PUT" | "DELETE", [_]) => {
                Err(ApiError::new(400, "illegal_docid", "Only reserved document ids may start with underscore."))
            }
            _ => Err(ApiError::not_found("missing")),
        }
    }
}

/// Standard base64 (RFC 4648), as in `Authorization: Basic …`.
fn base64_decode(s: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    String::from_utf8(out).ok()
}

fn doc_route(db: &mut Db, method: &str, id: &str, q: &HashMap<String, String>, body: &[u8]) -> Reply {
    match method {
        "GET" | "HEAD" => Ok((200, db.get(id)?.to_json(id))),
        "PUT" => {
            let Value::Object(mut doc) = parse_body(body)? else {
                return Err(ApiError::bad_request("Document must be a JSON object"));
            };
            if let Some(rev) = q.get("rev") {
                doc.insert("_rev".into(), json!(rev));
            }
            if id.starts_with("_design/") {
                views::check_design(&doc)?;
            }
            let rev = db.write(id, doc)?;
            Ok((201, json!({"ok": true, "id": id, "rev": rev})))
        }
        "DELETE" => {
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

/// `_all_docs`: by `keys`, or a range of ids in raw order.
fn all_docs(db: &Db, q: &HashMap<String, String>, body: &Value) -> Result<Value, ApiError> {
    let json_param = |k: &str| -> Result<Option<Value>, ApiError> {
        q.get(k)
            .map(|v| serde_json::from_str(v).map_err(|_| ApiError::bad_request(format!("Invalid value for {k}"))))
            .transpose()
    };
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true") || body.get(k) == Some(&Value::Bool(true));
    let include_docs = flag("include_docs");
    let descending = flag("descending");
    let keys = body.get("keys").or(None).cloned().or(json_param("keys")?);
    let row = |id: &str, d: &store::Doc| {
        let mut r = json!({"id": id, "key": id, "value": {"rev": d.rev()}});
        if include_docs {
            r["doc"] = d.to_json(id);
        }
        r
    };
    let mut rows = Vec::new();
    if let Some(keys) = keys {
        for k in keys.as_array().into_iter().flatten() {
            let Some(id) = k.as_str() else { continue };
            match db.docs.get(id) {
                Some(d) if d.deleted => {
                    rows.push(json!({"id": id, "key": id, "value": {"rev": d.rev(), "deleted": true}, "doc": null}))
                }
                Some(d) => rows.push(row(id, d)),
                None => rows.push(json!({"key": id, "error": "not_found"})),
            }
        }
    } else {
        let start = json_param("startkey")?.or(json_param("start_key")?).and_then(|v| v.as_str().map(str::to_owned));
        let end = json_param("endkey")?.or(json_param("end_key")?).and_then(|v| v.as_str().map(str::to_owned));
        let inclusive_end = q.get("inclusive_end").is_none_or(|v| v != "false");
        let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
        let skip = q.get("skip").and_then(|l| l.parse::<usize>().ok()).unwrap_or(0);
        let live = db.docs.iter().filter(|(_, d)| !d.deleted);
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
        rows = ids.into_iter().skip(skip).take(limit).map(|(id, d)| row(id, d)).collect();
    }
    Ok(json!({"total_rows": db.doc_count(), "offset": 0, "rows": rows}))
}
