//! Compile-time index planning, checked against the server's own `_explain`.

use crate::fresh_db;
use crate::models::users;
use couch_sql::__private::PlannedIndex;
use couch_sql::{couch_sql, planned_indexes, IndexPolicy};

#[tokio::test]
async fn the_server_picks_the_planned_index_for_every_compiled_query() {
    let db = fresh_db("plan").await.with_index_policy(IndexPolicy::Explicit);
    let specs = planned_indexes();
    assert!(specs.iter().any(|s| s.name == "couchsql-type-age" && s.tables.contains(&"users")), "{specs:#?}");
    let first = db.ensure_indexes().await.unwrap();
    assert_eq!(first.len(), specs.len() + couch_sql::planned_views().len(), "the planned indexes, then the views");
    assert!(first.iter().all(|e| e.created), "{first:?}");
    let again = db.ensure_indexes().await.unwrap();
    assert!(again.iter().all(|e| !e.created), "ensure_indexes is idempotent: {again:?}");
    couch_sql!("INSERT INTO users (name, age, active) VALUES ('A', 1, true), ('B', 2, false)")
        .execute(&db)
        .await
        .unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for p in PlannedIndex::all() {
        match p.explain(&db).await {
            Ok(e) if e.index.name == p.name() => checked += 1,
            Ok(e) => failures.push(format!("{}: planned {}, server used {}", p.sql, p.name(), e.index.name)),
            Err(e) => failures.push(format!("{}: {e}", p.sql)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries:\n{}",
        failures.len(),
        checked + failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 100, "only {checked} registered queries");
}

/// Whether the index `name` exists within a few seconds (the lazy policy makes it
/// in the background).
pub async fn eventually_indexed(db: &couch_sql::Database, name: &str) -> bool {
    for _ in 0..100 {
        let v = db.request("GET", "_index", None).await.unwrap();
        if v["indexes"].as_array().unwrap().iter().any(|i| i["name"] == name) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// The lazy policy makes a planned index once a run has shown that it pays (the
/// server examined many more documents than it returned), in the background, and
/// later runs read through it; a query that reads most of its table makes none.
#[tokio::test]
async fn lazy_policy_creates_the_index_once_a_run_shows_it_pays() {
    let db = fresh_db("lazy").await.with_index_policy(IndexPolicy::Lazy);
    let mut batch = db.batch();
    for i in 0..300i64 {
        batch.add(couch_sql!(
            "INSERT INTO users (name, age, active) VALUES (?, ?, ?)",
            format!("u{i}"),
            i % 100,
            i % 2 == 0
        ));
    }
    batch.commit().await.unwrap();
    // Not selective: every row of the table. No index is made.
    let all = couch_sql!("SELECT name FROM users WHERE age >= ?", 0).fetch_all(&db).await.unwrap();
    assert_eq!(all.len(), 300);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!eventually_indexed_now(&db, "couchsql-type-age").await, "a scan of the whole table made an index");
    // Selective: 3 rows of 300. Its first run is answered without the index, which is made after it.
    let q = couch_sql!("SELECT name FROM users WHERE age >= ? AND active = ?", 99, false);
    assert_eq!(q.planned_index().as_deref(), Some("couchsql-type-active-age"));
    let rows = q.fetch_all(&db).await.unwrap();
    let mut names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["u199", "u299", "u99"]);
    assert!(eventually_indexed(&db, "couchsql-type-active-age").await, "the selective run made its index");
    let e = couch_sql!("EXPLAIN SELECT name FROM users WHERE age >= ? AND active = ?", 99, false)
        .explain(&db)
        .await
        .unwrap();
    assert_eq!(e.index.name, "couchsql-type-active-age");
    // Never: no planned index is named, the server chooses.
    let never = db.clone().with_index_policy(IndexPolicy::Never);
    let e = couch_sql!("EXPLAIN SELECT name FROM users WHERE name = ?", "A").explain(&never).await.unwrap();
    assert_ne!(e.index.name, "couchsql-type-name");
}

async fn eventually_indexed_now(db: &couch_sql::Database, name: &str) -> bool {
    let v = db.request("GET", "_index", None).await.unwrap();
    v["indexes"].as_array().unwrap().iter().any(|i| i["name"] == name)
}
