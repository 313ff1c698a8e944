//! Tables of databases other programs wrote: another discriminator field, or an `_id` prefix.

use crate::{get_raw, put_raw, sorted};
use couch_sql::{couch_sql, CouchRow, Database};
use serde_json::json;

mod by_field {
    use couch_sql::CouchRow;

    /// Documents whose `doc_type` is "users"; `type` is an ordinary column here.
    #[derive(CouchRow, Debug, Clone, PartialEq)]
    #[couch(table = "users", type_field = "doc_type")]
    pub struct Member {
        #[couch(id)]
        pub id: Option<String>,
        pub name: String,
        pub age: i64,
        pub r#type: Option<String>,
    }

    /// A discriminator that Mango would read as an operator unless escaped.
    #[derive(CouchRow, Debug, Clone, PartialEq)]
    #[couch(table = "notes", type_field = "$doctype")]
    pub struct Note {
        pub title: String,
        pub n: i64,
    }
}

/// Documents whose `_id` starts with `user:`; no `type` field at all.
#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "accounts", id_prefix = "user:")]
struct Account {
    #[couch(id)]
    id: Option<String>,
    #[couch(rev)]
    rev: Option<String>,
    name: String,
    age: i64,
}

#[couch_sql::test]
async fn another_discriminator_field(db: Database) {
    use by_field::{users, Member};
    couch_sql!("INSERT INTO users (id, name, age, type) VALUES ('m1', 'Ann', 40, 'admin'), ('m2', 'Bob', 20, NULL)")
        .execute(&db)
        .await
        .unwrap();
    let stored = get_raw(&db, "m1").await;
    assert_eq!((stored["doc_type"].clone(), stored["type"].clone()), (json!("users"), json!("admin")));
    // Written by another program: one more member, and look-alikes of other tables.
    put_raw(
        &db,
        json!([
            {"_id": "m3", "doc_type": "users", "name": "Cy", "age": 30},
            {"_id": "x1", "type": "users", "name": "NotAMember", "age": 50},
            {"_id": "x2", "doc_type": "orders", "name": "Order", "age": 60},
        ]),
    )
    .await;
    let rows: Vec<Member> = couch_sql!("SELECT * FROM users ORDER BY age DESC").fetch_all(&db).await.unwrap().to_vec();
    assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["Ann", "Cy", "Bob"]);
    assert_eq!(rows[0].r#type.as_deref(), Some("admin"));
    let adults =
        couch_sql!("SELECT name FROM users WHERE age >= ? AND type IS NULL", 25i64).fetch_all(&db).await.unwrap();
    assert_eq!(adults.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["Cy"]);
    // By id: only the table's documents.
    let found = couch_sql!("SELECT name FROM users WHERE id IN ('m1', 'x1', 'x2')").fetch_all(&db).await.unwrap();
    assert_eq!(found.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["Ann"]);
    let n = couch_sql!("UPDATE users SET age = age + 1 WHERE age < 100").execute(&db).await.unwrap();
    assert_eq!(n.rows_affected(), 3);
    assert_eq!(get_raw(&db, "x1").await["age"], json!(50), "other tables are untouched");
    let n = couch_sql!("DELETE FROM users").execute(&db).await.unwrap();
    assert_eq!(n.rows_affected(), 3);
    assert_eq!(get_raw(&db, "x2").await["name"], json!("Order"));
    let _ = Member { id: None, name: String::new(), age: 0, r#type: None };
}

#[couch_sql::test]
async fn a_discriminator_starting_with_dollar_is_escaped(db: Database) {
    use by_field::notes;
    couch_sql!("INSERT INTO notes (title, n) VALUES ('a', 1), ('b', 2), ('c', 3)").execute(&db).await.unwrap();
    put_raw(&db, json!([{"_id": "o", "$doctype": "other", "title": "z", "n": 9}])).await;
    let rows = couch_sql!("SELECT title FROM notes WHERE n >= ? ORDER BY n DESC", 2i64).fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.title.as_str()).collect::<Vec<_>>(), ["c", "b"]);
    let all = couch_sql!("SELECT title FROM notes").fetch_all(&db).await.unwrap();
    assert_eq!(sorted(&all.iter().map(|r| r.title.clone()).collect::<Vec<_>>()), ["a", "b", "c"]);
}

