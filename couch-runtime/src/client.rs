//! The connection to one CouchDB database: its name, credentials, retries and
//! the server's profile, over one [`Transport`].

use crate::error::{Error, Result};
use crate::indexes::{IndexChoice, IndexPolicy};
use crate::profile::{ServerInfo, ServerProfile};
use crate::retry::RetryPolicy;
use crate::transport::{Credential, Credentials, Request, Transport};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument;

/// Characters kept as they are in a path segment; everything else is percent-encoded
/// (`/` in a document id must become `%2F`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// How many documents one `_find` page of a stream asks for, unless configured.
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// How long UPDATE/DELETE keep retrying a document that keeps conflicting, unless configured.
pub const DEFAULT_WRITE_RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);
/// How many documents one `_bulk_docs` request carries, unless configured.
pub const DEFAULT_WRITE_BATCH: usize = 1000;

/// A CouchDB database, reached over HTTP (or, with the `embedded` feature, in
/// process: `mem://`, `file://`).
///
/// Cheap to clone: clones share one transport (for HTTP, a pooled client with
/// keep-alive connections) and one cache of the indexes already ensured.
///
/// ```no_run
/// # async fn demo() -> couch_runtime::Result<()> {
/// let db = couch_runtime::Database::connect("http://admin:secret@127.0.0.1:5984/shop").await?;
/// db.create_if_missing().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Database {
    pub(crate) shared: Arc<Shared>,
    pub(crate) name: Arc<str>,
    /// Rows per `_find` page when set with [`Database::with_page_size`].
    pub(crate) page_size: Option<usize>,
    pub(crate) write_batch: usize,
    pub(crate) write_attempts: u32,
    pub(crate) write_budget: std::time::Duration,
    pub(crate) index_policy: IndexPolicy,
    /// A silence this long while an answer is read is a dropped connection
    /// (a live query's heartbeat timeout); `None` waits as long as the request timeout.
    pub(crate) idle_limit: Option<std::time::Duration>,
    /// CouchDB's `r` and `w` for this handle's reads and writes (the server's default when `None`).
    pub(crate) quorum: Quorum,
}

/// The read and write quorums a handle asks a CouchDB cluster for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Quorum {
    pub(crate) read: Option<u32>,
    pub(crate) write: Option<u32>,
}

pub(crate) struct Shared {
    pub(crate) transport: Box<dyn Transport>,
    pub(crate) auth: Auth,
    pub(crate) retry: RetryPolicy,
    /// The index each query shape reads through: "db\u{0}key".
    pub(crate) chosen: Mutex<std::collections::HashMap<String, IndexChoice>>,
    /// One lock per query shape, held while its index is chosen (and maybe created):
    /// concurrent first queries send one `POST /_index`, not one each.
    pub(crate) choosing: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// HTTP requests sent (every attempt counts).
    pub(crate) requests: std::sync::atomic::AtomicU64,
    /// What the server is and how couch-sql talks to it, learned once (`GET /`).
    pub(crate) profile: std::sync::OnceLock<ServerProfile>,
    /// Per database name: whether it is partitioned, learned once (`GET /db`).
    pub(crate) partitioned: Mutex<std::collections::HashMap<String, bool>>,
}

impl Shared {
    pub(crate) fn new(transport: Box<dyn Transport>, auth: Auth, retry: RetryPolicy) -> Shared {
        Shared {
            transport,
            auth,
            retry,
            chosen: Default::default(),
            choosing: Default::default(),
            requests: Default::default(),
            profile: Default::default(),
            partitioned: Default::default(),
        }
    }
}

/// How requests authenticate.
pub(crate) enum Auth {
    None,
    /// `Authorization: Basic …` on every request.
    Basic(Credentials),
    /// A `POST /_session` cookie, renewed when the server answers 401.
    Session {
        credentials: Credentials,
        cookie: Mutex<Option<String>>,
    },
}

impl Auth {
    fn user(&self) -> Option<&str> {
        match self {
            Auth::None => None,
            Auth::Basic(c) | Auth::Session { credentials: c, .. } => Some(&c.user),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("server", &self.shared.transport.base())
            .field("name", &self.name)
            .field("user", &self.shared.auth.user())
            .field("password", &self.shared.auth.user().map(|_| "<hidden>"))
            .finish()
    }
}

/// Checks a database name against CouchDB's rule: `^[a-z][a-z0-9_$()+/-]*$`.
pub fn validate_db_name(name: &str) -> Result<()> {
    if matches!(name, "_users" | "_replicator" | "_global_changes") {
        return Ok(()); // CouchDB's system databases
    }
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '$' | '(' | ')' | '+' | '/' | '-'))
        && name.len() <= 238;
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            what: "database name",
            message: format!(
                "{name:?}: CouchDB database names start with a lowercase letter and contain only a-z, 0-9 and _$()+-/"
            ),
        })
    }
}

