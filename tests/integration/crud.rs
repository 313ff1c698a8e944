//! Insert, select, update, delete, and the connection's life: what the Python dialect tested.

use crate::fresh_db;
use crate::models::{items, users, User};
use couch_sql::{couch_sql, Database, Error};

async fn seed(db: &Database) {
    let r = couch_sql!(
        "INSERT INTO users (name, age, email, active) VALUES (?, ?, ?, ?), ('Bo', 17, NULL, false), ('Cy', 45, 'cy@example.com', true)",
        "Alice",
        30,
        "a@example.com",
        true
    )
    .execute(db)
    .await
    .unwrap();
    assert_eq!(r.rows_affected(), 3);
    assert!(r.is_complete());
}

#[tokio::test]
async fn insert_then_select_reads_back_every_field() {
    let db = fresh_db("crud").await;
    seed(&db).await;
    let all = couch_sql!("SELECT * FROM users ORDER BY age").fetch_all(&db).await.unwrap();
    assert_eq!(all.len(), 3);
    let alice = &all[1];
    assert_eq!(
        (alice.name.as_str(), alice.age, alice.email.as_deref(), alice.active),
        ("Alice", 30, Some("a@example.com"), true)
    );
    assert!(alice.id.is_some() && alice.rev.as_deref().is_some_and(|r| r.starts_with("1-")));
    assert_eq!(all[0].email, None, "NULL was stored for Bo");
    let ages: Vec<i64> = all.iter().map(|u| u.age).collect();
    assert_eq!(ages, [17, 30, 45]);
}

#[tokio::test]
async fn multi_row_insert_returns_ids_and_revs() {
    let db = fresh_db("ids").await;
    let r =
        couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('u1', 'A', 1, true), ('u/2 +é', 'B', 2, false)")
            .execute(&db)
            .await
            .unwrap();
    let written: Vec<(&str, &str)> = r.written().collect();
    assert_eq!(written.len(), 2);
    assert_eq!(written[0].0, "u1");
    assert_eq!(written[1].0, "u/2 +é");
    let b = couch_sql!("SELECT name FROM users WHERE _id = ?", "u/2 +é").fetch_one(&db).await.unwrap();
    assert_eq!(b.name, "B");
    // The same id again is a duplicate key: an error, with the outcome kept.
    let err = couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('u1', 'A2', 9, true)")
        .execute(&db)
        .await
        .unwrap_err();
    let again = err.write_result().unwrap_or_else(|| panic!("{err:?}")).clone();
    assert_eq!(err.couch_error(), Some("conflict"));
    assert_eq!(again.rows_affected(), 0);
    assert!(again.outcomes()[0].is_conflict());
    assert!(matches!(again.check(), Err(Error::Conflict { id: Some(id), .. }) if id == "u1"));
}

