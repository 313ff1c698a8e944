//! SQL NULL semantics, on documents where the column is a value, null, or absent.
//!
//! CouchDB and pouchdb-server disagree on `$ne`, `$nin` and `$not` over null
//! and absent fields; these tests pin the SQL meaning, which must hold on both.

use crate::fresh_db;
use crate::models::items;
use couch_sql::{couch_sql, Database};

/// a: "Oslo", b: null, c: absent, d: "Lima"; n: a=5, b=null, c=absent, d=-1.
async fn seed(db: &Database) {
    couch_sql!(
        "INSERT INTO items (_id, label, c, n) VALUES ('a', 'a', 'Oslo', 5), ('b', 'b', NULL, NULL), ('d', 'd', 'Lima', -1)"
    )
    .execute(db)
    .await
    .unwrap();
    couch_sql!("INSERT INTO items (_id, label) VALUES ('c', 'c')").execute(db).await.unwrap();
}

fn labels<T>(rows: &[T], f: impl Fn(&T) -> &str) -> String {
    let mut v: Vec<&str> = rows.iter().map(f).collect();
    v.sort();
    v.concat()
}

macro_rules! check {
    ($db:expr, $sql:literal $(, $arg:expr)* => $expect:literal) => {{
        let rows = couch_sql!($sql $(, $arg)*).fetch_all(&$db).await.unwrap();
        assert_eq!(labels(&rows, |r| r.label.as_str()), $expect, "{}", $sql);
    }};
}

#[tokio::test]
async fn comparisons_never_match_null_or_absent() {
    let db = fresh_db("nulls_cmp").await;
    seed(&db).await;
    check!(db, "SELECT label FROM items WHERE c = 'Oslo'" => "a");
    check!(db, "SELECT label FROM items WHERE c != 'Oslo'" => "d");
    check!(db, "SELECT label FROM items WHERE c <> 'Oslo'" => "d");
    check!(db, "SELECT label FROM items WHERE NOT (c = 'Oslo')" => "d");
    check!(db, "SELECT label FROM items WHERE c < 'M'" => "d");
    check!(db, "SELECT label FROM items WHERE c >= 'A'" => "ad");
    check!(db, "SELECT label FROM items WHERE NOT c >= 'M'" => "d");
    check!(db, "SELECT label FROM items WHERE n < 10" => "ad");
    check!(db, "SELECT label FROM items WHERE n > -100" => "ad");
    check!(db, "SELECT label FROM items WHERE NOT (n > 0)" => "d");
}

#[tokio::test]
async fn in_between_like_and_their_negations_skip_nulls() {
    let db = fresh_db("nulls_ops").await;
    seed(&db).await;
    check!(db, "SELECT label FROM items WHERE c IN ('Oslo', 'Lima')" => "ad");
    check!(db, "SELECT label FROM items WHERE c NOT IN ('Oslo')" => "d");
    check!(db, "SELECT label FROM items WHERE NOT c IN ('Oslo')" => "d");
    check!(db, "SELECT label FROM items WHERE c NOT IN ('x', NULL)" => "");
    check!(db, "SELECT label FROM items WHERE c IN ('Oslo', NULL)" => "a");
    check!(db, "SELECT label FROM items WHERE c BETWEEN 'A' AND 'M'" => "d");
    check!(db, "SELECT label FROM items WHERE c NOT BETWEEN 'A' AND 'M'" => "a");
    check!(db, "SELECT label FROM items WHERE n BETWEEN 0 AND 10" => "a");
    check!(db, "SELECT label FROM items WHERE NOT n BETWEEN 0 AND 10" => "d");
    check!(db, "SELECT label FROM items WHERE c LIKE 'O%'" => "a");
    check!(db, "SELECT label FROM items WHERE c NOT LIKE 'O%'" => "d");
    check!(db, "SELECT label FROM items WHERE NOT (c LIKE '%i%')" => "a");
}

#[tokio::test]
async fn is_null_matches_null_and_absent() {
    let db = fresh_db("nulls_is").await;
    seed(&db).await;
    check!(db, "SELECT label FROM items WHERE c IS NULL" => "bc");
    check!(db, "SELECT label FROM items WHERE c IS NOT NULL" => "ad");
    check!(db, "SELECT label FROM items WHERE NOT (c IS NULL)" => "ad");
    check!(db, "SELECT label FROM items WHERE c IS NULL OR c = 'Lima'" => "bcd");
    check!(db, "SELECT label FROM items WHERE n IS NULL AND c IS NULL" => "bc");
    // Projections omit absent fields: they decode as None.
    let rows = couch_sql!("SELECT label, c, n FROM items WHERE label = 'c'").fetch_one(&db).await.unwrap();
    assert_eq!((rows.c, rows.n), (None, None));
}

#[tokio::test]
async fn null_parameters_make_comparisons_unknown() {
    let db = fresh_db("nulls_param").await;
    seed(&db).await;
    let none: Option<&str> = None;
    check!(db, "SELECT label FROM items WHERE c = ?", none => "");
    check!(db, "SELECT label FROM items WHERE c <> ?", none => "");
    check!(db, "SELECT label FROM items WHERE NOT (c = ?)", none => "");
    check!(db, "SELECT label FROM items WHERE c = ? OR n = 5", none => "a");
    check!(db, "SELECT label FROM items WHERE c IN (?, 'Lima')", none => "d");
    check!(db, "SELECT label FROM items WHERE c NOT IN (?, 'Lima')", none => "");
    check!(db, "SELECT label FROM items WHERE c = ?", Some("Oslo") => "a");
    check!(db, "SELECT label FROM items WHERE c = ?", "Oslo" => "a");
}