#[couch_sql::test]
async fn id_prefix_tables(db: Database) {
    let res =
        couch_sql!("INSERT INTO accounts (name, age) VALUES ('Ann', 40), ('Bob', 20)").execute(&db).await.unwrap();
    for o in res.outcomes() {
        assert!(o.id.starts_with("user:"), "a made id carries the prefix: {}", o.id);
        let doc = get_raw(&db, &o.id).await;
        assert_eq!(doc.get("type"), None, "no discriminator field is written");
    }
    // An id given without the prefix gets it; one with it is kept.
    couch_sql!("INSERT INTO accounts (id, name, age) VALUES ('42', 'Cy', 30), ('user:7', 'Di', 50)")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(get_raw(&db, "user:42").await["name"], json!("Cy"));
    assert_eq!(get_raw(&db, "user:7").await["name"], json!("Di"));
    put_raw(
        &db,
        json!([
            {"_id": "user:legacy", "name": "Eve", "age": 60, "type": "whatever"},
            {"_id": "order:1", "name": "Order", "age": 70},
            {"_id": "user", "name": "NoColon", "age": 80},
            {"_id": "userz:1", "name": "Z", "age": 90},
        ]),
    )
    .await;
    let all = couch_sql!("SELECT * FROM accounts").fetch_all(&db).await.unwrap();
    assert_eq!(sorted(&all.iter().map(|r| r.name.clone()).collect::<Vec<_>>()), ["Ann", "Bob", "Cy", "Di", "Eve"]);
    assert!(all.iter().all(|r| r.id.as_deref().is_some_and(|i| i.starts_with("user:")) && r.rev.is_some()));
    let rows = couch_sql!("SELECT name FROM accounts WHERE age > ? ORDER BY age", 25i64).fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["Cy", "Ann", "Di", "Eve"]);
    let mut by_id: Vec<_> = all.iter().map(|r| (r.id.clone().unwrap(), r.name.clone())).collect();
    by_id.sort();
    let rows = couch_sql!("SELECT name FROM accounts ORDER BY id DESC LIMIT 2").fetch_all(&db).await.unwrap();
    let last_two: Vec<_> = by_id.iter().rev().take(2).map(|(_, n)| n.clone()).collect();
    assert_eq!(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>(), last_two);
    let found = couch_sql!("SELECT name FROM accounts WHERE id IN ('user:42', 'order:1', 'userz:1')")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["Cy"]);
    let none = couch_sql!("SELECT name FROM accounts WHERE id = ?", "order:1").fetch_optional(&db).await.unwrap();
    assert_eq!(none, None);
    let n = couch_sql!("UPDATE accounts SET age = 0 WHERE age >= 50").execute(&db).await.unwrap();
    assert_eq!(n.rows_affected(), 2);
    assert_eq!(get_raw(&db, "order:1").await["age"], json!(70));
    assert_eq!(get_raw(&db, "userz:1").await["age"], json!(90));
    let n = couch_sql!("DELETE FROM accounts").execute(&db).await.unwrap();
    assert_eq!(n.rows_affected(), 5);
    assert_eq!(get_raw(&db, "user").await["name"], json!("NoColon"));
    // A CouchDB cluster's copies take their own time to agree on the deletions.
    let mut left = couch_sql!("SELECT name FROM accounts").fetch_all(&db).await.unwrap().len();
    for _ in 0..50 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = couch_sql!("SELECT name FROM accounts").fetch_all(&db).await.unwrap().len();
    }
    assert_eq!(left, 0, "every account was deleted");
}

/// A live query on each kind of table: an `_id` prefix, another field, a `$` field.
#[couch_sql::test(indexes = false)]
async fn live_queries_on_every_kind_of_table(db: Database) {
    use by_field::{notes, users};
    use couch_sql::Change;
    use futures_util::StreamExt;
    use std::time::Duration;
    async fn next<R: std::fmt::Debug>(w: &mut couch_sql::Watch<R>) -> Change<R> {
        tokio::time::timeout(Duration::from_secs(20), w.next()).await.expect("a change").unwrap().unwrap()
    }
    let mut accounts = couch_sql!("SELECT name FROM accounts WHERE age > 18").watch(&db).await.unwrap();
    let mut members = couch_sql!("SELECT name FROM users WHERE age > 18").watch(&db).await.unwrap();
    let mut notes = couch_sql!("SELECT title FROM notes WHERE n > 1").watch(&db).await.unwrap();
    // Look-alikes of other tables first: none of them may appear.
    put_raw(
        &db,
        json!([
            {"_id": "other:1", "name": "x", "age": 50},
            {"_id": "m0", "type": "users", "name": "x", "age": 50},
            {"_id": "n0", "doctype": "notes", "title": "x", "n": 5},
        ]),
    )
    .await;
    couch_sql!("INSERT INTO accounts (id, name, age) VALUES ('user:a', 'A', 30)").execute(&db).await.unwrap();
    couch_sql!("INSERT INTO users (id, name, age) VALUES ('m1', 'M', 30)").execute(&db).await.unwrap();
    couch_sql!("INSERT INTO notes (title, n) VALUES ('T', 3)").execute(&db).await.unwrap();
    assert!(matches!(next(&mut accounts).await, Change::Upsert { id, row } if id == "user:a" && row.name == "A"));
    assert!(matches!(next(&mut members).await, Change::Upsert { id, row } if id == "m1" && row.name == "M"));
    let note = next(&mut notes).await;
    assert!(matches!(&note, Change::Upsert { row, .. } if row.title == "T"), "{note:?}");
    // Deleted: each is Removed (the tombstone keeps its table).
    couch_sql!("DELETE FROM accounts").execute(&db).await.unwrap();
    couch_sql!("DELETE FROM users").execute(&db).await.unwrap();
    couch_sql!("DELETE FROM notes").execute(&db).await.unwrap();
    assert_eq!(next(&mut accounts).await, Change::Removed { id: "user:a".into() });
    assert_eq!(next(&mut members).await, Change::Removed { id: "m1".into() });
    assert_eq!(next(&mut notes).await, Change::Removed { id: note.id().to_string() });
    // The tombstone written by DELETE carries the table's field (CouchDB keeps a deleted body).
    let feed = db.request("GET", "_changes?include_docs=true", None).await.unwrap();
    let m1 = feed["results"].as_array().unwrap().iter().find(|r| r["id"] == "m1").unwrap();
    assert_eq!(m1["deleted"], true);
    assert_eq!(m1["doc"]["doc_type"], "users", "{m1}");
}
