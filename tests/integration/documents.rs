//! Documents as they really are: nested objects, arrays, dates, opaque JSON and
//! every integer width, written, read back field by field, and queried with
//! predicates checked against an oracle computed here over the same data.

use crate::{fresh_db, get_raw, put_raw};
use chrono::{DateTime, TimeZone, Utc};
use couch_sql::{couch_sql, CouchObject, CouchRow, Error};
use serde_json::{json, Value};

#[derive(CouchObject, Debug, Clone, PartialEq)]
pub struct Address {
    city: String,
    zip: Option<String>,
}

#[derive(CouchObject, Debug, Clone, PartialEq)]
pub struct Line {
    sku: String,
    qty: i64,
    price: f64,
}

#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "customers")]
pub struct Customer {
    #[couch(id)]
    id: Option<String>,
    name: String,
    address: Address,
    billing: Option<Address>,
    tags: Vec<String>,
    lines: Vec<Line>,
    since: DateTime<Utc>,
    visits: u32,
    meta: Value,
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, day, 12, 0, 0).unwrap()
}

#[tokio::test]
async fn nested_documents_round_trip() {
    let db = fresh_db("docs_roundtrip").await;
    let address = Address { city: "Oslo".into(), zip: Some("0150".into()) };
    let lines = vec![Line { sku: "a-1".into(), qty: 2, price: 9.5 }, Line { sku: "b-2".into(), qty: 1, price: 3.0 }];
    couch_sql!(
        "INSERT INTO customers (_id, name, address, tags, lines, since, visits, meta) VALUES ('c1', ?, ?, ?, ?, ?, ?, ?)",
        "Ada",
        address.clone(),
        &["vip", "new"],
        lines.clone(),
        at(3),
        7u32,
        json!({"source": "import", "n": [1, 2]})
    )
    .execute(&db)
    .await
    .unwrap();

    let all = couch_sql!("SELECT * FROM customers").fetch_all(&db).await.unwrap();
    assert_eq!(all.len(), 1);
    let c = &all[0];
    assert_eq!(c.id.as_deref(), Some("c1"));
    assert_eq!(c.address, address);
    assert_eq!(c.billing, None);
    assert_eq!(c.tags, ["vip", "new"]);
    assert_eq!(c.lines, lines);
    assert_eq!(c.since, at(3));
    assert_eq!(c.visits, 7);
    assert_eq!(c.meta, json!({"source": "import", "n": [1, 2]}));

    let rows = couch_sql!(
        "SELECT name, address.city, address.zip AS zip, billing.city AS bcity, lines[1].sku AS second FROM customers WHERE address.city = ?",
        "Oslo"
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name, "Ada");
    assert_eq!(rows[0].address_city, "Oslo");
    assert_eq!(rows[0].zip.as_deref(), Some("0150"));
    assert_eq!(rows[0].bcity, None);
    assert_eq!(rows[0].second.as_deref(), Some("b-2"));

    let rows = couch_sql!("SELECT address, lines, since FROM customers").fetch_all(&db).await.unwrap();
    let a: &Address = &rows[0].address;
    assert_eq!(a, &address);
    assert_eq!(rows[0].lines.len(), 2);
    assert_eq!(rows[0].since, at(3));

    // The date is stored as fixed-width UTC text.
    let raw = get_raw(&db, "c1").await;
    assert_eq!(raw["since"], json!("2026-01-03T12:00:00.000000Z"));

    // SET a nested field keeps the object's other fields; SET a whole array.
    couch_sql!("UPDATE customers SET address.city = ?, tags = ? WHERE _id = ?", "Bergen", vec!["gold"], "c1")
        .execute(&db)
        .await
        .unwrap();
    let c = couch_sql!("SELECT address, tags FROM customers").fetch_one(&db).await.unwrap();
    assert_eq!(c.address, Address { city: "Bergen".into(), zip: Some("0150".into()) });
    assert_eq!(c.tags, ["gold"]);
}

