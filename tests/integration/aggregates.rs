//! Aggregates, GROUP BY, HAVING and DISTINCT, checked against an oracle computed
//! here over the same documents (NULL, missing and wrong-typed values included),
//! on more documents than one page.

use crate::{fresh_db, put_raw};
use couch_sql::{couch_sql, Collation, CouchRow, Database, IndexPolicy};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "people")]
pub struct Person {
    name: String,
    city: Option<String>,
    age: Option<i64>,
    score: Option<f64>,
    active: bool,
}

const N: usize = 3_100;

/// Deterministic documents: cities with NULL and missing ones, ages and scores
/// with gaps and wrong types, and documents of another table.
fn docs() -> Vec<Value> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let cities = ["Oslo", "Lima", "Pune", "Kobe", "Åre"];
    let mut out = Vec::new();
    for i in 0..N {
        let mut d =
            json!({"_id": format!("p{i:05}"), "type": "people", "name": format!("n{i}"), "active": next(3) != 0});
        match next(8) {
            0 => {}                       // no city
            1 => d["city"] = Value::Null, // null city
            2 => d["city"] = json!(7),    // wrong type: NULL
            _ => d["city"] = json!(cities[next(5) as usize]),
        }
        match next(6) {
            0 => {}
            1 => d["age"] = Value::Null,
            2 => d["age"] = json!("old"),
            _ => d["age"] = json!(next(90) as i64 - 5),
        }
        match next(5) {
            0 => {}
            1 => d["score"] = json!(next(1000) as f64 / 8.0),
            _ => d["score"] = json!(next(100) as i64),
        }
        out.push(d);
    }
    for i in 0..50 {
        out.push(json!({"_id": format!("o{i}"), "type": "orders", "city": "Oslo", "age": 1000, "active": true}));
    }
    out
}

async fn seeded(tag: &str) -> (Database, Vec<Value>) {
    let db = fresh_db(tag).await;
    let all = docs();
    for chunk in all.chunks(1000) {
        put_raw(&db, Value::Array(chunk.to_vec())).await;
    }
    (db, all.into_iter().filter(|d| d["type"] == "people").collect())
}

fn text(d: &Value, f: &str) -> Option<String> {
    d.get(f).and_then(Value::as_str).map(str::to_owned)
}

fn int(d: &Value, f: &str) -> Option<i64> {
    d.get(f).and_then(Value::as_i64)
}

fn float(d: &Value, f: &str) -> Option<f64> {
    d.get(f).and_then(Value::as_f64)
}

#[derive(Default, Debug)]
struct Stats {
    n: i64,
    scored: i64,
    total: Option<i64>,
    score_sum: f64,
    youngest: Option<i64>,
    oldest: Option<i64>,
}

fn by_city(docs: &[Value], keep: impl Fn(&Value) -> bool) -> BTreeMap<Option<String>, Stats> {
    let mut m: BTreeMap<Option<String>, Stats> = BTreeMap::new();
    for d in docs.iter().filter(|d| keep(d)) {
        let s = m.entry(text(d, "city")).or_default();
        s.n += 1;
        if let Some(x) = float(d, "score") {
            s.scored += 1;
            s.score_sum += x;
        }
        if let Some(a) = int(d, "age") {
            s.total = Some(s.total.unwrap_or(0) + a);
            s.youngest = Some(s.youngest.map_or(a, |y| y.min(a)));
            s.oldest = Some(s.oldest.map_or(a, |y| y.max(a)));
        }
    }
    m
}

/// ORDER BY city as the server sorts it (its collation; NULL first).
fn city_order(c: Collation, a: &Option<String>, b: &Option<String>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => c.strings(x, y),
        _ => a.is_some().cmp(&b.is_some()),
    }
}

/// The groups of [`by_city`] in the server's order of cities.
fn in_city_order(m: BTreeMap<Option<String>, Stats>, c: Collation) -> Vec<(Option<String>, Stats)> {
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| city_order(c, &a.0, &b.0));
    v
}

/// The server's collation: MIN, MAX and ORDER BY of text computed in the client agree with it.
async fn collation(db: &Database) -> Collation {
    db.profile().await.unwrap().collation
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() < 1e-9 * x.abs().max(1.0),
        _ => false,
    }
}

