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

#[tokio::test]
async fn lazy_policy_creates_the_index_on_first_run_and_uses_it() {
    let db = fresh_db("lazy").await.with_index_policy(IndexPolicy::Lazy);
    couch_sql!("INSERT INTO users (name, age, active) VALUES ('A', 95, true), ('B', 95, false), ('C', 5, true)")
        .execute(&db)
        .await
        .unwrap();
    let q = couch_sql!("SELECT name FROM users WHERE age >= ? AND active = ?", 90, true);
    assert_eq!(q.planned_index().as_deref(), Some("couchsql-type-active-age"));
    let rows = q.fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["A"]);
    let e = couch_sql!("EXPLAIN SELECT name FROM users WHERE age >= ? AND active = ?", 90, true)
        .explain(&db)
        .await
        .unwrap();
    assert_eq!(e.index.name, "couchsql-type-active-age");
    // Never: no planned index is named, the server chooses.
    let never = db.clone().with_index_policy(IndexPolicy::Never);
    let e = couch_sql!("EXPLAIN SELECT name FROM users WHERE name = ?", "A").explain(&never).await.unwrap();
    assert_ne!(e.index.name, "couchsql-type-name");
}
