//! The seed's benchmark scenarios through couch-sql (benches/seed/run.sh runs
//! this beside benches/seed/seed.py and prints the ratios). Prints one JSON
//! object: scenario -> {"s": seconds, "rows": n}.
//!
//! ```sh
//! cargo run --release --example seed_scenarios -- SERVER_ROOT DATABASE N
//! ```

use couch_sql::{couch_sql, CouchRow, Database};
use std::time::Instant;

#[derive(CouchRow, Debug)]
#[couch(table = "users")]
#[allow(dead_code)] // read whole by `SELECT *`
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

/// The single-row INSERT of document `i` (scenario a runs it, b batches it).
fn insert(i: i64) -> couch_sql::Command {
    let (name, email, city) = (format!("user{i}"), format!("u{i}@example.com"), format!("c{}", i % 10));
    couch_sql!(
        "INSERT INTO users (name, age, email, city, active, score) VALUES (?, ?, ?, ?, ?, ?)",
        name,
        i % 100,
        email,
        city,
        i % 2 == 0,
        i as f64 * 0.5
    )
}

async fn selective(db: &Database, i: i64) -> usize {
    couch_sql!("SELECT name, age FROM users WHERE age >= ? AND city = ? LIMIT 20", 90 - i % 10, format!("c{}", i % 10))
        .fetch_all(db)
        .await
        .unwrap()
        .len()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (root, name, n) = (&args[1], &args[2], args[3].parse::<i64>().unwrap());
    let db = Database::connect(&format!("{}/{name}", root.trim_end_matches('/'))).await.unwrap();
    db.create_if_missing().await.unwrap();
    let mut out = serde_json::Map::new();
    let mut timed = |name: &str, started: Instant, rows: usize| {
        out.insert(name.into(), serde_json::json!({"s": started.elapsed().as_secs_f64(), "rows": rows}));
    };

    let t = Instant::now();
    for i in 0..n {
        insert(i).execute(&db).await.unwrap();
    }
    timed("a", t, n as usize);

    let t = Instant::now();
    let mut batch = db.batch();
    for i in n..2 * n {
        batch.add(insert(i));
    }
    let written = batch.commit().await.unwrap().rows_affected();
    timed("b", t, written as usize);

    let t = Instant::now();
    let mut rows = 0;
    for i in 0..200 {
        rows += selective(&db, i).await;
    }
    timed("c", t, rows);

    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(50));
    for i in 0..200 {
        let (db, limit) = (db.clone(), limit.clone());
        tasks.spawn(async move {
            let _slot = limit.acquire().await.unwrap();
            selective(&db, i).await
        });
    }
    let mut rows = 0;
    while let Some(r) = tasks.join_next().await {
        rows += r.unwrap();
    }
    timed("g", t, rows);

    let t = Instant::now();
    let all = couch_sql!("SELECT * FROM users WHERE age >= ?", 0).fetch_all(&db).await.unwrap();
    timed("d", t, all.len());
    drop(all);

    let t = Instant::now();
    let top =
        couch_sql!("SELECT * FROM users WHERE age >= ? ORDER BY age DESC LIMIT 100", 0).fetch_all(&db).await.unwrap();
    timed("e", t, top.len());

    let t = Instant::now();
    let r = couch_sql!("UPDATE users SET score = 1.5 WHERE city = 'c3'").execute(&db).await.unwrap();
    timed("f_update", t, r.rows_affected() as usize);

    let t = Instant::now();
    let r = couch_sql!("DELETE FROM users WHERE age < 20").execute(&db).await.unwrap();
    timed("f_delete", t, r.rows_affected() as usize);

    println!("{}", serde_json::Value::Object(out));
}