/// The contract's query, on the view path (the default: its WHERE is an equality)
/// and on the streaming path (`IndexPolicy::Never` makes no design documents).
#[tokio::test]
async fn group_by_having_order_by_limit_match_the_oracle_on_both_paths() {
    let (db, docs) = seeded("agg_groups").await;
    let oracle = by_city(&docs, |d| d["active"] == true);
    let mut want: Vec<(&Option<String>, &Stats)> = oracle.iter().filter(|(_, s)| s.n >= 2).collect();
    // n DESC, then city ascending (in the server's order) with NULL first.
    let c = collation(&db).await;
    want.sort_by(|a, b| b.1.n.cmp(&a.1.n).then_with(|| city_order(c, a.0, b.0)));
    want.truncate(10);
    let streaming = db.clone().with_index_policy(IndexPolicy::Never);
    for (path, db) in [("view", &db), ("streaming", &streaming)] {
        let rows = couch_sql!(
            "SELECT city, COUNT(*) AS n, COUNT(score) AS scored, SUM(age) AS total, AVG(score) AS avg_score, \
                    MIN(age) AS youngest, MAX(age) AS oldest \
             FROM people WHERE active = true GROUP BY city HAVING COUNT(*) >= ? ORDER BY n DESC, city LIMIT 10",
            2i64
        )
        .fetch_all(db)
        .await
        .unwrap();
        assert_eq!(rows.len(), want.len(), "{path}");
        for (row, (city, s)) in rows.iter().zip(&want) {
            assert_eq!(&row.city, *city, "{path}");
            assert_eq!(
                (row.n, row.scored, row.total, row.youngest, row.oldest),
                (s.n, s.scored, s.total, s.youngest, s.oldest),
                "{path} {city:?}"
            );
            let avg = (s.scored > 0).then(|| s.score_sum / s.scored as f64);
            assert!(close(row.avg_score, avg), "{path} {city:?}: {:?} vs {avg:?}", row.avg_score);
        }
        assert!(rows.iter().any(|r| r.city.is_none()), "NULL (missing, null and wrong-typed) cities are one group");
        // Without GROUP BY, with equalities only: one row, on either path.
        let one = couch_sql!(
            "SELECT COUNT(*) AS n, SUM(age) AS s, MAX(score) AS m FROM people WHERE active = ? AND city = ?",
            false,
            "Oslo"
        )
        .fetch_one(db)
        .await
        .unwrap();
        let matching: Vec<&Value> = docs.iter().filter(|d| d["active"] == false && d["city"] == "Oslo").collect();
        assert_eq!(one.n, matching.len() as i64, "{path}");
        assert_eq!(one.s, matching.iter().filter_map(|d| int(d, "age")).reduce(|a, b| a + b), "{path}");
        assert!(close(one.m, matching.iter().filter_map(|d| float(d, "score")).reduce(f64::max)), "{path}");
        let none = couch_sql!("SELECT COUNT(*) AS n, SUM(age) AS s FROM people WHERE city = ?", None::<String>)
            .fetch_one(db)
            .await
            .unwrap();
        assert_eq!((none.n, none.s), (0, None), "{path}: `= NULL` is never true");
    }
    // The view path made its design document, named by its content.
    let ddocs = db
        .request("GET", "_all_docs?startkey=%22_design%2Fcouchsql-agg-%22&endkey=%22_design%2Fcouchsql-agg.%22", None)
        .await
        .unwrap();
    assert!(!ddocs["rows"].as_array().unwrap().is_empty(), "{ddocs}");
}

