//! Apache CouchDB 3.4.3's own replicator (`POST /_replicate` on the test server)
//! against `couch-sql serve`, both ways, one-shot and continuous: afterwards both
//! sides hold the same documents, the same leaves (conflicts and deleted
//! conflicts) and the same revision histories. Runs in the suite's CouchDB run
//! (`COUCH_SQL_SERVER=couchdb`, and `cluster`); the other targets have no replicator to judge.

use couch_sql::Database;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod common;
use common::serve;

/// The CouchDB under test, when the suite runs on one.
fn couchdb() -> Option<String> {
    let server = std::env::var("COUCH_SQL_SERVER").unwrap_or_default();
    (server == "couchdb" || server == "cluster").then(|| std::env::var("COUCHDB_URL").expect("COUCHDB_URL"))
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("crep_{tag}_{}_{nanos}", std::process::id())
}

/// The documents that get a conflict branch (edited ones: every 99th is a multiple of 3).
fn branched() -> impl Iterator<Item = usize> {
    (0..10_000).step_by(99)
}

/// 10,000 documents: a third edited twice more, a tenth deleted, and 102 with a
/// conflict branch (a tenth of them deleted) written as a replicator writes them.
async fn fill(db: &Database) {
    // Every 50th document has an attachment (binary: a compressible type's digest is
    // CouchDB's MD5 of its gzip, which no other deflate reproduces; see docs/servers.md).
    let docs: Vec<Value> = (0..10_000)
        .map(|i| {
            let mut d = json!({"_id": format!("d{i:05}"), "type": "items", "n": i});
            if i % 50 == 0 {
                let bytes: Vec<u8> = (0..200u32).map(|b| (b * 7 + i as u32) as u8).collect();
                d["_attachments"] =
                    json!({"blob.bin": {"content_type": "application/octet-stream", "data": couch_embedded::base64(&bytes)}});
            }
            d
        })
        .collect();
    for chunk in docs.chunks(2_000) {
        db.request("POST", "_bulk_docs", Some(&json!({ "docs": chunk }))).await.unwrap();
    }
    for round in 0..2 {
        let all = db.request("GET", "_all_docs", None).await.unwrap();
        let edits: Vec<Value> = all["rows"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == 0)
            .map(|(i, r)| {
                let mut d = json!({"_id": r["id"], "_rev": r["value"]["rev"], "type": "items", "n": i, "round": round});
                if i % 50 == 0 {
                    d["_attachments"] = json!({"blob.bin": {"stub": true}}); // kept through the edit
                }
                d
            })
            .collect();
        db.request("POST", "_bulk_docs", Some(&json!({ "docs": edits }))).await.unwrap();
    }
    let all = db.request("GET", "_all_docs", None).await.unwrap();
    let deletions: Vec<Value> = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 == 1)
        .map(|(_, r)| json!({"_id": r["id"], "_rev": r["value"]["rev"], "_deleted": true}))
        .collect();
    db.request("POST", "_bulk_docs", Some(&json!({ "docs": deletions }))).await.unwrap();
    // Conflict branches: a second child of the first revision of 102 documents
    // edited since (some of them deleted since), as another peer's edit would be.
    let mut branches = Vec::new();
    for (k, i) in branched().enumerate() {
        let id = format!("d{i:05}");
        let open = db.request("GET", &format!("{id}?open_revs=all&revs=true"), None).await.unwrap();
        let ids = open[0]["ok"]["_revisions"]["ids"].as_array().unwrap();
        let first = ids.last().unwrap().as_str().unwrap();
        let mut branch = json!({
            "_id": id, "_rev": format!("2-{:032x}", i), "type": "items", "n": -1,
            "_revisions": {"start": 2, "ids": [format!("{:032x}", i), first]},
        });
        if k % 10 == 0 {
            branch["_deleted"] = json!(true);
        }
        branches.push(branch);
    }
    db.request("POST", "_bulk_docs", Some(&json!({"new_edits": false, "docs": branches}))).await.unwrap();
}

/// Every document's leaves and its winning body, from the changes feed.
async fn leaves(db: &Database) -> BTreeMap<String, Value> {
    let feed = db.request("GET", "_changes?style=all_docs&include_docs=true", None).await.unwrap();
    let mut out = BTreeMap::new();
    for row in feed["results"].as_array().unwrap() {
        let id = row["id"].as_str().unwrap().to_string();
        let mut revs: Vec<String> =
            row["changes"].as_array().unwrap().iter().map(|c| c["rev"].as_str().unwrap().to_string()).collect();
        revs.sort();
        out.insert(id, json!({"leaves": revs, "doc": row["doc"], "deleted": row.get("deleted")}));
    }
    out
}