/// Documents as other programs leave them: objects missing, null or of the
/// wrong type at every level, arrays empty, holding NULLs, or not arrays at all.
fn messy_docs() -> Value {
    let ok_lines = json!([{"sku": "a", "qty": 2, "price": 1.5}, {"sku": "b", "qty": 5, "price": 2.0}]);
    json!([
        {"_id": "d1", "type": "customers", "name": "full", "address": {"city": "Oslo", "zip": "0150"},
         "billing": {"city": "Oslo", "zip": null}, "tags": ["vip", "new"], "lines": ok_lines,
         "since": "2026-01-03T12:00:00.000000Z", "visits": 1, "meta": {}},
        {"_id": "d2", "type": "customers", "name": "no billing", "address": {"city": "Lima"},
         "tags": ["new"], "lines": [{"sku": "b", "qty": 1, "price": 1.0}],
         "since": "2026-01-02T12:00:00.000000Z", "visits": 2, "meta": null},
        {"_id": "d3", "type": "customers", "name": "null billing", "address": {"city": "Oslo"}, "billing": null,
         "tags": [], "lines": [], "since": "2026-01-05T00:00:00.000000Z", "visits": 3, "meta": [1]},
        {"_id": "d4", "type": "customers", "name": "wrong billing", "address": "Oslo", "billing": "n/a",
         "tags": ["vip", null], "lines": {"sku": "b", "qty": 9}, "since": 5, "visits": 4},
        {"_id": "d5", "type": "customers", "name": "null city", "address": {"zip": "x"}, "billing": {"city": null},
         "tags": "vip", "lines": [{"sku": "b", "qty": "many"}, {"sku": "c", "qty": 3}], "visits": 5},
        {"_id": "d6", "type": "customers", "name": "bare"},
        {"_id": "o1", "type": "orders", "name": "other table", "address": {"city": "Oslo"}, "tags": ["vip"]}
    ])
}

