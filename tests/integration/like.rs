//! LIKE means characters, and costs time linear in the text, on both servers.

use crate::fresh_db;
use crate::models::items;
use couch_sql::{couch_sql, query, Database};
use std::time::{Duration, Instant};

async fn labels(db: &Database, sql: &str, pattern: &str) -> String {
    let rows = query(sql).bind(pattern).fetch_all(db).await.unwrap_or_else(|e| panic!("{sql} {pattern:?}: {e}"));
    let mut v: Vec<String> = rows.iter().map(|r| r["label"].as_str().unwrap().to_string()).collect();
    v.sort();
    v.join(",")
}

#[tokio::test]
async fn underscore_is_one_character_not_a_byte_or_a_utf16_unit() {
    let db = fresh_db("like_chars").await;
    couch_sql!(
        "INSERT INTO items (label, c) VALUES ('cafe', 'café'), ('jp', '日本'), ('emoji', '😀'), ('aeb', 'a😀b'), ('ab', 'ab'), ('nl', 'a\nb')"
    )
    .execute(&db)
    .await
    .unwrap();
    let sql = "SELECT label FROM items WHERE c LIKE ?";
    for (pattern, want) in [
        ("caf_", "cafe"),
        ("日_", "jp"),
        ("_", "emoji"),
        ("__", "ab,jp"),
        ("a_b", "aeb,nl"),
        ("%_b", "ab,aeb,nl"),
        ("___", "aeb,nl"),
        ("%😀%", "aeb,emoji"),
        ("_%_", "ab,aeb,cafe,jp,nl"),
        ("%é", "cafe"),
    ] {
        assert_eq!(labels(&db, sql, pattern).await, want, "LIKE {pattern:?}");
    }
    let not = "SELECT label FROM items WHERE c NOT LIKE ?";
    assert_eq!(labels(&db, not, "__").await, "aeb,cafe,emoji,nl");
    assert_eq!(labels(&db, not, "_").await, "ab,aeb,cafe,jp,nl");
    // Compiled patterns take the same path.
    let rows = couch_sql!("SELECT label FROM items WHERE c LIKE 'caf_' OR c LIKE '_'").fetch_all(&db).await.unwrap();
    assert_eq!(crate::sorted(&rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>()), ["cafe", "emoji"]);
}

#[tokio::test]
async fn patterns_with_many_wildcards_are_linear_and_exact() {
    let db = fresh_db("like_linear").await;
    let short = format!("{}c", "a".repeat(1_000));
    let long = format!("{}c", "a".repeat(100_000));
    couch_sql!("INSERT INTO items (label, c) VALUES ('short', ?), ('long', ?)", short, long)
        .execute(&db)
        .await
        .unwrap();
    let like = "SELECT label FROM items WHERE c LIKE ?";
    let not = "SELECT label FROM items WHERE c NOT LIKE ?";
    let started = Instant::now();
    for (sql, pattern, want) in [
        (like, "%a%a%a%a%a%b", ""),
        (not, "%a%a%a%a%a%b", "long,short"),
        (like, "%a%a%a%a%a%", "long,short"),
        (not, "%a%a%a%a%a%", ""),
        (not, "%a%b", "long,short"),
        (not, "%a%a%b", "long,short"),
        (like, "%a%a%c", "long,short"),
        (like, "a%a_c", "long,short"),
        (like, "%aac_", ""),
    ] {
        assert_eq!(labels(&db, sql, pattern).await, want, "{sql} {pattern:?}");
    }
    // Not a benchmark: a guard against the backtracking regex, which took minutes here.
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_prefix_pattern_uses_begins_with_where_the_server_has_it() {
    let db = fresh_db("like_prefix").await;
    couch_sql!("INSERT INTO items (label, c) VALUES ('a', 'Oslo'), ('b', 'Osaka'), ('c', 'Lima'), ('d', 'Os')")
        .execute(&db)
        .await
        .unwrap();
    let rows = couch_sql!("SELECT label FROM items WHERE c LIKE 'Os%'").fetch_all(&db).await.unwrap();
    assert_eq!(crate::sorted(&rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>()), ["a", "b", "d"]);
    let rows = couch_sql!("SELECT label FROM items WHERE c LIKE ?", "Osl%").fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), ["a"]);
    db.ensure_indexes().await.unwrap();
    let plan = couch_sql!("EXPLAIN SELECT label FROM items WHERE c LIKE 'Os%'").explain(&db).await.unwrap();
    // pouchdb-server 4.2.0 has no `$beginsWith`: the prefix is a string range there.
    let op = if crate::is_pouchdb().await { "$lt" } else { "$beginsWith" };
    assert!(plan.selector.to_string().contains(op), "{plan:?}");
    assert_eq!(plan.index.name, "couchsql-type-c", "{plan:?}");
    let range = plan.range.unwrap_or_default().to_string();
    assert!(range.contains("Os"), "the index is read from the prefix on: {range}");
}