/// The histories of some documents' leaves (`open_revs=all&revs=true`).
async fn histories(db: &Database, ids: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        let mut revs = db.request("GET", &format!("{id}?open_revs=all&revs=true"), None).await.unwrap();
        let list = revs.as_array_mut().unwrap();
        list.sort_by_key(|r| r["ok"]["_rev"].as_str().unwrap_or_default().to_string());
        out.push(revs);
    }
    out
}

async fn replicate(couch: &str, body: Value) -> Value {
    let root = Database::connect_lazy(&format!("{couch}/_replicator")).unwrap();
    root.server_request("POST", "_replicate", Some(&body)).await.unwrap()
}

async fn same(a: &Database, b: &Database) {
    // A cluster acknowledges a write once two of a shard's three copies have it, and
    // `_changes` may read the third: the leaves are compared again for a while.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (la, lb) = loop {
        let (la, lb) = (leaves(a).await, leaves(b).await);
        if la == lb || Instant::now() > deadline {
            break (la, lb);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(la.len(), 10_000);
    let conflicted = la.values().filter(|v| v["leaves"].as_array().unwrap().len() > 1).count();
    assert_eq!(conflicted, branched().count(), "the conflict branches are there");
    for (id, v) in &la {
        assert_eq!(Some(v), lb.get(id), "{id} differs");
    }
    let sample: Vec<String> = (0..10_000).step_by(97).map(|i| format!("d{i:05}")).collect();
    assert_eq!(histories(a, &sample).await, histories(b, &sample).await);
    // The attachments' bytes.
    for i in (0..10_000).step_by(450) {
        let path = format!("d{i:05}?attachments=true");
        let (x, y) = (a.request("GET", &path, None).await, b.request("GET", &path, None).await);
        if let (Ok(x), Ok(y)) = (x, y) {
            assert_eq!(x["_attachments"], y["_attachments"], "d{i:05}'s attachments");
            assert!(x["_attachments"]["blob.bin"]["data"].is_string(), "d{i:05} kept its attachment: {x}");
        }
    }
}

#[test]
fn couchdbs_replicator_pulls_from_and_pushes_to_serve() {
    let Some(couch) = couchdb() else { return };
    let serve = serve();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // serve → CouchDB.
        let (src_name, dst_name) = (unique("src"), unique("dst"));
        let src = Database::connect(&format!("{}/{src_name}", serve.url)).await.unwrap();
        src.create_if_missing().await.unwrap();
        fill(&src).await;
        let started = Instant::now();
        let r = replicate(
            &couch,
            json!({"source": format!("{}/{src_name}", serve.url), "target": format!("{couch}/{dst_name}"), "create_target": true}),
        )
        .await;
        assert_eq!(r["ok"], true, "{r}");
        eprintln!("CouchDB pulled 10,000 documents from serve in {:?}", started.elapsed());
        let dst = Database::connect(&format!("{couch}/{dst_name}")).await.unwrap();
        same(&src, &dst).await;

        // CouchDB → serve (a new database there).
        let back_name = unique("back");
        let r = replicate(
            &couch,
            json!({"source": format!("{couch}/{dst_name}"), "target": format!("{}/{back_name}", serve.url), "create_target": true}),
        )
        .await;
        assert_eq!(r["ok"], true, "{r}");
        let back = Database::connect(&format!("{}/{back_name}", serve.url)).await.unwrap();
        same(&dst, &back).await;

        // Continuous: a write on serve reaches CouchDB while the replication runs.
        let body = json!({
            "source": format!("{}/{src_name}", serve.url), "target": format!("{couch}/{dst_name}"), "continuous": true,
        });
        let r = replicate(&couch, body.clone()).await;
        assert_eq!(r["ok"], true, "{r}");
        src.request("PUT", "late", Some(&json!({"type": "items", "n": 42}))).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(d) = dst.request("GET", "late", None).await {
                assert_eq!(d["n"], 42);
                break;
            }
            assert!(Instant::now() < deadline, "the continuous replication did not carry the write");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut cancel = body;
        cancel["cancel"] = json!(true);
        replicate(&couch, cancel).await;
    });
}