fn path<'a>(d: &'a Value, p: &[&str]) -> Option<&'a Value> {
    let mut cur = d;
    for s in p {
        cur = match cur {
            Value::Object(m) => m.get(*s)?,
            Value::Array(a) => a.get(s.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!cur.is_null()).then_some(cur)
}

/// SQL `=` on a text path: unknown where the path is NULL (or not text).
fn text_eq(d: &Value, p: &[&str], v: &str) -> Option<bool> {
    path(d, p).and_then(Value::as_str).map(|s| s == v)
}

fn any_eq(d: &Value, p: &[&str], v: &str) -> Option<bool> {
    let a = path(d, p)?.as_array()?;
    if a.iter().any(|e| e.as_str() == Some(v)) {
        Some(true)
    } else if a.iter().any(Value::is_null) {
        None
    } else {
        Some(false)
    }
}

type Oracle = fn(&Value) -> Option<bool>;

/// Each predicate on both paths (compile-time and run-time SQL), and its NOT:
/// the ids where it is TRUE and where it is FALSE must be the oracle's.
macro_rules! cases {
    ($db:expr, $docs:expr, $( ($sql:literal, $not_sql:literal, $oracle:expr) ),+ $(,)?) => {$({
        let oracle: Oracle = $oracle;
        let mut want_true = Vec::new();
        let mut want_false = Vec::new();
        for d in $docs.as_array().unwrap().iter().filter(|d| d["type"] == "customers") {
            let id = d["_id"].as_str().unwrap().to_string();
            match oracle(d) {
                Some(true) => want_true.push(id),
                Some(false) => want_false.push(id),
                None => {}
            }
        }
        let ids = |rows: Vec<String>| crate::sorted(&rows);
        let got = couch_sql!($sql).fetch_all($db).await.unwrap_or_else(|e| panic!("{}: {e}", $sql));
        assert_eq!(ids(got.iter().map(|r| r._id.clone()).collect()), want_true, "{}", $sql);
        let got = couch_sql!($not_sql).fetch_all($db).await.unwrap_or_else(|e| panic!("{}: {e}", $not_sql));
        assert_eq!(ids(got.iter().map(|r| r._id.clone()).collect()), want_false, "{}", $not_sql);
        let dynamic = couch_sql::query($sql).fetch_all($db).await.unwrap_or_else(|e| panic!("run-time {}: {e}", $sql));
        assert_eq!(ids(dynamic.iter().map(|r| r["_id"].as_str().unwrap().to_string()).collect()), want_true, "run-time {}", $sql);
    })+};
}

#[tokio::test]
async fn predicates_match_the_oracle_on_messy_documents() {
    let db = fresh_db("docs_oracle").await;
    let docs = messy_docs();
    put_raw(&db, docs.clone()).await;
    cases!(
        &db,
        docs,
        (
            "SELECT _id FROM customers WHERE address.city = 'Oslo'",
            "SELECT _id FROM customers WHERE NOT (address.city = 'Oslo')",
            |d| text_eq(d, &["address", "city"], "Oslo")
        ),
        (
            "SELECT _id FROM customers WHERE address.city <> 'Oslo'",
            "SELECT _id FROM customers WHERE NOT (address.city <> 'Oslo')",
            |d| text_eq(d, &["address", "city"], "Oslo").map(|b| !b)
        ),
        (
            "SELECT _id FROM customers WHERE billing.city IS NULL",
            "SELECT _id FROM customers WHERE NOT (billing.city IS NULL)",
            |d| Some(path(d, &["billing", "city"]).is_none())
        ),
        (
            "SELECT _id FROM customers WHERE billing.city = 'Oslo' OR billing.zip IS NULL",
            "SELECT _id FROM customers WHERE NOT (billing.city = 'Oslo' OR billing.zip IS NULL)",
            |d| {
                let zip_null = path(d, &["billing", "zip"]).is_none();
                match text_eq(d, &["billing", "city"], "Oslo") {
                    Some(true) => Some(true),
                    _ if zip_null => Some(true),
                    other => other,
                }
            }
        ),
        (
            "SELECT _id FROM customers WHERE 'vip' = ANY(tags)",
            "SELECT _id FROM customers WHERE NOT ('vip' = ANY(tags))",
            |d| any_eq(d, &["tags"], "vip")
        ),
        (
            "SELECT _id FROM customers WHERE 'new' = ANY(tags) AND address.city = 'Oslo'",
            "SELECT _id FROM customers WHERE NOT ('new' = ANY(tags) AND address.city = 'Oslo')",
            |d| match (any_eq(d, &["tags"], "new"), text_eq(d, &["address", "city"], "Oslo")) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            }
        ),
        (
            "SELECT _id FROM customers WHERE tags @> ARRAY['vip', 'new']",
            "SELECT _id FROM customers WHERE NOT (tags @> ARRAY['vip', 'new'])",
            |d| {
                let a = path(d, &["tags"])?.as_array()?;
                Some(["vip", "new"].iter().all(|v| a.iter().any(|e| e.as_str() == Some(v))))
            }
        ),
        (
            "SELECT _id FROM customers WHERE CARDINALITY(tags) = 2",
            "SELECT _id FROM customers WHERE NOT (CARDINALITY(tags) = 2)",
            |d| path(d, &["tags"])?.as_array().map(|a| a.len() == 2)
        ),
        (
            "SELECT _id FROM customers WHERE tags = ARRAY['vip', 'new']",
            "SELECT _id FROM customers WHERE NOT (tags = ARRAY['vip', 'new'])",
            |d| path(d, &["tags"])?.as_array().map(|a| *a == [json!("vip"), json!("new")])
        ),
        (
            "SELECT _id FROM customers WHERE tags IN (ARRAY['new'], ARRAY['vip', 'x'])",
            "SELECT _id FROM customers WHERE tags NOT IN (ARRAY['new'], ARRAY['vip', 'x'])",
            |d| path(d, &["tags"])?.as_array().map(|a| *a == [json!("new")] || *a == [json!("vip"), json!("x")])
        ),
        (
            "SELECT _id FROM customers WHERE tags[0] = 'vip'",
            "SELECT _id FROM customers WHERE NOT (tags[0] = 'vip')",
            |d| text_eq(d, &["tags", "0"], "vip")
        ),
        (
            "SELECT _id FROM customers WHERE lines[1].sku = 'b'",
            "SELECT _id FROM customers WHERE NOT (lines[1].sku = 'b')",
            |d| text_eq(d, &["lines", "1", "sku"], "b")
        ),
        (
            "SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE l.qty >= 2 AND l.sku = 'b')",
            "SELECT _id FROM customers WHERE NOT EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE l.qty >= 2 AND l.sku = 'b')",
            |d| Some(path(d, &["lines"]).and_then(Value::as_array).is_some_and(|a| {
                a.iter().any(|l| l["qty"].as_f64().is_some_and(|q| q >= 2.0) && l["sku"] == "b")
            }))
        ),
        (
            "SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE NOT (l.qty < 3))",
            "SELECT _id FROM customers WHERE NOT EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE NOT (l.qty < 3))",
            |d| Some(path(d, &["lines"]).and_then(Value::as_array).is_some_and(|a| {
                a.iter().any(|l| l["qty"].as_f64().is_some_and(|q| q >= 3.0))
            }))
        ),
        (
            "SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t = 'vip' OR t = 'new')",
            "SELECT _id FROM customers WHERE NOT EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t = 'vip' OR t = 'new')",
            |d| Some(path(d, &["tags"]).and_then(Value::as_array).is_some_and(|a| {
                a.iter().any(|t| t == "vip" || t == "new")
            }))
        ),
        (
            "SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t LIKE 'v%')",
            "SELECT _id FROM customers WHERE NOT EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t LIKE 'v%')",
            |d| Some(path(d, &["tags"]).and_then(Value::as_array).is_some_and(|a| {
                a.iter().any(|t| t.as_str().is_some_and(|t| t.starts_with('v')))
            }))
        ),
        (
            "SELECT _id FROM customers WHERE since >= '2026-01-03'",
            "SELECT _id FROM customers WHERE NOT (since >= '2026-01-03')",
            |d| path(d, &["since"])?.as_str().map(|s| s >= "2026-01-03T00:00:00.000000Z")
        ),
    );
}

