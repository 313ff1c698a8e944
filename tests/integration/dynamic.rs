//! Run-time SQL (`couch_sql::query`) against the same statements compiled with
//! `couch_sql!`: the same selector JSON and the same rows.

use crate::fresh_db;
use crate::models::{items, users, Item, User};
use couch_sql::{couch_sql, query, query_as, Database, Error};
use serde_json::Value;

async fn seed(db: &Database) {
    couch_sql!(
        "INSERT INTO users (name, age, email, active) VALUES ('Ann', 20, 'ann@x', true), ('Ben', 30, NULL, false), ('Cat', 40, 'cat@x', true), ('Dan', 50, 'dan@y', false)"
    )
    .execute(db)
    .await
    .unwrap();
    couch_sql!("INSERT INTO items (_id, label, c, n) VALUES ('a', 'a', 'Oslo', 5), ('b', 'b', NULL, NULL), ('d', 'd', 'Lima', -1), ('e', 'a.b', 'c++', 50)")
        .execute(db)
        .await
        .unwrap();
    couch_sql!("INSERT INTO items (_id, label) VALUES ('c', 'c')").execute(db).await.unwrap();
}

fn selector_of(body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body).unwrap()["selector"].clone()
}

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|x| x.to_string());
    v
}

/// Runs a column-list SELECT both ways; the same selector (unless the compiled
/// one sorts on the server) and the same rows.
macro_rules! both {
    ($db:expr, $sql:literal $(, $arg:expr)*) => {{
        let compiled = couch_sql!($sql $(, $arg)*);
        let dynamic = query($sql) $(.bind($arg))*;
        let has_order = $sql.contains("ORDER BY");
        let request = dynamic.requests("db", 1000).unwrap().pop().unwrap();
        // A server-side sort adds `$exists` for its keys, and lookups by id send no selector.
        if !has_order && request.path.ends_with("/_find") {
            let c = selector_of(&compiled.find_body(1000).unwrap());
            assert_eq!(c, request.body.unwrap()["selector"], "selector of {}", $sql);
        }
        let c_rows: Vec<Value> = compiled.fetch_all(&$db).await.unwrap().iter().map(|r| serde_json::to_value(r).unwrap()).collect();
        // Run-time rows are the same rows: every selected column under its name, nothing else.
        let d_rows: Vec<Value> = dynamic.fetch_all(&$db).await.unwrap().into_vec().into_iter().map(Value::Object).collect();
        assert_eq!(c_rows.len(), d_rows.len(), "row count of {}", $sql);
        if has_order {
            assert_eq!(c_rows, d_rows, "rows (in order) of {}", $sql);
        } else {
            assert_eq!(sorted(c_rows), sorted(d_rows), "rows of {}", $sql);
        }
    }};
}

