//! Measures, on a CouchDB cluster, a query of one partition against the same
//! query across the whole database, and the read and write paths with one node
//! down against all up. Prints a table (BENCHMARKS.md §18).
//!
//! ```sh
//! ../shared/couchdb/cluster.sh start /tmp/cluster 3      # prints three URLs
//! COUCH_SQL_CLUSTER_URLS="url1 url2 url3" COUCH_SQL_CLUSTER_DIR=/tmp/cluster \
//!   cargo run --release --example cluster_bench
//! ```
//!
//! `COUCH_SQL_BENCH_DOCS` (default 100,000) documents over 100 partitions.

use couch_sql::{couch_sql, CouchRow, Database};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(CouchRow, Debug)]
#[couch(table = "events", partition = "tenant")]
#[allow(dead_code)]
struct Event {
    #[couch(id)]
    id: Option<String>,
    tenant: String,
    n: i64,
    kind: String,
}

/// The median of `runs` timings of `f`.
async fn median<F, Fut>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    times[runs / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> couch_sql::Result<()> {
    let urls: Vec<String> = std::env::var("COUCH_SQL_CLUSTER_URLS")
        .expect("COUCH_SQL_CLUSTER_URLS: the cluster's node URLs, node 1 first")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let dir = std::env::var("COUCH_SQL_CLUSTER_DIR").expect("COUCH_SQL_CLUSTER_DIR");
    let script = std::env::var("COUCHDB_CLUSTER_SH").unwrap_or_else(|_| "../shared/couchdb/cluster.sh".into());
    let docs: usize = std::env::var("COUCH_SQL_BENCH_DOCS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let name = format!("bench_partitions_{}", std::process::id());
    let db = Database::connect(&format!("{}/{name}", urls[0])).await?;
    db.create_partitioned_if_missing().await?;

    let t = Instant::now();
    for start in (0..docs).step_by(5000) {
        let batch: Vec<_> = (start..(start + 5000).min(docs))
            .map(|i| {
                let tenant = format!("t{:03}", i % 100);
                json!({"_id": format!("{tenant}:{i:07}"), "type": "events", "tenant": tenant, "n": i, "kind": if (i / 100) % 10 == 0 { "error" } else { "info" }})
            })
            .collect();
        db.request("POST", "_bulk_docs", Some(&json!({ "docs": batch, "w": 3 }))).await?;
    }
    println!("seeded {docs} documents over 100 partitions in {:.1} s", t.elapsed().as_secs_f64());

    // Warm both (indexes made and built), then measure.
    let one = || async {
        let rows = couch_sql!("SELECT * FROM events WHERE tenant = ? AND kind = 'error' ORDER BY n", "t042")
            .fetch_all(&db)
            .await
            .unwrap();
        assert_eq!(rows.len(), docs / 1000);
    };
    let global = || async {
        let rows = couch_sql!(
            "SELECT * FROM events WHERE tenant >= ? AND tenant <= ? AND kind = 'error' ORDER BY n",
            "t042",
            "t042"
        )
        .fetch_all(&db)
        .await
        .unwrap();
        assert_eq!(rows.len(), docs / 1000);
    };
    one().await;
    global().await;
    let p = median(15, one).await;
    let g = median(15, global).await;
    println!();
    println!("| query (one tenant's errors, sorted; {docs} docs, q=2, n=3) | median | ratio |");
    println!("|---|---|---|");
    println!(
        "| `_partition/t042/_find` (WHERE tenant = ?) | {} | {:.1}× faster |",
        ms(p),
        g.as_secs_f64() / p.as_secs_f64()
    );
    println!("| global `_find` (WHERE tenant >= ? AND tenant <= ?: the same rows) | {} | 1 |", ms(g));

    // Read and write paths, all nodes up vs node 3 down.
    let read = || async {
        couch_sql!("SELECT * FROM events WHERE tenant = ? ORDER BY n LIMIT 100", "t007").fetch_all(&db).await.unwrap();
    };
    let mut k = 0u64;
    let mut write = || {
        k += 1;
        let db = db.clone();
        let id = format!("w{k}");
        async move {
            couch_sql!("INSERT INTO events (_id, tenant, n, kind) VALUES (?, 't007', 1, 'info')", id)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    read().await;
    let (r_up, w_up) = (median(30, read).await, median(30, &mut write).await);
    let kill = |verb: &str| {
        std::process::Command::new(&script).args([verb, "3", &dir]).status().expect("cluster.sh");
    };
    kill("kill");
    read().await;
    let (r_down, w_down) = (median(30, read).await, median(30, &mut write).await);
    kill("revive");
    println!();
    println!("| path (through node 1) | all 3 nodes up | node 3 down | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| SELECT … WHERE tenant = ? ORDER BY n LIMIT 100 | {} | {} | {:.2} |",
        ms(r_up),
        ms(r_down),
        r_down.as_secs_f64() / r_up.as_secs_f64()
    );
    println!(
        "| INSERT one row (w=2) | {} | {} | {:.2} |",
        ms(w_up),
        ms(w_down),
        w_down.as_secs_f64() / w_up.as_secs_f64()
    );
    db.drop_database().await?;
    Ok(())
}