#[tokio::test]
async fn a_misshapen_document_is_a_decode_error_naming_its_path_and_the_rest_can_be_read() {
    use futures_util::StreamExt;
    let db = fresh_db("docs_decode").await;
    let good = |id: &str| {
        json!({"_id": id, "type": "customers", "name": id, "address": {"city": "Oslo"}, "tags": [],
               "lines": [], "since": "2026-01-01T00:00:00.000000Z", "visits": 1, "meta": null})
    };
    let mut bad_lines = good("bad-lines");
    bad_lines["lines"] = json!([
        {"sku": "a", "qty": 1, "price": 1.0}, {"sku": "b", "qty": 1, "price": 1.0},
        {"sku": "c", "qty": 1, "price": 1.0}, {"sku": "d", "qty": "many", "price": 1.0}
    ]);
    let mut bad_visits = good("bad-visits");
    bad_visits["visits"] = json!(-1);
    let mut bad_tags = good("bad-tags");
    bad_tags["tags"] = json!("vip");
    put_raw(&db, json!([good("a"), bad_lines, good("b"), bad_visits, bad_tags])).await;

    // Strict by default: the error names the document and the full path.
    let err = couch_sql!("SELECT * FROM customers").fetch_all(&db).await.unwrap_err();
    let Error::Decode { doc_id, field, .. } = &err else { panic!("expected a decode error, got {err:?}") };
    assert_eq!(doc_id.as_deref(), Some("bad-lines"), "{err}");
    assert_eq!(field.as_deref(), Some("lines[3].qty"), "{err}");
    assert!(err.to_string().contains("lines[3].qty"), "{err}");

    // skip_invalid: the valid rows, and each skipped document with its error.
    let checked = couch_sql!("SELECT * FROM customers").skip_invalid().fetch_all(&db).await.unwrap();
    let names: Vec<&str> = checked.rows.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(crate::sorted(&names), ["a", "b"]);
    let mut skipped: Vec<(String, String)> = checked
        .skipped
        .iter()
        .map(|s| {
            let Error::Decode { field, .. } = &s.error else { panic!("{:?}", s.error) };
            (s.id.clone().unwrap(), field.clone().unwrap_or_default())
        })
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            ("bad-lines".to_string(), "lines[3].qty".to_string()),
            ("bad-tags".to_string(), "tags".to_string()),
            ("bad-visits".to_string(), "visits".to_string())
        ]
    );

    // The stream yields the Err in the document's place and goes on.
    let items: Vec<couch_sql::Result<Customer>> = couch_sql!("SELECT * FROM customers").fetch(&db).collect().await;
    assert_eq!(items.len(), 5);
    assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 2);
    assert!(items.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, Error::Decode { .. })));

    // A projection that leaves out the misshapen fields reads every document.
    let names = couch_sql!("SELECT name, address.city AS city FROM customers").fetch_all(&db).await.unwrap();
    assert_eq!(names.len(), 5);
}

