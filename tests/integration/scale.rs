//! Many documents and many tasks: no truncation at 25, exact counts under concurrency.

use crate::fresh_db;
use crate::models::users;
use couch_sql::{couch_sql, Database};

/// Inserts `n` users (ten per INSERT, several INSERTs in flight).
async fn insert_many(db: &Database, n: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..n / 10 {
        let db = db.clone();
        tasks.spawn(async move {
            let base = (chunk * 10) as i64;
            couch_sql!(
                "INSERT INTO users (name, age, active) VALUES (?, ?, true), (?, ?, true), (?, ?, true), (?, ?, true), (?, ?, true), (?, ?, true), (?, ?, true), (?, ?, true), (?, ?, true), (?, ?, true)",
                format!("u{}", base), base, format!("u{}", base + 1), base + 1, format!("u{}", base + 2), base + 2,
                format!("u{}", base + 3), base + 3, format!("u{}", base + 4), base + 4, format!("u{}", base + 5), base + 5,
                format!("u{}", base + 6), base + 6, format!("u{}", base + 7), base + 7, format!("u{}", base + 8), base + 8,
                format!("u{}", base + 9), base + 9
            )
            .execute(&db)
            .await
            .unwrap()
            .rows_affected()
        });
        if tasks.len() >= 8 {
            assert_eq!(tasks.join_next().await.unwrap().unwrap(), 10);
        }
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap(), 10);
    }
}

#[tokio::test]
async fn a_query_without_limit_returns_every_row() {
    let db = fresh_db("many").await;
    insert_many(&db, 3000).await;
    let all = couch_sql!("SELECT name, age FROM users WHERE active = true").fetch_all(&db).await.unwrap();
    assert_eq!(all.len(), 3000);
    let mut ages: Vec<i64> = all.iter().map(|r| r.age).collect();
    ages.sort();
    ages.dedup();
    assert_eq!(ages.len(), 3000, "no row twice");
    // Small pages exercise the paging loop; the sorted read pages through the index.
    let small = db.clone().with_page_size(700);
    let sorted = couch_sql!("SELECT age FROM users ORDER BY age DESC").fetch_all(&small).await.unwrap();
    assert_eq!(sorted.len(), 3000);
    assert!(sorted.windows(2).all(|w| w[0].age > w[1].age));
    let window =
        couch_sql!("SELECT age FROM users ORDER BY age LIMIT 1500 OFFSET 1000").fetch_all(&small).await.unwrap();
    assert_eq!(window.first().map(|r| r.age), Some(1000));
    assert_eq!(window.last().map(|r| r.age), Some(2499));
    assert_eq!(window.len(), 1500);
}

#[tokio::test]
async fn update_and_delete_reach_more_than_one_page() {
    let db = fresh_db("bulk").await.with_page_size(40).with_write_batch_size(25);
    insert_many(&db, 130).await;
    let n = couch_sql!("UPDATE users SET active = false WHERE age >= ?", 30).execute(&db).await.unwrap();
    assert_eq!(n.rows_affected(), 100);
    let inactive = couch_sql!("SELECT name FROM users WHERE active = false").fetch_all(&db).await.unwrap();
    assert_eq!(inactive.len(), 100);
    let d = couch_sql!("DELETE FROM users WHERE active = false").execute(&db).await.unwrap();
    assert_eq!(d.rows_affected(), 100);
    assert_eq!(couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap().len(), 30);
}

#[tokio::test]
async fn concurrent_inserts_and_queries_from_separate_tasks() {
    let db = fresh_db("concurrent").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200i64 {
        let db = db.clone();
        tasks.spawn(async move {
            couch_sql!("INSERT INTO users (name, age, active) VALUES (?, ?, ?)", format!("c{i}"), i % 10, i % 2 == 0)
                .execute(&db)
                .await
                .unwrap()
                .rows_affected()
        });
    }
    let mut inserted = 0;
    while let Some(r) = tasks.join_next().await {
        inserted += r.unwrap();
    }
    assert_eq!(inserted, 200);
    let mut queries = tokio::task::JoinSet::new();
    for i in 0..100i64 {
        let db = db.clone();
        queries.spawn(async move {
            let age = i % 10;
            let rows = couch_sql!("SELECT name FROM users WHERE age = ?", age).fetch_all(&db).await.unwrap();
            (age, rows.len())
        });
    }
    while let Some(r) = queries.join_next().await {
        let (age, n) = r.unwrap();
        assert_eq!(n, 20, "age {age}");
    }
    assert_eq!(couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap().len(), 200);
}
