//! Many writers on one document, with default settings: how long N concurrent
//! `UPDATE counters SET n = n + 1 WHERE _id = ?` take, and whether all land.
//!
//! ```sh
//! scripts/with-server.sh cargo run --release --example contention
//! COUCH_SQL_SERVER=couchdb scripts/with-server.sh cargo run --release --example contention
//! ```

use couch_sql::{couch_sql, CouchRow, Database};
use std::time::Instant;

#[derive(CouchRow, Debug)]
#[couch(table = "counters")]
#[allow(dead_code)] // the model declares the table; this example reads `n` through a projection
struct Counter {
    #[couch(id)]
    id: Option<String>,
    n: i64,
}

#[tokio::main]
async fn main() -> couch_sql::Result<()> {
    let server = std::env::var("COUCHDB_URL").expect("COUCHDB_URL (use scripts/with-server.sh)");
    let info = Database::connect_lazy(&format!("{server}/probe"))?.ping().await?;
    println!(
        "server: {} {}",
        if info.is_pouchdb() { "pouchdb-server" } else { "CouchDB" },
        info.version.unwrap_or_default()
    );
    println!("| writers | final n | time | requests |");
    println!("|---:|---:|---:|---:|");
    for writers in [100usize, 500] {
        let db = Database::connect(&format!("{server}/contention_{writers}_{}", std::process::id())).await?;
        db.create_if_missing().await?;
        couch_sql!("INSERT INTO counters (_id, n) VALUES ('c', 0)").execute(&db).await?;
        let before = db.request_count();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..writers {
            let db = db.clone();
            tasks.spawn(
                async move { couch_sql!("UPDATE counters SET n = n + 1 WHERE _id = ?", "c").execute(&db).await },
            );
        }
        let mut failed = 0;
        while let Some(r) = tasks.join_next().await {
            if r.expect("task").is_err() {
                failed += 1;
            }
        }
        let took = started.elapsed();
        let n = couch_sql!("SELECT n FROM counters WHERE _id = 'c'").fetch_one(&db).await?.n;
        println!(
            "| {writers} | {n}{} | {:.2} s | {} |",
            if failed > 0 { format!(" ({failed} errors)") } else { String::new() },
            took.as_secs_f64(),
            db.request_count() - before
        );
        db.drop_database().await?;
    }
    Ok(())
}