/// A field of an array element that is not an object (a number, a string) is
/// NULL, as a field of a missing intermediate object is, on both servers.
#[tokio::test]
async fn a_field_of_a_non_object_element_is_null() {
    let db = fresh_db("docs_elem_null").await;
    put_raw(
        &db,
        json!([
            {"_id": "e1", "type": "customers", "name": "scalar element", "lines": [{"sku": "a", "qty": 1}, 7]},
            {"_id": "e2", "type": "customers", "name": "objects only", "lines": [{"sku": "a", "qty": 1}]},
            {"_id": "e3", "type": "customers", "name": "no qty", "lines": [{"sku": "a"}]},
        ]),
    )
    .await;
    let rows =
        couch_sql!("SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE l.qty IS NULL)")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(crate::sorted(&rows.iter().map(|r| r._id.clone()).collect::<Vec<_>>()), ["e1", "e3"]);
    let rows =
        couch_sql!("SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE l.qty IS NOT NULL)")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(crate::sorted(&rows.iter().map(|r| r._id.clone()).collect::<Vec<_>>()), ["e1", "e2"]);
}

/// NaN and infinity have no JSON form: inside an object or an array they are
/// refused before anything is sent, never written as `null`.
#[tokio::test]
async fn non_finite_floats_inside_values_are_refused() {
    let db = fresh_db("docs_nan").await;
    let address = Address { city: "Oslo".into(), zip: None };
    let bad_lines =
        vec![Line { sku: "a".into(), qty: 1, price: 2.0 }, Line { sku: "b".into(), qty: 1, price: f64::NAN }];
    let err = couch_sql!(
        "INSERT INTO customers (name, address, tags, lines, since, visits, meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
        "Ada",
        address.clone(),
        &["vip"],
        bad_lines,
        at(3),
        7u32,
        json!({})
    )
    .execute(&db)
    .await
    .unwrap_err();
    assert!(matches!(&err, Error::Param(m) if m.contains("NaN") && m.contains("parameter 4")), "{err}");
    assert!(couch_sql!("SELECT name FROM customers").fetch_all(&db).await.unwrap().is_empty(), "nothing was written");
}