/// Percent-encodes one URL path segment (a database name or document id).
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

impl Database {
    /// Connects to the database named by the URL's last path segment
    /// (`http://user:pass@host:5984/dbname`) and checks that the server answers.
    /// The database itself need not exist yet: see [`Database::create_if_missing`].
    pub async fn connect(url: &str) -> Result<Database> {
        let db = Database::connect_lazy(url)?;
        db.ping().await?;
        Ok(db)
    }

    pub(crate) fn from_parts(shared: Shared, name: String) -> Database {
        Database {
            shared: Arc::new(shared),
            name: name.into(),
            page_size: None,
            write_batch: DEFAULT_WRITE_BATCH,
            write_attempts: u32::MAX,
            write_budget: DEFAULT_WRITE_RETRY_BUDGET,
            index_policy: IndexPolicy::Auto,
            idle_limit: None,
            quorum: Quorum::default(),
        }
    }

    /// Another database on the same server, sharing this one's connections and credentials.
    pub fn database(&self, name: &str) -> Result<Database> {
        validate_db_name(name)?;
        Ok(Database { name: name.into(), ..self.clone() })
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the database is, without credentials (`http://127.0.0.1:5984/shop`,
    /// `mem:///shop`): what names a replication's two ends.
    pub(crate) fn location(&self) -> String {
        format!("{}{}", self.shared.transport.base(), self.name)
    }

    /// Documents per `_find` request for every read of this handle. By default a
    /// stream (`fetch`) reads pages of 1,000 rows, and a read that keeps every row
    /// anyway (`fetch_all`, the reads of UPDATE and DELETE) asks for much bigger
    /// ones: 100,000 on CouchDB, and everything in one request on pouchdb-server,
    /// which filters every page from its start key onwards (BENCHMARKS.md §9).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = Some(n.max(1));
        self
    }

    /// Reads through this handle ask `r` copies of each document to agree (CouchDB's
    /// `r`: `_find`'s `"r"`, `GET /db/id?r=`). A cluster's default is one copy for
    /// `_find` and a majority for a document read by id; `r = n` (every copy) makes a
    /// read see every write confirmed with `w` copies, at the price of failing while a
    /// copy is down. One node (and the engine) has one copy: `r` changes nothing there.
    /// It is per handle and cheap: `q.fetch_all(&db.with_read_quorum(2))` sets it for
    /// one query.
    ///
    /// ```no_run
    /// # async fn demo(db: couch_runtime::Database) -> couch_runtime::Result<()> {
    /// let strict = db.with_read_quorum(3).with_write_quorum(3);
    /// let info = strict.request("GET", "", None).await?;
    /// # Ok(()) }
    /// ```
    pub fn with_read_quorum(mut self, r: u32) -> Self {
        self.quorum.read = Some(r.max(1));
        self
    }

    /// Writes through this handle wait for `w` copies (CouchDB's `w` of `_bulk_docs`):
    /// its statements, replications into it, and conflicts resolved through it.
    /// A cluster's default is a majority (2 of 3). A write stored on fewer copies is
    /// answered 202 and counted by [`ExecuteResult::accepted_below_quorum`](crate::ExecuteResult::accepted_below_quorum);
    /// it is still written. `w = n` makes every write wait for every copy.
    pub fn with_write_quorum(mut self, w: u32) -> Self {
        self.quorum.write = Some(w.max(1));
        self
    }

    /// A write's JSON body (`_bulk_docs`, `_index`) carrying this handle's write
    /// quorum (`"w"`), so every write through the handle (a statement's, an index's,
    /// a replication's, a resolution's) waits for the copies it asks for.
    pub(crate) fn write_body(&self, mut body: serde_json::Value) -> serde_json::Value {
        if let (Some(w), Some(fields)) = (self.quorum.write, body.as_object_mut()) {
            fields.insert("w".into(), w.into());
        }
        body
    }

    /// The longest one waiting request may wait on this handle's transport.
    pub(crate) fn longest_wait(&self) -> Option<std::time::Duration> {
        self.shared.transport.longest_wait()
    }

    /// What the server is and how couch-sql talks to it: asks the server once per
    /// handle (and its clones).
    pub async fn profile(&self) -> Result<&ServerProfile> {
        if self.shared.profile.get().is_none() {
            self.ping().await?;
        }
        Ok(self.shared.profile.get().expect("set by ping"))
    }

    /// Rows per page of a stream.
    pub(crate) fn stream_page_size(&self) -> usize {
        self.page_size.unwrap_or(DEFAULT_PAGE_SIZE)
    }

    /// Rows per page of a read that keeps every row in memory.
    pub(crate) async fn read_all_page_size(&self) -> Result<usize> {
        if let Some(n) = self.page_size {
            return Ok(n);
        }
        Ok(self.profile().await?.read_all_page.unwrap_or(crate::profile::EVERYTHING))
    }

    /// Documents per `_bulk_docs` request (default 1000).
    pub fn with_write_batch_size(mut self, n: usize) -> Self {
        self.write_batch = n.max(1);
        self
    }

    /// The most times UPDATE and DELETE write a document that conflicts (409:
    /// someone else changed it since it was read) before reporting it (default:
    /// no limit but the time budget, see [`Database::with_write_retry_budget`]).
    /// Each retry re-reads the document, checks it still matches the WHERE, and
    /// re-applies the change.
    pub fn with_write_attempts(mut self, n: u32) -> Self {
        self.write_attempts = n.max(1);
        self
    }

    /// How long UPDATE and DELETE keep retrying documents that conflict, with
    /// jittered exponential backoff, before reporting them (default 30 s). The
    /// budget fits real contention: 100 tasks incrementing one counter all land
    /// (BENCHMARKS.md has the measured times).
    pub fn with_write_retry_budget(mut self, budget: std::time::Duration) -> Self {
        self.write_budget = budget;
        self
    }

    /// How many HTTP requests this database and its clones have sent (retries included).
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks that the server answers, and says what it is.
    pub async fn ping(&self) -> Result<ServerInfo> {
        let body = self.send_raw(Method::GET, String::new(), None).await?;
        let info: ServerInfo = serde_json::from_slice(&body).map_err(|e| Error::decode(None, None, e))?;
        let _ = self.shared.profile.set(ServerProfile::of(&info));
        Ok(info)
    }

    /// The same handle, giving up on an answer that goes silent for `idle`.
    pub(crate) fn with_idle_limit(&self, idle: std::time::Duration) -> Database {
        Database { idle_limit: Some(idle), ..self.clone() }
    }

    /// Whether the database exists.
    pub async fn exists(&self) -> Result<bool> {
        match self.send(Method::HEAD, "", None).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates the database; `Ok(false)` if it already existed.
    pub async fn create_if_missing(&self) -> Result<bool> {
        match self.send(Method::PUT, "", None).await {
            Ok(_) => Ok(true),
            Err(Error::BadRequest { error, .. }) if error == "file_exists" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates the database as a *partitioned* database (CouchDB 3: `PUT
    /// /db?partitioned=true`) if it does not exist; whether it was created. Its
    /// documents' ids are `{partition}:{rest}`, and the documents of one partition
    /// live on one shard, so a query of one partition reads one shard instead of
    /// all. Tables of it declare their partition column with
    /// `#[couch(partition = "…")]` (see docs/partitions.md).
    ///
    /// ```no_run
    /// # async fn demo(db: couch_runtime::Database) -> couch_runtime::Result<()> {
    /// db.create_partitioned_if_missing().await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_partitioned_if_missing(&self) -> Result<bool> {
        if !self.profile().await?.partitions {
            // pouchdb-server has no partitions: an ordinary database, read globally.
            return self.create_if_missing().await;
        }
        self.shared.partitioned.lock().expect("partitioned cache").remove(&*self.name);
        match self.send_raw(Method::PUT, format!("{}?partitioned=true", encode_segment(&self.name)), None).await {
            Ok(_) => Ok(true),
            Err(Error::BadRequest { error, .. }) if error == "file_exists" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the database is partitioned (`"props": {"partitioned": true}` in `GET
    /// /db`), asked once per handle. A partitioned table's query of one partition is
    /// sent to `_partition/{p}/_find` only in a partitioned database (elsewhere it
    /// runs globally, with the same rows); a database that does not exist is not.
    pub async fn is_partitioned(&self) -> Result<bool> {
        if let Some(p) = self.shared.partitioned.lock().expect("partitioned cache").get(&*self.name) {
            return Ok(*p);
        }
        if !self.profile().await?.partitions {
            return Ok(false);
        }
        let info = match self.send(Method::GET, "", None).await {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
            Err(Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let partitioned = info.pointer("/props/partitioned") == Some(&serde_json::Value::Bool(true));
        self.shared.partitioned.lock().expect("partitioned cache").insert(self.name.to_string(), partitioned);
        Ok(partitioned)
    }

    /// Deletes the database and every document in it.
    pub async fn drop_database(&self) -> Result<()> {
        self.shared.partitioned.lock().expect("partitioned cache").remove(&*self.name);
        self.send(Method::DELETE, "", None).await.map(drop)
    }

    /// Any request to this database, for what couch-sql has no verb for:
    /// `METHOD /{db}/{path}` (`path` relative to the database, `""` for the
    /// database itself, with its query string) with an optional JSON body. The
    /// answer's JSON; an error status is the usual typed [`Error`]. It goes through
    /// the same transport, retries and authentication as every query, so it works
    /// on `mem://` and `file://` databases too.
    ///
    /// ```no_run
    /// # async fn demo(db: couch_runtime::Database) -> couch_runtime::Result<()> {
    /// let info = db.request("GET", "", None).await?;
    /// println!("{} documents", info["doc_count"]);
    /// db.request("PUT", "_design/app", Some(&serde_json::json!({"language": "query", "views": {}}))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let mut full = encode_segment(&self.name);
        if !path.is_empty() {
            full.push('/');
            full.push_str(path);
        }
        self.json_request(method, full, body).await
    }

    /// Like [`Database::request`], relative to the server's root (`_users/…`, `_session`).
    pub async fn server_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        self.json_request(method, path.to_string(), body).await
    }

    /// `METHOD /{path}` (from the server's root) with a JSON body; the JSON answer.
    async fn json_request(
        &self,
        method: &str,
        path: String,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|e| Error::Invalid { what: "HTTP method", message: e.to_string() })?;
        let body = body.map(|b| serde_json::to_vec(b).expect("JSON serializes"));
        let bytes = self.send_raw(method, path, body).await?;
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::decode(None, None, format!("the answer is not JSON: {e}")))
    }

    /// A document path with this handle's read quorum (`?r=`).
    pub(crate) fn quorum_query(&self, mut path: String) -> String {
        if let Some(r) = self.quorum.read {
            path.push_str(&format!("?r={r}"));
        }
        path
    }

    /// `POST /{db}/_find` (of one partition, `/{db}/_partition/{p}/_find`) with
    /// this handle's read quorum in the body.
    pub(crate) async fn find(&self, partition: Option<&str>, mut body: Vec<u8>) -> Result<bytes::Bytes> {
        if let (Some(r), Some(b'{')) = (self.quorum.read, body.first()) {
            let field = format!(r#""r":{r},"#);
            body.splice(1..1, field.into_bytes());
        }
        match partition {
            Some(p) => self.send(Method::POST, &format!("_partition/{}/_find", encode_segment(p)), Some(body)).await,
            None => self.send(Method::POST, "_find", Some(body)).await,
        }
    }

    /// `METHOD /{db}/{path}` with an optional JSON body; the body of a 2xx answer.
    pub(crate) async fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<bytes::Bytes> {
        let mut p = encode_segment(&self.name);
        if !path.is_empty() {
            p.push('/');
            p.push_str(path);
        }
        self.send_raw(method, p, body).await
    }

    async fn send_raw(&self, method: Method, path: String, body: Option<Vec<u8>>) -> Result<bytes::Bytes> {
        let span = tracing::debug_span!("couchdb", %method, path = %path);
        self.send_with_retries(method, &path, body.map(bytes::Bytes::from)).instrument(span).await
    }

    async fn send_with_retries(&self, method: Method, path: &str, body: Option<bytes::Bytes>) -> Result<bytes::Bytes> {
        let idempotent = is_idempotent(&method, path);
        let policy = &self.shared.retry;
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            let started = Instant::now();
            let result = self.send_once(&method, path, body.clone()).await;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            let retryable = match &result {
                Ok((status, body)) => {
                    tracing::debug!(status = status.as_u16(), ms, bytes = body.len(), "couchdb response");
                    // CouchDB answers a member's `POST /_index` with 500 error_saving_ddoc
                    // "… forbidden": a refusal, which asking again will not change.
                    matches!(status.as_u16(), 408 | 429 | 500..=599) && !error_from_response(*status, body).is_refusal()
                }
                Err(Error::Transport(_)) | Err(Error::Timeout) => true,
                Err(_) => false,
            };
            if let Ok((StatusCode::UNAUTHORIZED, _)) = &result {
                if let (Auth::Session { .. }, false) = (&self.shared.auth, renewed) {
                    // The session cookie expired (or was never made): log in again, once.
                    renewed = true;
                    self.login().await?;
                    continue;
                }
            }
            if retryable && idempotent && attempt < policy.max_retries {
                attempt += 1;
                let delay = policy.delay(attempt);
                tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, "retrying CouchDB request");
                tokio::time::sleep(delay).await;
                continue;
            }
            let (status, bytes) = result?;
            return if status.is_success() { Ok(bytes) } else { Err(error_from_response(status, &bytes)) };
        }
    }

    /// One request through the transport, with this handle's credentials.
    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<bytes::Bytes>,
    ) -> Result<(StatusCode, bytes::Bytes)> {
        self.shared.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let credential = match &self.shared.auth {
            Auth::None => None,
            Auth::Basic(c) => Some(Credential::Basic(c)),
            Auth::Session { cookie, .. } => {
                let current = cookie.lock().expect("session cookie").clone();
                let current = match current {
                    Some(c) => Some(c),
                    None => {
                        self.login().await?;
                        cookie.lock().expect("session cookie").clone()
                    }
                };
                current.map(Credential::Cookie)
            }
        };
        let req = Request { method, path, body, credential, idle: self.idle_limit };
        let reply = self.shared.transport.send(req).await?;
        let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Ok((status, reply.body))
    }

    /// `POST /_session`: trades the credentials for an `AuthSession` cookie.
    async fn login(&self) -> Result<()> {
        let Auth::Session { credentials, cookie } = &self.shared.auth else { return Ok(()) };
        let body = serde_json::json!({ "name": credentials.user, "password": credentials.password });
        let req = Request {
            method: &Method::POST,
            path: "_session",
            body: Some(body.to_string().into()),
            credential: None,
            idle: None,
        };
        let reply = self.shared.transport.send(req).await?;
        let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if !status.is_success() {
            return Err(error_from_response(status, &reply.body));
        }
        let Some(c) = reply.session else {
            return Err(Error::Unauthorized {
                reason: "the server answered /_session without a session cookie".into(),
            });
        };
        *cookie.lock().expect("session cookie") = Some(c);
        Ok(())
    }
}

/// Reads and index maintenance may be sent again; document writes are not
/// retried (a write that did land would come back as a conflict).
fn is_idempotent(method: &Method, path: &str) -> bool {
    match *method {
        Method::GET | Method::HEAD => true,
        Method::POST => {
            let last = path.rsplit('/').next().unwrap_or("");
            let endpoint = last.split('?').next().unwrap_or("");
            // Reads, and `_index` (creating one twice is one index).
            matches!(endpoint, "_find" | "_explain" | "_all_docs" | "_index" | "_revs_diff" | "_bulk_get" | "_changes")
        }
        _ => false,
    }
}

#[derive(Deserialize, Default)]
struct CouchError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    reason: String,
}

