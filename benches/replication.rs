//! Replication throughput: couch-sql's replicator against CouchDB's own and
//! PouchDB's, on the same 100,000 documents (≈1 KB each), in one run.
//!
//! ```sh
//! COUCH_SQL_SERVER=couchdb scripts/with-server.sh cargo bench --bench replication
//! COUCHDB_URL=http://admin:password@127.0.0.1:5984 cargo bench --bench replication -- --docs 20000
//! ```
//!
//! Needs a CouchDB (its `_replicate` is one of the baselines) and, for the PouchDB
//! baseline, node with `testserver/node_modules` (installed by
//! `COUCH_SQL_SERVER=pouchdb scripts/with-server.sh …`; skipped without). Prints a
//! Markdown table (kept in BENCHMARKS.md): wall time, documents per second, and
//! each row's speed relative to CouchDB's replicator; and the peak memory (RSS)
//! of couch-sql's replicator during a pull between two servers (its own memory,
//! with no engine in the process).

use couch_sql::Database;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Runs `f`, sampling the process's RSS every 5 ms: its result, its time, and
/// (RSS before, peak RSS during) in KiB.
async fn sampled<T>(f: impl std::future::IntoFuture<Output = T>) -> (T, Duration, (u64, u64)) {
    let before = rss_kib("VmRSS:");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kib("VmRSS:"));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let started = Instant::now();
    let out = f.await;
    let t = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    (out, t, (before, sampler.join().unwrap_or(0).max(before)))
}

async fn fill(db: &Database, docs: usize) {
    db.create_if_missing().await.unwrap();
    let pad = "x".repeat(900);
    for start in (0..docs).step_by(5_000) {
        let batch: Vec<Value> = (start..(start + 5_000).min(docs))
            .map(|i| json!({"_id": format!("doc{i:07}"), "type": "items", "n": i, "name": format!("item {i}"), "pad": pad}))
            .collect();
        db.request("POST", "_bulk_docs", Some(&json!({ "docs": batch }))).await.unwrap();
    }
}

async fn couchdb_replicate(server: &str, source: &str, target: &str) -> Duration {
    let root = Database::connect_lazy(&format!("{server}/_replicator")).unwrap();
    let started = Instant::now();
    let body =
        json!({"source": format!("{server}/{source}"), "target": format!("{server}/{target}"), "create_target": true});
    let r = root.server_request("POST", "_replicate", Some(&body)).await.unwrap();
    assert_eq!(r["ok"], true, "{r}");
    started.elapsed()
}

fn pouchdb_pull(url: &str) -> Option<Duration> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testserver/pouchdb-pull.js");
    let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/testserver/node_modules/pouchdb-core");
    if !std::path::Path::new(modules).exists() {
        eprintln!("(no testserver/node_modules: the PouchDB baseline is skipped)");
        return None;
    }
    let out = std::process::Command::new("node").arg(script).arg(url).output().ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(Duration::from_millis(v["ms"].as_u64()?))
}

#[tokio::main]
async fn main() {
    let server = std::env::var("COUCHDB_URL").expect("COUCHDB_URL: a CouchDB (its replicator is a baseline)");
    let args: Vec<String> = std::env::args().collect();
    let docs: usize =
        args.iter().position(|a| a == "--docs").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(100_000);
    let tag = format!("{}_{}", std::process::id(), Instant::now().elapsed().as_nanos());
    let name = |what: &str| format!("bench_repl_{what}_{tag}");
    let source = Database::connect(&format!("{server}/{}", name("src"))).await.unwrap();
    eprintln!("filling {docs} documents…");
    fill(&source, docs).await;

    let dir = std::env::temp_dir().join(format!("couch-sql-bench-repl-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let engine = Database::connect(&format!("file://{}/local", dir.display())).await.unwrap();
    engine.create_if_missing().await.unwrap();

    let mut rows: Vec<(String, Duration)> = Vec::new();
    // CouchDB → CouchDB by CouchDB's own replicator: the baseline.
    let couch = couchdb_replicate(&server, &name("src"), &name("couch")).await;
    rows.push(("CouchDB's replicator: CouchDB → CouchDB".into(), couch));
    // couch-sql between two CouchDB databases, first (nothing else in the process
    // yet): its own memory, sampled every 5 ms.
    let other = Database::connect(&format!("{server}/{}", name("pair"))).await.unwrap();
    let (paired, t, pair_peak) = sampled(source.replicate_to(&other)).await;
    rows.push(("couch-sql: CouchDB → CouchDB".into(), t));
    assert_eq!(paired.unwrap().docs_written as usize, docs);
    // couch-sql: CouchDB → file:// engine (which keeps every document in memory too),
    // then engine → CouchDB.
    let (pulled, t, engine_peak) = sampled(engine.replicate_from(&source)).await;
    rows.push(("couch-sql: CouchDB → file:// engine".into(), t));
    assert_eq!(pulled.unwrap().docs_written as usize, docs);
    let back = Database::connect(&format!("{server}/{}", name("back"))).await.unwrap();
    let started = Instant::now();
    let pushed = engine.replicate_to(&back).await.unwrap();
    rows.push(("couch-sql: file:// engine → CouchDB".into(), started.elapsed()));
    assert_eq!(pushed.docs_written as usize, docs, "{pushed:?}");
    if let Some(pouch) = pouchdb_pull(&format!("{server}/{}", name("src"))) {
        rows.push(("PouchDB (node): CouchDB → memory".into(), pouch));
    }

    println!("\n{docs} documents of ≈1 KB, one run (couch-sql: batches of 500, as CouchDB's replicator)\n");
    println!("| replication | time | documents/s | vs CouchDB's replicator |");
    println!("|---|---:|---:|---:|");
    for (what, t) in &rows {
        let per_s = docs as f64 / t.as_secs_f64();
        let speed = couch.as_secs_f64() / t.as_secs_f64();
        println!("| {what} | {:.1} s | {per_s:.0} | {speed:.2}× |", t.as_secs_f64());
    }
    let mib = |(base, peak): (u64, u64)| {
        format!("{:.0} MiB before, {:.0} MiB at most", base as f64 / 1024.0, peak as f64 / 1024.0)
    };
    println!("\nProcess RSS (sampled every 5 ms), couch-sql's replicator CouchDB → CouchDB: {}", mib(pair_peak));
    println!("Process RSS, CouchDB → file:// engine in the process: {}", mib(engine_peak));
    for db in ["src", "couch", "back", "pair"] {
        let _ = Database::connect_lazy(&format!("{server}/{}", name(db))).unwrap().drop_database().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
