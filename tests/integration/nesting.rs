//! Every WHERE operator, and its negation, at every nesting depth under AND, OR
//! and NOT, on both servers. pouchdb-find evaluates some operators only at the
//! top of a selector (`$ne` under `$or` was a 400 there); the meaning must not
//! depend on where an operator stands.

use crate::fresh_db;
use crate::models::items;
use couch_sql::{couch_sql, query, Database};

/// Rows: a: c "Oslo", n 5, price 0.5; b: c null, n null; c: every column absent;
/// d: c "Lima", n -1, price 2.5.
async fn seed(db: &Database) {
    couch_sql!(
        "INSERT INTO items (_id, label, c, n, price) VALUES ('a', 'a', 'Oslo', 5, 0.5), ('b', 'b', NULL, NULL, NULL), ('d', 'd', 'Lima', -1, 2.5)"
    )
    .execute(db)
    .await
    .unwrap();
    couch_sql!("INSERT INTO items (_id, label) VALUES ('c', 'c')").execute(db).await.unwrap();
}

/// `(condition, labels where it is TRUE, labels where it is FALSE)`: the rows
/// where it is NULL (unknown) are in neither.
const ATOMS: &[(&str, &str, &str)] = &[
    ("c = 'Oslo'", "a", "d"),
    ("c <> 'Oslo'", "d", "a"),
    ("c != 'Lima'", "a", "d"),
    ("n < 0", "d", "a"),
    ("n <= 5", "ad", ""),
    ("n > 0", "a", "d"),
    ("n >= 5", "a", "d"),
    ("price <> 0.5", "d", "a"),
    ("c IN ('Oslo', 'x')", "a", "d"),
    ("c NOT IN ('Oslo', 'x')", "d", "a"),
    ("n BETWEEN 0 AND 10", "a", "d"),
    ("n NOT BETWEEN 0 AND 10", "d", "a"),
    ("c LIKE 'O%'", "a", "d"),
    ("c NOT LIKE 'O%'", "d", "a"),
    ("c LIKE '%i_a'", "d", "a"),
    ("c IS NULL", "bc", "ad"),
    ("c IS NOT NULL", "ad", "bc"),
];

/// Sorted labels of the rows the run-time query returns.
async fn labels(db: &Database, sql: &str) -> String {
    let rows = match query(sql).fetch_all(db).await {
        Ok(rows) => rows,
        Err(e) => return format!("error: {e}"),
    };
    let mut v: Vec<String> = rows.iter().map(|r| r["label"].as_str().unwrap().to_string()).collect();
    v.sort();
    v.concat()
}