#[tokio::test]
async fn counts_distinct_and_empty_tables() {
    let (db, docs) = seeded("agg_count").await;
    let total = couch_sql!("SELECT COUNT(*) FROM people WHERE age > ?", 30i64).fetch_one(&db).await.unwrap().count;
    assert_eq!(total, docs.iter().filter(|d| int(d, "age").is_some_and(|a| a > 30)).count() as i64);
    let all = couch_sql!("SELECT COUNT(*) AS n, COUNT(age), SUM(score), MIN(name), MAX(city) FROM people")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(all.n, N as i64);
    assert_eq!(all.count_age, docs.iter().filter(|d| int(d, "age").is_some()).count() as i64);
    let sum: f64 = docs.iter().filter_map(|d| float(d, "score")).sum();
    assert!(close(all.sum_score, Some(sum)));
    let c = collation(&db).await;
    assert_eq!(all.min_name.as_deref(), docs.iter().filter_map(|d| d["name"].as_str()).min_by(|a, b| c.strings(a, b)));
    assert_eq!(all.max_city, docs.iter().filter_map(|d| text(d, "city")).max_by(|a, b| c.strings(a, b)));

    let cities = couch_sql!("SELECT DISTINCT city FROM people ORDER BY city").fetch_all(&db).await.unwrap();
    let want: Vec<Option<String>> = in_city_order(by_city(&docs, |_| true), c).into_iter().map(|(k, _)| k).collect();
    assert_eq!(cities.iter().map(|r| r.city.clone()).collect::<Vec<_>>(), want);

    // Two grouping columns, ORDER BY an aggregate not selected, OFFSET.
    let rows = couch_sql!(
        "SELECT city, active, COUNT(*) AS n FROM people GROUP BY city, active ORDER BY SUM(age) DESC, city, active LIMIT 3 OFFSET 1"
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);

    // No documents: one row, COUNT 0, the others NULL.
    let empty =
        couch_sql!("SELECT COUNT(*) AS n, SUM(age) AS s, AVG(score) AS a, MAX(age) AS m FROM people WHERE age > 10000")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((empty.n, empty.s, empty.a, empty.m), (0, None, None, None));
    let none = couch_sql!("SELECT city, COUNT(*) AS n FROM people WHERE age > 10000 GROUP BY city")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(none.is_empty(), "GROUP BY over no documents is no rows");

    // The same at run time, where there is no model: values are grouped as they
    // are (the number 7 is a city of its own), missing and null together.
    let dynamic = couch_sql::query("SELECT city, COUNT(*) AS n FROM people GROUP BY city HAVING n > 100 ORDER BY city")
        .fetch_all(&db)
        .await
        .unwrap();
    let mut counts: Vec<(Value, i64)> = Vec::new();
    for d in &docs {
        let c = d.get("city").cloned().unwrap_or(Value::Null);
        match counts.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => counts.push((c, 1)),
        }
    }
    // NULL, then numbers, then strings (in the server's collation).
    counts.retain(|(_, n)| *n > 100);
    counts.sort_by(|a, b| c.compare(&a.0, &b.0));
    let got: Vec<(Value, i64)> = dynamic.iter().map(|r| (r["city"].clone(), r["n"].as_i64().unwrap())).collect();
    assert_eq!(got, counts);
}

/// Views are registered at link time and made by `ensure_indexes`; under
/// `IndexPolicy::Explicit` a query never makes one itself, and still answers.
#[tokio::test]
async fn planned_views_are_made_by_ensure_indexes() {
    let db = fresh_db("agg_views").await.with_index_policy(IndexPolicy::Explicit);
    put_raw(
        &db,
        json!([
            {"type": "people", "name": "a", "city": "Oslo", "age": 30, "active": true},
            {"type": "people", "name": "b", "city": "Oslo", "age": 40, "active": true},
            {"type": "people", "name": "c", "age": 50, "active": false},
        ]),
    )
    .await;
    let views = couch_sql::planned_views();
    let q = || couch_sql!("SELECT city, COUNT(*) AS n, SUM(age) AS s FROM people WHERE active = ? GROUP BY city", true);
    let spec = views.iter().find(|v| v.queries.contains(&q().sql())).expect("the query's view is registered");
    let ddoc = format!("_design/{}", spec.name);
    let rows = q().fetch_all(&db).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| (r.city.clone(), r.n, r.s)).collect::<Vec<_>>(),
        [(Some("Oslo".into()), 2, Some(70))]
    );
    let missing = db.request("GET", &ddoc, None).await;
    assert!(matches!(missing, Err(couch_sql::Error::NotFound { .. })), "Explicit: the query made no design document");
    let ensured = db.ensure_indexes().await.unwrap();
    assert!(ensured.iter().any(|e| e.name == spec.name && e.created), "{ensured:?}");
    assert!(db.request("GET", &ddoc, None).await.is_ok());
    // A fresh handle (nothing cached) now reads the view, with the same answer.
    let again = Database::connect(&format!("{}/{}", crate::server_url(), db.name())).await.unwrap();
    let rows = q().fetch_all(&again.with_index_policy(IndexPolicy::Explicit)).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| (r.city.clone(), r.n, r.s)).collect::<Vec<_>>(),
        [(Some("Oslo".into()), 2, Some(70))]
    );
}

/// City, count, sum and minimum of one group.
type CityRow = (Option<String>, i64, Option<i64>, Option<i64>);

