//! WHERE, LIKE and parameters: what a query means, and that parameters are data.

use crate::fresh_db;
use crate::models::{items, users};
use couch_sql::{couch_sql, Database};

async fn labels(db: &Database, pattern: &str) -> Vec<String> {
    let rows = couch_sql!("SELECT label FROM items WHERE label LIKE ?", pattern).fetch_all(db).await.unwrap();
    crate::sorted(&rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>())
}

#[tokio::test]
async fn where_clause_operators() {
    let db = fresh_db("where").await;
    couch_sql!(
        "INSERT INTO users (name, age, email, active) VALUES ('Ann', 20, 'ann@x', true), ('Ben', 30, NULL, false), ('Cat', 40, 'cat@x', true), ('Dan', 50, 'dan@y', false)"
    )
    .execute(&db)
    .await
    .unwrap();
    macro_rules! names {
        ($sql:literal $(, $arg:expr)*) => {{
            let rows = couch_sql!($sql $(, $arg)*).fetch_all(&db).await.unwrap();
            crate::sorted(&rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>()).join(",")
        }};
    }
    assert_eq!(names!("SELECT name FROM users WHERE age = 30"), "Ben");
    assert_eq!(names!("SELECT name FROM users WHERE age > ? AND age <= ?", 20, 40), "Ben,Cat");
    assert_eq!(names!("SELECT name FROM users WHERE age < 25 OR age >= 50"), "Ann,Dan");
    assert_eq!(names!("SELECT name FROM users WHERE (age < 25 OR age >= 50) AND active"), "Ann");
    assert_eq!(names!("SELECT name FROM users WHERE NOT active"), "Ben,Dan");
    assert_eq!(names!("SELECT name FROM users WHERE active = false AND email IS NOT NULL"), "Dan");
    assert_eq!(names!("SELECT name FROM users WHERE name IN (?, ?, 'Zed')", "Ann", "Dan"), "Ann,Dan");
    assert_eq!(names!("SELECT name FROM users WHERE age NOT IN (20, 30)"), "Cat,Dan");
    assert_eq!(names!("SELECT name FROM users WHERE age BETWEEN ? AND ?", 25, 45), "Ben,Cat");
    assert_eq!(names!("SELECT name FROM users WHERE email LIKE '%@x'"), "Ann,Cat");
    assert_eq!(names!("SELECT name FROM users WHERE email NOT LIKE '%@x'"), "Dan");
    assert_eq!(names!("SELECT name FROM users WHERE name LIKE '_a_'"), "Cat,Dan");
    assert_eq!(names!("SELECT name FROM users WHERE users.age > 45"), "Dan");
    assert_eq!(names!("SELECT name FROM users WHERE age > 1.5e1 AND age < 20.5"), "Ann");
    assert_eq!(names!("SELECT name FROM users WHERE NOT (NOT (age = 40))"), "Cat");
}

#[tokio::test]
async fn like_treats_regex_metacharacters_in_data_as_text() {
    let db = fresh_db("like").await;
    couch_sql!(
        "INSERT INTO items (label) VALUES ('a.b'), ('axb'), ('c++'), ('cc'), ('50%'), ('500'), ('(x)'), ('x'), ('a\nb'), ('^$')"
    )
    .execute(&db)
    .await
    .unwrap();
    let rows = couch_sql!("SELECT label FROM items WHERE label LIKE 'a.b'").fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), ["a.b"]);
    let rows = couch_sql!("SELECT label FROM items WHERE label LIKE 'c++'").fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), ["c++"]);
    let rows = couch_sql!(r"SELECT label FROM items WHERE label LIKE '50\%'").fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), ["50%"]);
    let rows = couch_sql!("SELECT label FROM items WHERE label LIKE '50!%' ESCAPE '!'").fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), ["50%"]);
    // Bound patterns go through the same escaping (a search box).
    assert_eq!(labels(&db, "a.b").await, ["a.b"]);
    assert_eq!(labels(&db, "c++").await, ["c++"]);
    assert_eq!(labels(&db, "(x)").await, ["(x)"]);
    assert_eq!(labels(&db, "^$").await, ["^$"]);
    assert_eq!(labels(&db, "%.%").await, ["a.b"]);
    assert_eq!(labels(&db, "50%").await, ["50%", "500"]);
    assert_eq!(labels(&db, "a_b").await, ["a\nb", "a.b", "axb"], "_ matches any one character, newline included");
    assert_eq!(labels(&db, "x").await, ["x"], "LIKE is anchored at both ends");
    assert!(labels(&db, ".*").await.is_empty());
}

#[tokio::test]
async fn string_parameters_are_data_never_structure() {
    let db = fresh_db("inject").await;
    let hostile = [r#"{"$gt": null}"#, ".*", "' OR 1=1 --", r#"", "$or": [{}]"#, "?", ":name", "%"];
    for h in hostile {
        couch_sql!("INSERT INTO items (label, c) VALUES (?, ?)", h, h).execute(&db).await.unwrap();
    }
    couch_sql!("INSERT INTO items (label) VALUES ('plain')").execute(&db).await.unwrap();
    for h in hostile {
        let rows = couch_sql!("SELECT label, c FROM items WHERE label = ?", h).fetch_all(&db).await.unwrap();
        assert_eq!(rows.len(), 1, "{h:?} must match only itself");
        // Stored as the value bound, never as a placeholder.
        assert_eq!((rows[0].label.as_str(), rows[0].c.as_deref()), (h, Some(h)));
        let n = couch_sql!("SELECT label FROM items WHERE c <> ?", h).fetch_all(&db).await.unwrap().len();
        assert_eq!(n, hostile.len() - 1);
    }
    let all = couch_sql!("SELECT label FROM items").fetch_all(&db).await.unwrap();
    assert_eq!(all.len(), hostile.len() + 1);
    assert!(all.iter().all(|r| r.label != "?" || hostile.contains(&"?")));
    let n = couch_sql!("UPDATE items SET c = ? WHERE label = ?", "' OR 1=1 --", "plain")
        .execute(&db)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1);
    let plain = couch_sql!("SELECT c FROM items WHERE label = 'plain'").fetch_one(&db).await.unwrap();
    assert_eq!(plain.c.as_deref(), Some("' OR 1=1 --"));
}