/// GROUP BY a nested path, on documents whose objects are missing, null or not
/// objects: those are the NULL group (`billing` is an `Option<Address>`).
#[tokio::test]
async fn group_by_a_nested_path() {
    let db = fresh_db("docs_group").await;
    let docs = messy_docs();
    put_raw(&db, docs.clone()).await;
    let rows = couch_sql!(
        "SELECT billing.city, COUNT(*) AS n, MAX(visits) AS most FROM customers GROUP BY billing.city ORDER BY billing.city"
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let mut want: std::collections::BTreeMap<Option<String>, (i64, Option<i64>)> = Default::default();
    for d in docs.as_array().unwrap().iter().filter(|d| d["type"] == "customers") {
        let e = want.entry(path(d, &["billing", "city"]).and_then(Value::as_str).map(str::to_owned)).or_default();
        e.0 += 1;
        if let Some(v) = d["visits"].as_i64() {
            e.1 = Some(e.1.map_or(v, |m: i64| m.max(v)));
        }
    }
    let got: Vec<(Option<String>, i64, Option<i64>)> =
        rows.iter().map(|r| (r.billing_city.clone(), r.n, r.most.map(i64::from))).collect();
    let want: Vec<(Option<String>, i64, Option<i64>)> = want.into_iter().map(|(c, (n, m))| (c, n, m)).collect();
    assert_eq!(got, want);
}

/// `EXISTS (… UNNEST …)` is `$elemMatch`, which pouchdb-server gets wrong (a 400 for a
/// `LIKE` in it, a 500 for some arrays): there the runtime sends a relaxed selector and
/// matches in the client. Every server must give CouchDB's answer, which the embedded
/// engine, run in this process on the same documents, gives too.
#[tokio::test]
async fn element_queries_give_couchdbs_answer_on_every_server() {
    let db = fresh_db("elements").await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let oracle =
        couch_sql::Database::connect(&format!("mem://elements_oracle_{}_{nanos}", std::process::id())).await.unwrap();
    oracle.create_if_missing().await.unwrap();
    let docs = json!([
        {"_id": "e1", "type": "customers", "name": "a", "tags": ["vip", "x"], "lines": [null, {"sku": "b", "qty": 3}]},
        {"_id": "e2", "type": "customers", "name": "b", "tags": ["nix"], "lines": ["x", {"sku": "b", "qty": 2}]},
        {"_id": "e3", "type": "customers", "name": "c", "tags": [], "lines": [{"sku": "a", "qty": 5}]},
        {"_id": "e4", "type": "customers", "name": "d", "tags": "vip", "lines": "n/a"},
        {"_id": "e5", "type": "customers", "name": "e", "tags": ["live", null, 3]},
        {"_id": "e6", "type": "customers", "name": "f", "tags": ["lip", "kin"], "lines": [{"sku": "b", "qty": 1}, {"sku": "b"}]},
        {"_id": "e7", "type": "other", "name": "g", "tags": ["vip"]},
    ]);
    put_raw(&db, docs.clone()).await;
    put_raw(&oracle, docs).await;
    macro_rules! same {
        ($sql:literal $(, $p:expr)*) => {{
            let got = couch_sql!($sql $(, $p)*).fetch_all(&db).await.unwrap_or_else(|e| panic!("{}: {e}", $sql));
            let want = couch_sql!($sql $(, $p)*).fetch_all(&oracle).await.unwrap();
            let got: Vec<String> = got.iter().map(|r| r._id.clone()).collect();
            let want: Vec<String> = want.iter().map(|r| r._id.clone()).collect();
            assert_eq!(crate::sorted(&got), crate::sorted(&want), "{}", $sql);
            want
        }};
    }
    let found = same!("SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t LIKE '%i%')");
    assert!(!found.is_empty());
    same!("SELECT _id FROM customers WHERE NOT EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t LIKE '%i%')");
    same!("SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t LIKE ?)", "_i%");
    let found = same!(
        "SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE l.qty >= 2 AND l.sku = 'b')"
    );
    assert!(!found.is_empty());
    same!("SELECT _id FROM customers WHERE NOT EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE l.qty >= 2 AND l.sku = 'b')");
    same!("SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(lines) AS l WHERE l.qty IS NULL)");
    same!("SELECT _id FROM customers WHERE name <> 'z' OR EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t LIKE '%n')");
    // A window of the rows, counted after matching.
    for (limit, offset) in [(1, 0), (2, 1), (10, 2)] {
        let q = || {
            couch_sql!(
                "SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t LIKE '%i%') ORDER BY _id LIMIT ? OFFSET ?",
                limit,
                offset
            )
        };
        let got: Vec<String> = q().fetch_all(&db).await.unwrap().iter().map(|r| r._id.clone()).collect();
        let want: Vec<String> = q().fetch_all(&oracle).await.unwrap().iter().map(|r| r._id.clone()).collect();
        assert_eq!(got, want, "LIMIT {limit} OFFSET {offset}");
    }
    // UPDATE and DELETE read their documents the same way.
    couch_sql!("UPDATE customers SET visits = 7 WHERE EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t LIKE '%i%')")
        .execute(&db)
        .await
        .unwrap();
    let updated = couch_sql!("SELECT _id FROM customers WHERE visits = 7").fetch_all(&db).await.unwrap();
    let mut updated: Vec<String> = updated.iter().map(|r| r._id.clone()).collect();
    updated.sort();
    assert_eq!(updated, crate::sorted(&found_like(&oracle).await));
    oracle.drop_database().await.unwrap();
}

async fn found_like(db: &couch_sql::Database) -> Vec<String> {
    let rows =
        couch_sql!("SELECT _id FROM customers WHERE EXISTS (SELECT 1 FROM UNNEST(tags) AS t WHERE t LIKE '%i%')")
            .fetch_all(db)
            .await
            .unwrap();
    rows.iter().map(|r| r._id.clone()).collect()
}
