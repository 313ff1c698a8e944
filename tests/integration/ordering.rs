//! ORDER BY, LIMIT and OFFSET.

use crate::fresh_db;
use crate::models::{items, users};
use couch_sql::{couch_sql, Database};

async fn seed_users(db: &Database) {
    couch_sql!(
        "INSERT INTO users (name, age, active) VALUES ('e', 50, true), ('a', 10, true), ('d', 40, false), ('b', 20, true), ('c', 30, false), ('f', 30, true)"
    )
    .execute(db)
    .await
    .unwrap();
}

fn names<T>(rows: &[T], f: impl Fn(&T) -> &str) -> String {
    rows.iter().map(f).collect()
}

#[tokio::test]
async fn order_by_works_on_a_fresh_database() {
    let db = fresh_db("order").await;
    seed_users(&db).await;
    // The first sorted query creates the index it needs; the second reuses it.
    let asc = couch_sql!("SELECT name FROM users ORDER BY name").fetch_all(&db).await.unwrap();
    assert_eq!(names(&asc, |r| &r.name), "abcdef");
    let desc =
        couch_sql!("SELECT name, age FROM users WHERE age >= ? ORDER BY age DESC", 20).fetch_all(&db).await.unwrap();
    assert_eq!(desc.iter().map(|r| r.age).collect::<Vec<_>>(), [50, 40, 30, 30, 20]);
    let again = couch_sql!("SELECT name FROM users WHERE active = true ORDER BY age DESC, name DESC")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(names(&again, |r| &r.name), "efba");
}

#[tokio::test]
async fn mixed_directions_are_finished_by_the_runtime() {
    let db = fresh_db("mixed").await;
    seed_users(&db).await;
    let rows = couch_sql!("SELECT name, age FROM users ORDER BY age DESC, name ASC").fetch_all(&db).await.unwrap();
    assert_eq!(names(&rows, |r| &r.name), "edcfba");
    let page =
        couch_sql!("SELECT name FROM users ORDER BY age ASC, name DESC LIMIT 3 OFFSET 1").fetch_all(&db).await.unwrap();
    assert_eq!(names(&page, |r| &r.name), "bfc");
}

#[tokio::test]
async fn limit_and_offset() {
    let db = fresh_db("limit").await;
    seed_users(&db).await;
    let first = couch_sql!("SELECT name FROM users ORDER BY name LIMIT 2").fetch_all(&db).await.unwrap();
    assert_eq!(names(&first, |r| &r.name), "ab");
    let next = couch_sql!("SELECT name FROM users ORDER BY name LIMIT ? OFFSET ?", 2, 2).fetch_all(&db).await.unwrap();
    assert_eq!(names(&next, |r| &r.name), "cd");
    let tail = couch_sql!("SELECT name FROM users ORDER BY name OFFSET 4").fetch_all(&db).await.unwrap();
    assert_eq!(names(&tail, |r| &r.name), "ef");
    let none = couch_sql!("SELECT name FROM users LIMIT 0").fetch_all(&db).await.unwrap();
    assert!(none.is_empty());
    let past = couch_sql!("SELECT name FROM users ORDER BY name LIMIT 10 OFFSET 10").fetch_all(&db).await.unwrap();
    assert!(past.is_empty());
    let unsorted = couch_sql!("SELECT name FROM users LIMIT 4").fetch_all(&db).await.unwrap();
    assert_eq!(unsorted.len(), 4);
    let err = couch_sql!("SELECT name FROM users LIMIT ?", -1).fetch_all(&db).await.unwrap_err();
    assert!(matches!(err, couch_sql::Error::Param(_)), "{err:?}");
}

#[tokio::test]
async fn order_by_a_nullable_column_keeps_null_and_absent_rows() {
    let db = fresh_db("order_null").await;
    couch_sql!("INSERT INTO items (label, c) VALUES ('a', 'Oslo'), ('b', NULL), ('d', 'Lima'), ('e', 'Bergen')")
        .execute(&db)
        .await
        .unwrap();
    couch_sql!("INSERT INTO items (label) VALUES ('c')").execute(&db).await.unwrap();
    let asc = couch_sql!("SELECT label, c FROM items ORDER BY c").fetch_all(&db).await.unwrap();
    assert_eq!(asc.len(), 5, "rows without the field are not dropped");
    assert!(asc[0].c.is_none() && asc[1].c.is_none(), "NULL sorts first ascending");
    assert_eq!(asc[2..].iter().map(|r| r.c.as_deref().unwrap()).collect::<Vec<_>>(), ["Bergen", "Lima", "Oslo"]);
    let desc = couch_sql!("SELECT label, c FROM items ORDER BY c DESC LIMIT 4").fetch_all(&db).await.unwrap();
    assert_eq!(desc[..3].iter().map(|r| r.c.as_deref().unwrap()).collect::<Vec<_>>(), ["Oslo", "Lima", "Bergen"]);
    assert!(desc[3].c.is_none(), "NULL sorts last descending");
    let nulls_last = couch_sql!("SELECT label FROM items ORDER BY c ASC NULLS LAST").fetch_all(&db).await.unwrap();
    assert_eq!(names(&nulls_last[..3], |r| &r.label), "eda");
    let star = couch_sql!("SELECT * FROM items ORDER BY c DESC").fetch_all(&db).await.unwrap();
    assert_eq!(star.len(), 5);
}