#[tokio::test]
async fn compiled_and_run_time_sql_agree() {
    let db = fresh_db("dynamic").await;
    seed(&db).await;
    both!(db, "SELECT name FROM users WHERE age = 30");
    both!(db, "SELECT name, age FROM users WHERE age > ? AND age <= ?", 20, 40);
    both!(db, "SELECT name FROM users WHERE age < 25 OR age >= 50");
    both!(db, "SELECT name FROM users WHERE (age < 25 OR age >= 50) AND active");
    both!(db, "SELECT name FROM users WHERE NOT active");
    both!(db, "SELECT name, email FROM users WHERE active = false AND email IS NOT NULL");
    both!(db, "SELECT name FROM users WHERE name IN (?, ?, 'Zed')", "Ann", "Dan");
    both!(db, "SELECT name FROM users WHERE age NOT IN (20, 30)");
    both!(db, "SELECT name FROM users WHERE age BETWEEN ? AND ?", 25, 45);
    both!(db, "SELECT name FROM users WHERE email LIKE '%@x'");
    both!(db, "SELECT name FROM users WHERE email NOT LIKE '%@x'");
    both!(db, "SELECT name FROM users WHERE name LIKE ?", "_a_");
    both!(db, "SELECT name, age FROM users ORDER BY age DESC");
    both!(db, "SELECT name, age FROM users WHERE age >= ? ORDER BY age DESC LIMIT 2", 20);
    both!(db, "SELECT name, age FROM users ORDER BY age LIMIT 2 OFFSET 1");
    both!(db, "SELECT label, c FROM items WHERE c = 'Oslo'");
    both!(db, "SELECT label, c FROM items WHERE c != 'Oslo'");
    both!(db, "SELECT label FROM items WHERE NOT (c = 'Oslo')");
    both!(db, "SELECT label FROM items WHERE c < 'M'");
    both!(db, "SELECT label FROM items WHERE n < 10");
    both!(db, "SELECT label FROM items WHERE NOT (n > 0)");
    both!(db, "SELECT label FROM items WHERE c IN ('Oslo', 'Lima')");
    both!(db, "SELECT label FROM items WHERE c NOT IN ('Oslo')");
    both!(db, "SELECT label FROM items WHERE c NOT IN ('x', NULL)");
    both!(db, "SELECT label FROM items WHERE c BETWEEN 'A' AND 'M'");
    both!(db, "SELECT label FROM items WHERE c NOT BETWEEN 'A' AND 'M'");
    both!(db, "SELECT label FROM items WHERE c IS NULL");
    both!(db, "SELECT label FROM items WHERE c IS NOT NULL");
    both!(db, "SELECT label FROM items WHERE c IS NULL OR c = 'Lima'");
    both!(db, "SELECT label FROM items WHERE c = ?", Option::<&str>::None);
    both!(db, "SELECT label FROM items WHERE c = ? OR n = 5", Option::<&str>::None);
    both!(db, "SELECT label FROM items WHERE label LIKE ?", "a.b");
    both!(db, "SELECT label FROM items WHERE c LIKE 'c++'");
    both!(db, "SELECT label, c FROM items ORDER BY c");
    both!(db, "SELECT label, c FROM items ORDER BY c DESC LIMIT 3");
    both!(db, "SELECT label FROM items WHERE _id = ?", "d");
    both!(db, "SELECT label FROM items WHERE _id IN ('a', 'e', 'zz')");

    // SELECT * : the model type both ways.
    let c: Vec<User> =
        couch_sql!("SELECT * FROM users WHERE age > 25 ORDER BY age").fetch_all(&db).await.unwrap().into_vec();
    let d: Vec<User> = query_as::<User>("SELECT * FROM users WHERE age > ? ORDER BY age")
        .bind(25)
        .fetch_all(&db)
        .await
        .unwrap()
        .into_vec();
    assert_eq!(c, d);
    assert_eq!(c.len(), 3);
    let c: Vec<Item> = couch_sql!("SELECT * FROM items WHERE c IS NULL").fetch_all(&db).await.unwrap().into_vec();
    let d: Vec<Item> = query_as::<Item>("SELECT * FROM items WHERE c IS NULL").fetch_all(&db).await.unwrap().into_vec();
    assert_eq!(c.len(), 2);
    assert_eq!(c.len(), d.len());
}

#[tokio::test]
async fn run_time_writes_and_streams() {
    let db = fresh_db("dynamic_w").await;
    let r = query("INSERT INTO users (name, age, active) VALUES (?, ?, ?), ('Bo', 17, false)")
        .bind("Al")
        .bind(30)
        .bind(true)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(r.rows_affected(), 2);
    let n = query("UPDATE users SET age = age + ? WHERE name = ?")
        .bind(1)
        .bind("Bo")
        .execute(&db)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1);
    let bo = couch_sql!("SELECT age FROM users WHERE name = 'Bo'").fetch_one(&db).await.unwrap();
    assert_eq!(bo.age, 18);
    use futures_util::StreamExt;
    let streamed: Vec<_> = query("SELECT name FROM users").fetch(&db).collect().await;
    assert_eq!(streamed.len(), 2);
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    let typed = query_as::<Named>("SELECT name FROM users WHERE age > 20").fetch_one(&db).await.unwrap();
    assert_eq!(typed.name, "Al");
    assert_eq!(query("DELETE FROM users WHERE age >= 0").execute(&db).await.unwrap().rows_affected(), 2);
}

#[tokio::test]
async fn run_time_errors_carry_the_compile_time_messages() {
    let db = fresh_db("dynamic_err").await;
    let err = query("SELECT * FROM users u JOIN orders o ON u.id = o.uid").fetch_all(&db).await.unwrap_err();
    assert!(matches!(&err, Error::Sql(m) if m.starts_with("JOIN is not supported: CouchDB has no joins")), "{err}");
    let err = query("SELEC name FROM users").fetch_all(&db).await.unwrap_err();
    assert!(matches!(&err, Error::Sql(m) if m.contains("SQL syntax error") && m.contains("line 1, column 1")), "{err}");
    let err = query("SELECT name FROM users WHERE age > ?").fetch_all(&db).await.unwrap_err();
    assert!(matches!(&err, Error::Param(m) if m.contains("1 `?` parameters, but 0")), "{err}");
    let err = query("SELECT name FROM users WHERE name LIKE ?").bind(5).fetch_all(&db).await.unwrap_err();
    assert!(matches!(&err, Error::Param(_)), "{err}");
    let err = query("INSERT INTO users (name) VALUES ('x')").fetch_all(&db).await.unwrap_err();
    assert!(matches!(&err, Error::Invalid { .. }), "{err}");
    // Without a model any column is a field: the statement runs, and finds nothing.
    assert!(query("SELECT nmae FROM users").fetch_all(&db).await.unwrap().is_empty());
}

