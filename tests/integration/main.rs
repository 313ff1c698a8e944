//! Integration tests against a real CouchDB-compatible server.
//!
//! Run through `scripts/with-server.sh cargo test --workspace`, which starts the
//! pinned pouchdb-server and sets `COUCHDB_URL` (or uses the one you set).
//! Every test works in a database of its own.

mod aggregates;
mod blocking;
mod collation;
mod conventions;
mod couchdb;
mod crud;
mod differential;
mod documents;
mod dynamic;
mod embedded;
mod like;
mod mango_suite;
mod models;
mod named_rows;
mod nesting;
mod nulls;
mod ordering;
mod paging;
mod partitions;
mod paths;
mod planning;
mod production;
mod protocol;
mod proxy;
mod replication;
mod resilience;
mod scale;
mod security;
mod semantics;
mod test_attr;
mod watch;

use couch_sql::Database;
use std::sync::atomic::{AtomicU32, Ordering};

/// A new, empty database for one test.
pub async fn fresh_db(tag: &str) -> Database {
    let server = server_url();
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!("t_{tag}_{}_{}_{}", std::process::id(), nanos, N.fetch_add(1, Ordering::Relaxed));
    let db = Database::connect(&format!("{server}/{name}")).await.expect("connect");
    assert!(db.create_if_missing().await.expect("create database"), "the database {name} already existed");
    if is_cluster().await {
        // Read-your-writes on a cluster: a write waits for every copy, so the next
        // read finds it whichever copy answers (docs/servers.md, "A cluster").
        return db.with_write_quorum(3);
    }
    db
}

/// Whether the server is a CouchDB cluster of more than one node (`/_membership`).
pub async fn is_cluster() -> bool {
    static CLUSTER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if let Some(c) = CLUSTER.get() {
        return *c;
    }
    let db = Database::connect_lazy(&format!("{}/probe", server_url())).unwrap();
    let nodes = match db.server_request("GET", "_membership", None).await {
        Ok(m) => m["cluster_nodes"].as_array().map_or(0, Vec::len),
        Err(_) => 0,
    };
    *CLUSTER.get_or_init(|| nodes > 1)
}

/// The test server's root URL (`COUCHDB_URL`), with its credentials if it has any.
/// `COUCHDB_URL=mem://` runs the suite on the embedded engine in this process
/// (`mem:/` + `/name` is `mem://name`).
pub fn server_url() -> String {
    let url = std::env::var("COUCHDB_URL")
        .expect("COUCHDB_URL is not set: run the tests with `scripts/with-server.sh cargo test --workspace`");
    if url.starts_with("mem:") {
        return "mem:/".to_string();
    }
    url.trim_end_matches('/').to_string()
}

/// The suite runs on the embedded engine in this process: there is no HTTP at all,
/// so what only HTTP has (credentials, proxies, another process) cannot be tested.
pub fn in_process() -> bool {
    server_url().starts_with("mem:")
}

/// `url` with its credentials replaced by `user:password` (never the admin's
/// name with a wrong password: CouchDB 3.4 locks an account out after a few failures).
pub fn with_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}:{password}@{host}")
}

/// Whether the server under test is pouchdb-server (else Apache CouchDB).
pub async fn is_pouchdb() -> bool {
    Database::connect_lazy(&format!("{}/probe", server_url())).unwrap().ping().await.unwrap().is_pouchdb()
}

/// couch-sql's embedded engine (`couch-sql serve`).
pub async fn is_embedded() -> bool {
    Database::connect_lazy(&format!("{}/probe", server_url())).unwrap().ping().await.unwrap().is_embedded()
}

/// Every client is an admin: pouchdb-server has no database security or per-user
/// rights. (`couch-sql serve` has CouchDB 3's, with the admin the test script gives it.)
pub async fn is_admin_party() -> bool {
    is_pouchdb().await
}

/// Writes documents as another program would, bypassing couch-sql's checks.
pub async fn put_raw(db: &Database, docs: serde_json::Value) {
    let body = on_every_copy(serde_json::json!({ "docs": docs })).await;
    let results = db.request("POST", "_bulk_docs", Some(&body)).await.unwrap();
    assert!(results.as_array().unwrap().iter().all(|r| r.get("error").is_none()), "{results}");
}

/// A raw `_bulk_docs` body that, on a cluster, waits for every copy (`"w": 3`):
/// a `_find`, `_all_docs` or `_changes` reads one copy per shard, which may not
/// have the write yet otherwise (docs/servers.md, "A cluster").
pub async fn on_every_copy(mut body: serde_json::Value) -> serde_json::Value {
    if is_cluster().await {
        body["w"] = 3.into();
    }
    body
}

/// A raw write's path (or URL) that, on a cluster, waits for every copy (`w=3`),
/// for the same reason as [`on_every_copy`].
pub async fn on_every_copy_at(path: &str) -> String {
    match (is_cluster().await, path.contains('?')) {
        (false, _) => path.to_string(),
        (true, false) => format!("{path}?w=3"),
        (true, true) => format!("{path}&w=3"),
    }
}

/// A document as stored.
pub async fn get_raw(db: &Database, id: &str) -> serde_json::Value {
    match db.request("GET", &couch_sql::__private::encode_segment(id), None).await {
        Ok(doc) => doc,
        Err(couch_sql::Error::NotFound { reason }) => serde_json::json!({"error": "not_found", "reason": reason}),
        Err(e) => panic!("GET {id}: {e}"),
    }
}

/// A changes feed's sequence (a string or a number) as a `since=` query value.
pub fn seq_param(seq: &serde_json::Value) -> String {
    let text = match seq {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    couch_sql::__private::encode_segment(&text)
}

/// Sorted copy, for comparing sets of names.
pub fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}