#[tokio::test]
async fn a_statement_that_leaves_a_document_unwritten_is_an_error() {
    let db = fresh_db("partial").await;
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('taken', 'T', 1, true)").execute(&db).await.unwrap();
    // Three rows, one id taken: two land (CouchDB has no rollback), and the statement is an error.
    let err = couch_sql!(
        "INSERT INTO users (_id, name, age, active) VALUES ('n1', 'N1', 2, true), ('taken', 'X', 3, true), ('n2', 'N2', 4, true)"
    )
    .execute(&db)
    .await
    .unwrap_err();
    let Error::Write { result } = &err else { panic!("{err:?}") };
    assert_eq!(result.rows_affected(), 2);
    assert_eq!(result.outcomes().len(), 3);
    assert_eq!(result.failures().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["taken"]);
    assert!(err.to_string().contains("1 of 3 documents were not written"), "{err}");
    let names = couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap();
    assert_eq!(crate::sorted(&names.iter().map(|r| r.name.clone()).collect::<Vec<_>>()), ["N1", "N2", "T"]);
    // Opting in: the same outcomes as `Ok`.
    let r =
        couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('taken', 'Y', 5, true), ('n3', 'N3', 6, true)")
            .allow_partial()
            .execute(&db)
            .await
            .unwrap();
    assert_eq!((r.rows_affected(), r.failures().count()), (1, 1));
    // A batch follows the same rule.
    let mut batch = db.batch();
    batch.add(couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('taken', 'Z', 7, true)"));
    batch.add(couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('n4', 'N4', 8, true)"));
    let err = batch.commit().await.unwrap_err();
    assert_eq!(err.write_result().map(|r| (r.rows_affected(), r.failures().count())), Some((1, 1)));
    let mut batch = db.batch();
    batch.add(couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('taken', 'Z', 7, true)"));
    batch.allow_partial();
    assert_eq!(batch.commit().await.unwrap().failures().count(), 1);
    // Run-time SQL too.
    let err = couch_sql::query("INSERT INTO users (_id, name) VALUES ('taken', 'Q')").execute(&db).await.unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    let r = couch_sql::query("INSERT INTO users (_id, name) VALUES ('taken', 'Q')").execute_partial(&db).await.unwrap();
    assert_eq!(r.rows_affected(), 0);
}

#[tokio::test]
async fn update_changes_matching_documents_only() {
    let db = fresh_db("update").await;
    seed(&db).await;
    let n = couch_sql!("UPDATE users SET active = ?, email = ? WHERE age < ?", false, "minor@example.com", 18)
        .execute(&db)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1);
    let bo = couch_sql!("SELECT * FROM users WHERE name = 'Bo'").fetch_one(&db).await.unwrap();
    assert_eq!((bo.active, bo.email.as_deref()), (false, Some("minor@example.com")));
    assert!(bo.rev.unwrap().starts_with("2-"));
    let active = couch_sql!("SELECT name FROM users WHERE active = true").fetch_all(&db).await.unwrap();
    assert_eq!(crate::sorted(&active.iter().map(|r| r.name.clone()).collect::<Vec<_>>()), ["Alice", "Cy"]);
    // Fields the UPDATE does not name are kept.
    let alice = couch_sql!("SELECT * FROM users WHERE name = 'Alice'").fetch_one(&db).await.unwrap();
    assert_eq!(alice.email.as_deref(), Some("a@example.com"));
    let cleared = couch_sql!("UPDATE users SET email = NULL WHERE name = 'Alice'").execute(&db).await.unwrap();
    assert_eq!(cleared.rows_affected(), 1);
    let alice = couch_sql!("SELECT email FROM users WHERE name = 'Alice'").fetch_one(&db).await.unwrap();
    assert_eq!(alice.email, None);
}

#[tokio::test]
async fn delete_removes_matching_documents_only() {
    let db = fresh_db("delete").await;
    seed(&db).await;
    let r = couch_sql!("DELETE FROM users WHERE email IS NULL").execute(&db).await.unwrap();
    assert_eq!(r.rows_affected(), 1);
    let left = couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap();
    assert_eq!(crate::sorted(&left.iter().map(|r| r.name.clone()).collect::<Vec<_>>()), ["Alice", "Cy"]);
    let none = couch_sql!("DELETE FROM users WHERE age > 100").execute(&db).await.unwrap();
    assert_eq!(none.rows_affected(), 0);
    assert_eq!(couch_sql!("DELETE FROM users").execute(&db).await.unwrap().rows_affected(), 2);
    assert!(couch_sql!("SELECT * FROM users").fetch_all(&db).await.unwrap().is_empty());
}

#[tokio::test]
async fn cached_rows_iterate_by_reference_and_by_value() {
    let db = fresh_db("iter").await;
    seed(&db).await;
    let rows =
        couch_sql!("SELECT name, age FROM users WHERE age >= ? ORDER BY age DESC", 18).fetch_all(&db).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(!rows.is_empty());
    assert_eq!(rows.first().map(|r| r.age), Some(45));
    let mut seen = Vec::new();
    for row in &rows {
        seen.push(format!("{} is {}", row.name, row.age));
    }
    for row in &rows {
        assert!(row.age >= 18); // a second pass, no new request
    }
    assert_eq!(seen, ["Cy is 45", "Alice is 30"]);
    let names: Vec<String> = rows.into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["Cy", "Alice"]);
    let all: Vec<User> = couch_sql!("SELECT * FROM users").fetch_all(&db).await.unwrap().into_iter().collect();
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn fetch_one_and_fetch_optional() {
    let db = fresh_db("one").await;
    seed(&db).await;
    let cy = couch_sql!("SELECT name FROM users WHERE age > ?", 40).fetch_one(&db).await.unwrap();
    assert_eq!(cy.name, "Cy");
    let none = couch_sql!("SELECT name FROM users WHERE age > ?", 99).fetch_optional(&db).await.unwrap();
    assert!(none.is_none());
    let err = couch_sql!("SELECT name FROM users WHERE age > ?", 99).fetch_one(&db).await.unwrap_err();
    assert!(matches!(err, Error::RowNotFound), "{err:?}");
}

#[tokio::test]
async fn connection_lifecycle_and_ping() {
    let db = fresh_db("life").await;
    let info = db.ping().await.unwrap();
    assert!(info.version.is_some());
    let clone = db.clone();
    seed(&clone).await;
    drop(clone);
    // The original handle still works after its clone is dropped, and reuses the pool.
    for _ in 0..3 {
        assert_eq!(couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap().len(), 3);
    }
    let other = db.database("t_missing_database_for_lifecycle").unwrap();
    assert!(!other.exists().await.unwrap());
    let err = couch_sql!("SELECT name FROM users").fetch_all(&other).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(db.exists().await.unwrap());
    db.drop_database().await.unwrap();
    assert!(!db.exists().await.unwrap());
}

#[tokio::test]
async fn a_stopped_server_is_a_transport_error() {
    let db = Database::connect_lazy("http://127.0.0.1:9/nothing_listens_here").unwrap();
    let err = db.ping().await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(matches!(Database::connect("http://127.0.0.1:9/x").await, Err(Error::Transport(_))));
}

#[tokio::test]
async fn tables_sharing_a_database_never_see_each_other() {
    let db = fresh_db("tables").await;
    seed(&db).await;
    couch_sql!("INSERT INTO items (label, n) VALUES ('x', 1), ('y', 2)").execute(&db).await.unwrap();
    assert_eq!(couch_sql!("SELECT * FROM users").fetch_all(&db).await.unwrap().len(), 3);
    assert_eq!(couch_sql!("SELECT label FROM items").fetch_all(&db).await.unwrap().len(), 2);
    assert_eq!(couch_sql!("DELETE FROM items").execute(&db).await.unwrap().rows_affected(), 2);
    assert_eq!(couch_sql!("SELECT * FROM users").fetch_all(&db).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_field_that_does_not_decode_names_the_document_and_field() {
    let db = fresh_db("decode").await;
    {
        // The `people` table has two models in two modules; a `use` picks the one a query means.
        use crate::models::loose::people;
        couch_sql!("INSERT INTO people (_id, name, age) VALUES ('p1', 'Ann', 'thirty')").execute(&db).await.unwrap();
    }
    use crate::models::strict::people;
    let err = couch_sql!("SELECT * FROM people").fetch_all(&db).await.unwrap_err();
    match err {
        Error::Decode { doc_id, field, message } => {
            assert_eq!(doc_id.as_deref(), Some("p1"));
            assert_eq!(field.as_deref(), Some("age"));
            assert!(message.contains("thirty") || message.contains("string"), "{message}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    let err = couch_sql!("SELECT age FROM people").fetch_all(&db).await.unwrap_err();
    assert!(matches!(err, Error::Decode { doc_id: Some(_), field: Some(_), .. }), "{err:?}");
}

#[tokio::test]
async fn a_model_declared_inside_a_function_works() {
    #[derive(couch_sql::CouchRow, Debug, PartialEq)]
    #[couch(table = "notes")]
    struct Note {
        #[couch(id)]
        id: Option<String>,
        text: String,
        stars: Option<i64>,
    }
    let db = fresh_db("local").await;
    couch_sql!("INSERT INTO notes (_id, text, stars) VALUES ('n1', 'hi', 5), ('n2', 'yo', NULL)")
        .execute(&db)
        .await
        .unwrap();
    let notes = couch_sql!("SELECT * FROM notes ORDER BY stars DESC").fetch_all(&db).await.unwrap();
    assert_eq!(notes.first(), Some(&Note { id: Some("n1".into()), text: "hi".into(), stars: Some(5) }));
    // A variable named like a table is still a variable.
    let notes = notes.len();
    assert_eq!(notes, 2);
}