/// A range on one column besides the equalities is still the view path (the range
/// column is a key; its rows are folded into the groups): the same rows as streaming.
#[tokio::test]
async fn ranges_on_the_view_path_match_the_streaming_path() {
    let (db, docs) = seeded("agg_ranges").await;
    let streaming = db.clone().with_index_policy(IndexPolicy::Never);
    for (lo, hi) in [(10i64, 40i64), (-100, 0), (50, 50), (85, 1000)] {
        for db in [&db, &streaming] {
            let rows = couch_sql!(
                "SELECT city, COUNT(*) AS n, SUM(age) AS s, MIN(age) AS lo, MAX(score) AS hi FROM people \
                 WHERE active = true AND age BETWEEN ? AND ? GROUP BY city ORDER BY city",
                lo,
                hi
            )
            .fetch_all(db)
            .await
            .unwrap();
            let oracle = in_city_order(
                by_city(&docs, |d| d["active"] == true && int(d, "age").is_some_and(|a| a >= lo && a <= hi)),
                collation(db).await,
            );
            let got: Vec<CityRow> = rows.iter().map(|r| (r.city.clone(), r.n, r.s, r.lo)).collect();
            let want: Vec<CityRow> = oracle.iter().map(|(c, s)| (c.clone(), s.n, s.total, s.youngest)).collect();
            assert_eq!(got, want, "BETWEEN {lo} AND {hi}");
        }
        let above = couch_sql!("SELECT COUNT(*) FROM people WHERE age > ?", lo).fetch_one(&db).await.unwrap().count;
        assert_eq!(above, docs.iter().filter(|d| int(d, "age").is_some_and(|a| a > lo)).count() as i64, "> {lo}");
        let below = couch_sql!("SELECT COUNT(*) AS n FROM people WHERE ? > age", hi).fetch_one(&db).await.unwrap().n;
        assert_eq!(below, docs.iter().filter(|d| int(d, "age").is_some_and(|a| a < hi)).count() as i64, "< {hi}");
    }
}

/// Run-time aggregates take the view path where compiled ones do, and give the
/// same rows (on documents that fit the model).
#[tokio::test]
async fn run_time_aggregates_use_views_and_agree_with_compiled_ones() {
    let db = fresh_db("agg_runtime").await;
    let cities = [json!("Oslo"), json!("Lima"), Value::Null];
    let docs: Vec<Value> = (0..120)
        .map(|i| {
            let mut d =
                json!({"_id": format!("r{i:03}"), "type": "people", "name": format!("n{i}"), "active": i % 3 != 0});
            if i % 7 != 0 {
                d["city"] = cities[i % 3].clone();
            }
            if i % 5 != 0 {
                d["age"] = json!((i * 7) % 60);
            }
            d["score"] = json!((i % 9) as f64 / 4.0);
            d
        })
        .collect();
    put_raw(&db, Value::Array(docs)).await;
    let db = db.with_index_policy(IndexPolicy::Lazy);
    macro_rules! both {
        ($sql:literal, view: $view:expr) => {{
            let compiled: Vec<Value> = couch_sql!($sql)
                .fetch_all(&db)
                .await
                .unwrap()
                .iter()
                .map(|r| serde_json::to_value(r).unwrap())
                .collect();
            let dynamic = couch_sql::query($sql);
            let uses_view = matches!(&dynamic.translation().unwrap().plan, couch_sql::Plan::Aggregate(a) if a.view.is_some());
            assert_eq!(uses_view, $view, "view path of {}", $sql);
            let run_time: Vec<Value> = dynamic.fetch_all(&db).await.unwrap().into_vec().into_iter().map(Value::Object).collect();
            let sorted = |mut v: Vec<Value>| {
                v.sort_by_key(|x| x.to_string());
                v
            };
            assert_eq!(sorted(compiled), sorted(run_time), "rows of {}", $sql);
        }};
    }
    both!("SELECT city, COUNT(*) AS n FROM people GROUP BY city", view: true);
    both!("SELECT city, COUNT(age) AS n, SUM(age) AS s, AVG(score) AS a FROM people WHERE active = true GROUP BY city", view: true);
    both!("SELECT COUNT(*) AS n, SUM(age) AS s FROM people WHERE city = 'Oslo' AND age >= 18", view: true);
    both!("SELECT active, COUNT(city) AS n FROM people WHERE age BETWEEN 10 AND 40 GROUP BY active", view: true);
    // MIN/MAX: a model says the column holds numbers; without one it streams, with the same answer.
    both!("SELECT city, MAX(age) AS m FROM people GROUP BY city", view: false);
}
