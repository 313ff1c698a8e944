//! A replication of 100,000 documents between two `couch-sql serve --dir`
//! processes, with the target (then the source) killed with `kill -9` in the
//! middle and restarted on the same directory and port: the next run resumes
//! from its checkpoint (it reads the changes feed from there, not from 0) and
//! every document arrives exactly once, with the source's one revision.

mod common;
use common::{once, serve_with, temp_dir, Serve};
use couch_sql::Database;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const DOCS: usize = 100_000;

/// Restarts a killed server on its directory and port (the port names the
/// replication, as in CouchDB: another port would be another replication).
fn restart(dir: &std::path::Path, port: &str) -> Serve {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = serve_with(&["--port", port, "--dir", dir.to_str().unwrap()]);
        if s.port() == port {
            return s;
        }
        assert!(Instant::now() < deadline, "could not restart on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn doc_count(db: &Database) -> u64 {
    db.request("GET", "", None).await.map(|i| i["doc_count"].as_u64().unwrap_or(0)).unwrap_or(0)
}

/// Every document once, with the source's revision and no other leaf.
async fn exactly_once(source: &Database, target: &Database) {
    let feed = |db: Database| async move { db.request("GET", "_changes?style=all_docs", None).await.unwrap() };
    let (s, t) = (feed(source.clone()).await, feed(target.clone()).await);
    let leaves = |v: &Value| -> std::collections::BTreeMap<String, Vec<String>> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let revs = r["changes"].as_array().unwrap().iter().map(|c| c["rev"].as_str().unwrap().to_string());
                (r["id"].as_str().unwrap().to_string(), revs.collect())
            })
            .collect()
    };
    let (ls, lt) = (leaves(&s), leaves(&t));
    assert_eq!(lt.len(), DOCS, "every document arrived");
    assert!(lt.values().all(|r| r.len() == 1), "no document has a second revision");
    assert_eq!(ls, lt, "each with the source's revision");
}

async fn fill(db: &Database) {
    db.create_if_missing().await.unwrap();
    for chunk in 0..DOCS / 5_000 {
        let docs: Vec<Value> = (chunk * 5_000..(chunk + 1) * 5_000)
            .map(|i| json!({"_id": format!("k{i:06}"), "type": "items", "n": i, "pad": "x".repeat(64)}))
            .collect();
        db.request("POST", "_bulk_docs", Some(&json!({ "docs": docs }))).await.unwrap();
    }
}

/// Runs the replication in the background until the target holds `at` documents,
/// then kills `victim` and waits for the run to fail.
async fn interrupted(source: &Database, target: &Database, victim: Serve, at: u64) {
    let (s, t) = (source.clone(), target.clone());
    let run = tokio::spawn(async move { s.replicate_to(&t).batch_size(1_000).await });
    let deadline = Instant::now() + Duration::from_secs(120);
    while doc_count(target).await < at {
        assert!(!run.is_finished(), "the replication ended before the kill");
        assert!(Instant::now() < deadline, "the replication made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    victim.kill();
    let failed = run.await.unwrap();
    assert!(failed.is_err(), "a run whose server died fails: {failed:?}");
}

#[test]
fn a_replication_killed_mid_way_resumes_and_delivers_each_document_once() {
    if !once() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        for victim in ["target", "source"] {
            let (sdir, tdir) = (temp_dir("src"), temp_dir("dst"));
            let src_srv = serve_with(&["--port", "0", "--dir", sdir.to_str().unwrap()]);
            let dst_srv = serve_with(&["--port", "0", "--dir", tdir.to_str().unwrap()]);
            let (sport, tport) = (src_srv.port(), dst_srv.port());
            let source = Database::connect(&format!("{}/shop", src_srv.url)).await.unwrap();
            let target = Database::connect(&format!("{}/shop", dst_srv.url)).await.unwrap();
            fill(&source).await;
            let (_src, _dst) = if victim == "target" {
                interrupted(&source, &target, dst_srv, (DOCS / 3) as u64).await;
                (src_srv, restart(&tdir, &tport))
            } else {
                interrupted(&source, &target, src_srv, (DOCS / 3) as u64).await;
                (restart(&sdir, &sport), dst_srv)
            };
            let before = doc_count(&target).await;
            let resumed = source.replicate_to(&target).batch_size(1_000).await.unwrap();
            assert!(resumed.resumed, "{victim} killed: the run resumed from a checkpoint: {resumed:?}");
            assert_ne!(resumed.start_seq, "0");
            // Read from the checkpoint: at most the documents the killed run had not
            // recorded (the batch in flight when it died included), not all of them.
            assert!(
                resumed.changes_read <= DOCS as u64 - before + 1_000,
                "{victim} killed: {} changes read again after {before} had arrived",
                resumed.changes_read
            );
            assert_eq!(resumed.doc_write_failures, 0);
            exactly_once(&source, &target).await;
            eprintln!(
                "{victim} killed at {before} documents: the resumed run started at {} and read {} changes",
                resumed.start_seq, resumed.changes_read
            );
            let _ = std::fs::remove_dir_all(&sdir);
            let _ = std::fs::remove_dir_all(&tdir);
        }
    });
}
