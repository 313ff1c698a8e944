//! Full scans at 10,000, 50,000 and 100,000 documents: couch-sql against a
//! hand-written reqwest + serde client reading the same rows in the fewest
//! requests the server allows (one `_find`, the faster of two forms), and the
//! same query with and without its planned index, in the steady state (after
//! the background build the first `Auto` query starts). Prints a markdown table.
//!
//! ```sh
//! ./scripts/with-server.sh cargo run --release --example scan_scale
//! COUCH_SQL_SERVER=couchdb ./scripts/with-server.sh cargo run --release --example scan_scale
//! ```

use couch_sql::{couch_sql, CouchRow, Database, IndexPolicy};
use serde::Deserialize;
use std::time::{Duration, Instant};

#[derive(CouchRow, Debug)]
#[couch(table = "users")]
#[allow(dead_code)]
struct User {
    #[couch(id)]
    id: Option<String>,
    name: String,
    age: i64,
    email: String,
    city: String,
    active: bool,
    score: f64,
}

#[derive(Deserialize)]
struct Page {
    docs: Vec<User>,
}

async fn seed(http: &reqwest::Client, url: &str, n: usize) {
    for start in (0..n).step_by(10_000) {
        let docs: Vec<_> = (start..(start + 10_000).min(n))
            .map(|i| serde_json::json!({"_id": format!("u{i:07}"), "type": "users", "name": format!("user{i}"), "age": i % 100,
                "email": format!("u{i}@example.com"), "city": format!("c{}", i % 10), "active": i % 2 == 0, "score": i as f64 * 0.5}))
            .collect();
        let r = http.post(format!("{url}/_bulk_docs")).json(&serde_json::json!({ "docs": docs })).send().await.unwrap();
        assert!(r.status().is_success());
    }
}

/// The median of five runs.
async fn median<F: std::future::Future<Output = usize>>(mut f: impl FnMut() -> F, want: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(f().await, want);
        times.push(t.elapsed());
    }
    times.sort();
    times[2]
}

#[tokio::main]
async fn main() {
    let server = std::env::var("COUCHDB_URL").expect("COUCHDB_URL (use scripts/with-server.sh)");
    let http = reqwest::Client::new();
    let info = Database::connect_lazy(&format!("{server}/probe")).unwrap().ping().await.unwrap();
    println!(
        "{} {}\n",
        if info.is_pouchdb() { "pouchdb-server" } else { "CouchDB" },
        info.version.clone().unwrap_or_default()
    );
    println!("| documents | hand-written (1 request) | couch-sql `fetch_all` | ratio | rows/s | no planned index | planned index built | index ÷ none |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in [10_000usize, 50_000, 100_000] {
        let name = format!("scan_{n}_{}", std::process::id());
        let url = format!("{server}/{name}");
        let db = Database::connect(&url).await.unwrap();
        db.create_if_missing().await.unwrap();
        seed(&http, &url, n).await;
        // Steady state: one uncounted run under `Auto`, which on CouchDB starts building the
        // planned index in the background; the measured runs start when that build is done.
        couch_sql!("SELECT * FROM users WHERE age >= ?", 0).fetch_all(&db).await.unwrap();
        if !info.is_pouchdb() {
            for _ in 0..600 {
                let i: serde_json::Value = http
                    .get(format!("{url}/_design/couchsql-type-age/_info"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if i.pointer("/view_index/updater_running") == Some(&serde_json::Value::Bool(false)) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // The faster of two one-request patterns: the plain `_find` (the server's choice of
        // index: once `couchsql-type-age` exists CouchDB reads through it, about 3× slower),
        // and the same in `_id` order, which makes the server scan `_all_docs`.
        let mut baseline = Duration::MAX;
        for by_id in [false, true] {
            let t = median(
                || async {
                    let body = if by_id {
                        serde_json::json!({"selector": {"type": "users", "age": {"$gte": 0}, "_id": {"$gt": null}},
                            "sort": [{"_id": "asc"}], "limit": n + 1})
                    } else {
                        serde_json::json!({"selector": {"type": "users", "age": {"$gte": 0}}, "limit": n + 1})
                    };
                    let bytes =
                        http.post(format!("{url}/_find")).json(&body).send().await.unwrap().bytes().await.unwrap();
                    serde_json::from_slice::<Page>(&bytes).unwrap().docs.len()
                },
                n,
            )
            .await;
            baseline = baseline.min(t);
        }
        let ours = median(
            || async { couch_sql!("SELECT * FROM users WHERE age >= ?", 0).fetch_all(&db).await.unwrap().len() },
            n,
        )
        .await;
        let never = db.clone().with_index_policy(IndexPolicy::Never);
        let without = median(
            || async { couch_sql!("SELECT * FROM users WHERE age >= ?", 0).fetch_all(&never).await.unwrap().len() },
            n,
        )
        .await;
        db.ensure_indexes().await.unwrap();
        let explicit = db.clone().with_index_policy(IndexPolicy::Explicit);
        let with = median(
            || async { couch_sql!("SELECT * FROM users WHERE age >= ?", 0).fetch_all(&explicit).await.unwrap().len() },
            n,
        )
        .await;
        println!(
            "| {n} | {:.3} s | {:.3} s | {:.2}× | {:.0} | {:.3} s | {:.3} s | {:.2}× |",
            baseline.as_secs_f64(),
            ours.as_secs_f64(),
            baseline.as_secs_f64() / ours.as_secs_f64(),
            n as f64 / ours.as_secs_f64(),
            without.as_secs_f64(),
            with.as_secs_f64(),
            with.as_secs_f64() / without.as_secs_f64(),
        );
        db.drop_database().await.unwrap();
    }
}