#[tokio::test]
async fn every_operator_means_the_same_at_every_depth() {
    let db = fresh_db("nesting").await;
    seed(&db).await;
    let mut failures = Vec::new();
    for (atom, t, f) in ATOMS {
        // `label` is never NULL, so `label = 'zz'` is FALSE and `label <> 'zz'` TRUE on every row.
        let cases = [
            (atom.to_string(), *t),
            (format!("NOT ({atom})"), *f),
            (format!("{atom} OR label = 'zz'"), *t),
            (format!("label = 'zz' OR {atom}"), *t),
            (format!("(label <> 'zz' AND {atom}) OR label = 'zz'"), *t),
            (format!("label = 'zz' OR (label <> 'zz' AND ({atom} OR label = 'zz'))"), *t),
            (format!("NOT ({atom} OR label = 'zz')"), *f),
            (format!("NOT (label = 'zz' OR NOT ({atom}))"), *t),
            (format!("NOT ((label = 'zz' AND label <> 'y') OR {atom})"), *f),
            (format!("label <> 'zz' AND (label = 'zz' OR NOT ({atom}))"), *f),
        ];
        for (cond, want) in cases {
            let sql = format!("SELECT label FROM items WHERE {cond}");
            let got = labels(&db, &sql).await;
            if got != want {
                failures.push(format!("{sql}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} wrong:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn two_disjunctions_side_by_side() {
    let db = fresh_db("nesting_two_or").await;
    seed(&db).await;
    for (sql, want) in [
        ("SELECT label FROM items WHERE (c > 'A' OR n = 100) AND (c < 'M' OR n = 200)", "d"),
        ("SELECT label FROM items WHERE (n > 0 OR c = 'x') AND (n < 10 OR c = 'y')", "a"),
        ("SELECT label FROM items WHERE (c LIKE 'O%' OR n < 0) AND (c LIKE '%a' OR n > 0)", "ad"),
        ("SELECT label FROM items WHERE (c IS NULL OR n = 5) AND (n IS NULL OR c = 'Oslo')", "abc"),
    ] {
        assert_eq!(labels(&db, sql).await, want, "{sql}");
    }
}

#[tokio::test]
async fn compiled_not_equal_inside_or_runs() {
    // The query that was a 400 on pouchdb-server (`$ne` under `$or`).
    let db = fresh_db("nesting_ne").await;
    seed(&db).await;
    let rows = couch_sql!("SELECT label FROM items WHERE n > -5 AND (c = 'Lima' OR price != 0.5)")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), ["d"]);
}

/// Every pair of conditions on one column, ANDed under an OR and negated: the
/// translator merges them into one operator map, or keeps apart what cannot
/// merge, so that no server folds them into one (pouchdb-server keeps one `$nin`
/// list, or an `$eq` without its range, when it folds an `$and`).
#[tokio::test]
async fn every_pair_of_conditions_on_one_column_under_or() {
    let db = fresh_db("nesting_pairs").await;
    seed(&db).await;
    let column = |atom: &str| atom.split_whitespace().next().unwrap().to_string();
    let both = |x: &str, y: &str| x.chars().filter(|c| y.contains(*c)).collect::<String>();
    let either = |x: &str, y: &str| {
        let mut v: Vec<char> = x.chars().chain(y.chars()).collect();
        v.sort();
        v.dedup();
        v.into_iter().collect::<String>()
    };
    let mut failures = Vec::new();
    let mut cases = 0;
    for (a, ta, fa) in ATOMS {
        for (b, tb, fb) in ATOMS {
            if column(a) != column(b) {
                continue;
            }
            let (t, f) = (both(ta, tb), either(fa, fb));
            for (cond, want) in [
                (format!("label = 'zz' OR ({a} AND {b})"), t.clone()),
                (format!("({a} AND {b}) OR (label = 'zz' AND {a})"), t.clone()),
                (format!("label <> 'zz' AND NOT ({a} AND {b})"), f.clone()),
                (format!("({a} OR label = 'zz') AND ({b} OR label = 'zz')"), t.clone()),
            ] {
                cases += 1;
                let sql = format!("SELECT label FROM items WHERE {cond}");
                let got = labels(&db, &sql).await;
                if got != want {
                    failures.push(format!("{sql}: got {got:?}, want {want:?}"));
                }
            }
        }
    }
    assert!(cases > 300, "{cases} cases");
    assert!(failures.is_empty(), "{} of {cases} wrong:\n{}", failures.len(), failures.join("\n"));
}

/// `col = ANY(?)` with an array parameter (a `Vec` or a slice), compiled and at run time.
#[tokio::test]
async fn a_column_equals_any_element_of_an_array_parameter() {
    let db = fresh_db("any_param").await;
    seed(&db).await;
    let labels_of = |rows: Vec<String>| {
        let mut v = rows;
        v.sort();
        v.concat()
    };
    let rows = couch_sql!("SELECT label FROM items WHERE c = ANY(?)", vec!["Oslo", "Lima", "Rome"])
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(labels_of(rows.iter().map(|r| r.label.clone()).collect()), "ad");
    let wanted: &[&str] = &["Lima"];
    let rows = couch_sql!("SELECT label FROM items WHERE c = ANY(?) OR n = 5", wanted).fetch_all(&db).await.unwrap();
    assert_eq!(labels_of(rows.iter().map(|r| r.label.clone()).collect()), "ad");
    let ids = vec!["a".to_string(), "c".to_string(), "zz".to_string()];
    let rows = couch_sql!("SELECT label FROM items WHERE _id = ANY(?)", &ids).fetch_all(&db).await.unwrap();
    assert_eq!(labels_of(rows.iter().map(|r| r.label.clone()).collect()), "ac");
    let empty: Vec<i64> = vec![];
    assert!(couch_sql!("SELECT label FROM items WHERE n = ANY(?)", empty).fetch_all(&db).await.unwrap().is_empty());
    // NOT: present, not NULL, none of them; never when an element is NULL.
    let run = |sql: &'static str, arg: serde_json::Value| {
        let db = db.clone();
        async move {
            let rows = query(sql).bind(arg).fetch_all(&db).await.unwrap();
            let mut v: Vec<String> = rows.iter().map(|r| r["label"].as_str().unwrap().to_string()).collect();
            v.sort();
            v.concat()
        }
    };
    assert_eq!(run("SELECT label FROM items WHERE NOT (n = ANY(?))", serde_json::json!([5])).await, "d");
    assert_eq!(run("SELECT label FROM items WHERE NOT (n = ANY(?))", serde_json::json!([5, null])).await, "");
    assert_eq!(run("SELECT label FROM items WHERE c = ANY(?)", serde_json::json!(["Oslo", null])).await, "a");
    let err = query("SELECT label FROM items WHERE c = ANY(?)").bind("Oslo").fetch_all(&db).await.unwrap_err();
    assert!(matches!(&err, couch_sql::Error::Param(m) if m.contains("must be an array")), "{err}");
}
