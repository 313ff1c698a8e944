//! Live queries: what a watcher sees is what the query means, change by change.

use crate::models::users;
use couch_sql::{couch_sql, Change, Database};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::time::Duration;

#[couch_sql::test(indexes = false)]
async fn a_watcher_sees_upserts_and_removals_and_resumes(db: Database) {
    let mut live = couch_sql!("SELECT name, age FROM users WHERE age >= ?", 18).watch(&db).await.unwrap();
    // Before the watch: never seen.
    let writer = db.clone();
    let writes = tokio::spawn(async move {
        for i in 0..30i64 {
            let name = format!("u{i}");
            couch_sql!("INSERT INTO users (_id, name, age, active) VALUES (?, ?, ?, true)", name.clone(), name, i)
                .execute(&writer)
                .await
                .unwrap();
        }
        // Five adults leave the WHERE, three are deleted, one child grows up.
        couch_sql!("UPDATE users SET age = 1 WHERE age >= 25").execute(&writer).await.unwrap();
        couch_sql!("DELETE FROM users WHERE age >= 18 AND age < 21").execute(&writer).await.unwrap();
        couch_sql!("UPDATE users SET age = 40 WHERE _id = 'u3'").execute(&writer).await.unwrap();
        // Another table's documents never appear.
        couch_sql::query("INSERT INTO orders (name, age) VALUES ('o', 99)").execute(&writer).await.unwrap();
    });
    // Every Upsert not yet removed is a row the query would return now.
    let mut matching: HashSet<String> = HashSet::new();
    let expected: HashSet<String> = ["u3", "u21", "u22", "u23", "u24"].iter().map(|s| s.to_string()).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut resume = String::new();
    writes.await.unwrap();
    while matching != expected {
        let next = tokio::time::timeout_at(deadline, live.next())
            .await
            .unwrap_or_else(|_| panic!("the changes arrive: have {matching:?}"))
            .unwrap();
        match next.unwrap() {
            Change::Upsert { id, row } => {
                assert!(row.age >= 18, "{id} does not match: {row:?}");
                assert!(id.starts_with('u'), "another table's document: {id}");
                matching.insert(id);
            }
            Change::Removed { id } => {
                assert!(matching.remove(&id), "{id} was removed without being delivered");
            }
        }
        resume = live.last_seq();
    }
    let rows = couch_sql!("SELECT _id FROM users WHERE age >= 18").fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r._id.clone()).collect::<HashSet<_>>(), matching);
    // Resuming from the last sequence: later changes only, none repeated.
    let mut again =
        couch_sql!("SELECT name, age FROM users WHERE age >= ?", 18).watch_from(&db, &resume).await.unwrap();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('late', 'late', 50, true)")
        .execute(&db)
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(20), again.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&next, Change::Upsert { id, .. } if id == "late"), "{next:?}");
}

#[couch_sql::test(indexes = false)]
fn the_blocking_api_iterates_the_same_changes(db: couch_sql::blocking::Database) {
    let mut live = couch_sql!("SELECT name, age FROM users WHERE age >= ?", 18).watch_iter(&db).unwrap();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('a', 'a', 30, true), ('b', 'b', 5, true)")
        .execute(&db)
        .unwrap();
    assert!(matches!(live.next().unwrap().unwrap(), Change::Upsert { id, row } if id == "a" && row.age == 30));
    couch_sql!("DELETE FROM users WHERE _id = 'a'").execute(&db).unwrap();
    assert!(matches!(live.next().unwrap().unwrap(), Change::Removed { id } if id == "a"));
    assert!(!live.last_seq().is_empty());
}