/// Every projection the translator accepts gives the same rows both ways: aliases,
/// dotted paths (`address.city` → `address_city`), positions, whole objects and
/// arrays, a number that is an object key; nothing unselected comes back.
#[tokio::test]
async fn run_time_projections_equal_compiled_ones() {
    use crate::documents::{customers, Customer};
    let db = fresh_db("dynamic_proj").await;
    let _ = std::marker::PhantomData::<Customer>;
    crate::put_raw(
        &db,
        serde_json::json!([
            {"_id": "c1", "type": "customers", "name": "Ann", "visits": 2, "tags": ["vip", "new"],
             "address": {"city": "Oslo", "zip": "0150"}, "since": "2026-01-03T12:00:00.000000Z",
             "lines": [{"sku": "a", "qty": 2, "price": 1.5}], "meta": {"2024": {"visits": 5}, "n": [1, 2]}},
            {"_id": "c2", "type": "customers", "name": "Bo", "visits": 5, "tags": [],
             "address": {"city": "Lima", "zip": "1500"}, "billing": {"city": "Cusco", "zip": null},
             "since": "2026-01-04T12:00:00.000000Z", "lines": [], "meta": null}
        ]),
    )
    .await;
    both!(db, "SELECT name, address.city AS city FROM customers");
    both!(db, "SELECT name AS who, visits FROM customers");
    both!(db, "SELECT name, address.city, visits FROM customers");
    both!(db, "SELECT tags[0] AS first, tags[1], name FROM customers");
    both!(db, "SELECT address, tags, lines FROM customers WHERE visits > ?", 1);
    both!(db, "SELECT billing.city AS bcity, billing.zip, lines[0].sku AS sku FROM customers");
    both!(db, "SELECT name, meta FROM customers ORDER BY name DESC");
    both!(db, "SELECT _id, name FROM customers WHERE address.city = 'Oslo'");
    both!(db, "SELECT name FROM customers WHERE _id = 'c2'");
    // A table alias qualifies columns, in every statement.
    both!(db, "SELECT c.name, c.address.city AS city FROM customers c WHERE c.visits > ?", 1);
    both!(db, "SELECT c.name FROM customers AS c WHERE c.tags[0] = 'vip' ORDER BY c.name");
    couch_sql!("UPDATE customers c SET c.visits = c.visits + 1 WHERE c.name = 'Bo'").execute(&db).await.unwrap();
    let bo = couch_sql!("SELECT c.visits FROM customers c WHERE c.name = 'Bo'").fetch_one(&db).await.unwrap();
    assert_eq!(bo.visits, 6);
    query("UPDATE customers c SET c.visits = c.visits - 1 WHERE c.name = ?").bind("Bo").execute(&db).await.unwrap();
    // The CLI's report: exactly the selected names.
    let rows =
        query("SELECT name, address.city, visits FROM customers WHERE name = 'Ann'").fetch_all(&db).await.unwrap();
    assert_eq!(rows[0], *serde_json::json!({"name": "Ann", "address_city": "Oslo", "visits": 2}).as_object().unwrap());
    // A quoted number is an object key, not a position (CouchDB's `test_number_ref`).
    let rows = query(r#"SELECT name, meta."2024".visits AS v FROM customers WHERE meta."2024".visits = 5"#)
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["v"], serde_json::json!(5));
    // `query_as` into a struct of the caller's, by the names.
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Who {
        who: String,
        city: Option<String>,
        first: Option<String>,
    }
    let mut rows = query_as::<Who>("SELECT name AS who, address.city AS city, tags[0] AS first FROM customers")
        .fetch_all(&db)
        .await
        .unwrap()
        .into_vec();
    rows.sort_by(|a, b| a.who.cmp(&b.who));
    assert_eq!(
        rows,
        [
            Who { who: "Ann".into(), city: Some("Oslo".into()), first: Some("vip".into()) },
            Who { who: "Bo".into(), city: Some("Lima".into()), first: None }
        ]
    );
    // Streams and live queries make the same rows.
    use futures_util::StreamExt;
    let streamed: Vec<_> =
        query("SELECT name AS who, address.city FROM customers WHERE visits = 5").fetch(&db).collect().await;
    assert_eq!(streamed.len(), 1);
    assert_eq!(
        streamed[0].as_ref().unwrap(),
        serde_json::json!({"who": "Bo", "address_city": "Lima"}).as_object().unwrap()
    );
    let mut live = query("SELECT name AS who, address.city FROM customers WHERE visits > 6").watch(&db).await.unwrap();
    query("INSERT INTO customers (_id, name, visits, address) VALUES ('c3', 'Cy', 7, ?)")
        .bind(serde_json::json!({"city": "Rome"}))
        .execute(&db)
        .await
        .unwrap();
    match live.next().await.unwrap().unwrap() {
        couch_sql::Change::Upsert { id, row } => {
            assert_eq!(id, "c3");
            assert_eq!(row, *serde_json::json!({"who": "Cy", "address_city": "Rome"}).as_object().unwrap());
        }
        other => panic!("{other:?}"),
    }
}