fn error_from_response(status: StatusCode, body: &[u8]) -> Error {
    let e: CouchError = serde_json::from_slice(body).unwrap_or_else(|_| CouchError {
        error: status.canonical_reason().unwrap_or("error").to_lowercase().replace(' ', "_"),
        reason: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
    });
    Error::from_status(status.as_u16(), e.error, e.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_and_credentials_hidden() {
        let db = Database::connect_lazy("http://admin:p%40ss@127.0.0.1:5984/shop").unwrap();
        assert_eq!(db.name(), "shop");
        let dbg = format!("{db:?}");
        assert!(!dbg.contains("p@ss") && !dbg.contains("p%40ss"), "{dbg}");
        assert!(dbg.contains("http://127.0.0.1:5984/"), "{dbg}");
        let nested = Database::connect_lazy("https://h/couch/shop/").unwrap();
        assert_eq!(nested.shared.transport.base(), "https://h/couch/");
    }

    #[test]
    fn bad_names_and_urls_fail_before_any_request() {
        assert!(matches!(Database::connect_lazy("http://h:5984/"), Err(Error::Invalid { .. })));
        assert!(matches!(Database::connect_lazy("http://h:5984/Shop"), Err(Error::Invalid { .. })));
        assert!(matches!(Database::connect_lazy("ftp://h/shop"), Err(Error::Invalid { .. })));
        assert!(validate_db_name("a-b_c$d(e)+f/g").is_ok());
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("a/b c+é"), "a%2Fb%20c%2B%C3%A9");
    }
}
