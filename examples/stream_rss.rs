//! Shows that `fetch` (streaming) keeps memory bounded by the page size while
//! `fetch_all` grows with the row count.
//!
//! ```sh
//! scripts/with-server.sh cargo run --release --example stream_rss
//! ```
//!
//! For each row count it runs a child process that seeds a database through
//! `_bulk_docs`, resets the peak-RSS counter (Linux `/proc/self/clear_refs`),
//! reads every row, and reports the peak resident memory of the read alone.

use couch_sql::{couch_sql, CouchRow, Database};
use futures_util::StreamExt;

#[derive(CouchRow, Debug)]
#[couch(table = "events")]
struct Event {
    #[couch(id)]
    id: Option<String>,
    kind: String,
    payload: String,
    n: i64,
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn seed(server: &str, db: &Database, rows: usize) {
    let http = reqwest::Client::new();
    let url = format!("{server}/{}/_bulk_docs", db.name());
    for start in (0..rows).step_by(5000) {
        let docs: Vec<_> = (start..(start + 5000).min(rows))
            .map(|i| serde_json::json!({"type": "events", "kind": "click", "payload": "x".repeat(200), "n": i}))
            .collect();
        let r = http.post(&url).json(&serde_json::json!({ "docs": docs })).send().await.unwrap();
        assert!(r.status().is_success());
    }
}

async fn child(rows: usize, mode: &str) {
    let server = std::env::var("COUCHDB_URL").expect("COUCHDB_URL (use scripts/with-server.sh)");
    let db = Database::connect(&format!("{server}/rss_{mode}_{rows}")).await.unwrap();
    db.drop_database().await.ok();
    db.create_if_missing().await.unwrap();
    seed(&server, &db, rows).await;
    std::fs::write("/proc/self/clear_refs", "5").ok(); // reset VmHWM to the current RSS
    let before = status_kib("VmRSS:");
    let (count, sum) = if mode == "fetch" {
        let mut stream = couch_sql!("SELECT * FROM events").page_size(1000).fetch(&db);
        let (mut count, mut sum) = (0usize, 0i64);
        while let Some(row) = stream.next().await {
            let e: Event = row.unwrap();
            count += 1;
            assert!(e.id.is_some() && e.kind == "click" && e.payload.len() == 200);
            sum += e.n;
        }
        (count, sum)
    } else {
        let rows = couch_sql!("SELECT * FROM events").page_size(1000).fetch_all(&db).await.unwrap();
        (rows.len(), rows.iter().map(|e| e.n).sum())
    };
    let peak = status_kib("VmHWM:");
    assert_eq!(count, rows);
    assert_eq!(sum, (rows as i64 - 1) * rows as i64 / 2);
    db.drop_database().await.ok();
    println!("{rows} {mode} {before} {peak}");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--child" {
        return child(args[2].parse().unwrap(), &args[3]).await;
    }
    println!("| rows | API | RSS before read (MiB) | peak RSS during read (MiB) | growth (MiB) |");
    println!("|---:|---|---:|---:|---:|");
    for mode in ["fetch", "fetch_all"] {
        for rows in [20_000usize, 100_000] {
            let out = std::process::Command::new(&args[0]).args(["--child", &rows.to_string(), mode]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let line = String::from_utf8_lossy(&out.stdout);
            let v: Vec<u64> = line.split_whitespace().skip(2).filter_map(|x| x.parse().ok()).collect();
            let (before, peak) = (v[0] as f64 / 1024.0, v[1] as f64 / 1024.0);
            println!("| {rows} | `{mode}` | {before:.1} | {peak:.1} | {:.1} |", peak - before);
        }
    }
}
