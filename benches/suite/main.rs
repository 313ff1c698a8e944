//! couch-sql benchmark suite: compile-time SQL against the hand-written baseline.
//!
//! ```sh
//! scripts/with-server.sh cargo bench --bench suite            # everything (~10 min)
//! scripts/with-server.sh cargo bench --bench suite -- --quick # smoke run
//! cargo bench --bench suite -- --compile-only                  # section 6 alone
//! COUCHDB_URL=… cargo bench --bench suite -- --prefix-only       # section 10 alone
//! COUCHDB_URL=… cargo bench --bench suite -- --aggregate-only    # section 11 alone
//! scripts/with-server.sh cargo bench --bench suite -- --engine-only   # section 12: the embedded engine vs that server
//! LOAD_PID=… LOAD_NAME=… COUCHDB_URL=… cargo bench --bench suite -- --load-only   # section 15: 200 clients, 30 s
//! ```
//!
//! Prints Markdown tables (kept in BENCHMARKS.md). Each comparison runs its two
//! sides interleaved, several repetitions, and reports the median and the
//! spread (min–max) of the repetitions, and the ratio of the medians.

mod insert_1000;

use couch_sql::{couch_sql, CouchRow, Database};
use couch_translate::{Column, ColumnType, Kind, Schema};
use serde::Deserialize;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "bench_rows")]
pub struct BenchRow {
    #[couch(id)]
    id: Option<String>,
    name: String,
    n: i64,
    grp: i64,
    payload: Option<String>,
}

/// A nested document: objects, arrays of scalars and of objects, a date, JSON.
#[derive(couch_sql::CouchObject, Debug, Clone, PartialEq)]
pub struct NAddress {
    city: String,
    zip: Option<String>,
}

#[derive(couch_sql::CouchObject, Debug, Clone, PartialEq)]
pub struct NLine {
    sku: String,
    qty: i64,
    price: f64,
}

#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "bench_nested")]
pub struct NestedRow {
    #[couch(id)]
    id: Option<String>,
    name: String,
    address: NAddress,
    billing: Option<NAddress>,
    tags: Vec<String>,
    lines: Vec<NLine>,
    since: chrono::DateTime<chrono::Utc>,
    visits: u32,
    meta: serde_json::Value,
}

/// The hand-written twins of the nested model, with serde's own derive.
#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct HandNested {
    #[serde(rename = "_id")]
    id: Option<String>,
    name: String,
    address: HandAddress,
    billing: Option<HandAddress>,
    tags: Vec<String>,
    lines: Vec<HandLine>,
    since: chrono::DateTime<chrono::Utc>,
    visits: u32,
    meta: serde_json::Value,
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct HandAddress {
    city: String,
    zip: Option<String>,
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct HandLine {
    sku: String,
    qty: i64,
    price: f64,
}

/// The planning scenario's users (orders share the database).
#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "users")]
pub struct PlanUser {
    name: String,
    age: i64,
    city: String,
}

/// The hand-written twin of `BenchRow`, for the baselines.
#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct HandRow {
    #[serde(rename = "_id")]
    id: Option<String>,
    name: String,
    n: i64,
    grp: i64,
    payload: Option<String>,
}

#[derive(Deserialize)]
struct HandPage<R> {
    docs: Vec<R>,
}

/// The projection of the selective query, hand-written.
#[derive(Deserialize)]
#[allow(dead_code)]
struct HandProjected {
    name: String,
    n: i64,
    grp: i64,
}

const SELECTIVE_SQL: &str = "SELECT name, n, grp FROM bench_rows WHERE grp = ? AND n >= ? AND name LIKE ?";

fn schema() -> Schema {
    Schema::new(
        "bench_rows",
        vec![
            Column::mapped("id", "_id", ColumnType::new(Kind::Text, true, "Option<String>")),
            Column::new("name", ColumnType::new(Kind::Text, false, "String")),
            Column::new("n", ColumnType::new(Kind::Integer, false, "i64")),
            Column::new("grp", ColumnType::new(Kind::Integer, false, "i64")),
            Column::new("payload", ColumnType::new(Kind::Text, true, "Option<String>")),
        ],
    )
}

/// Median, min and max.
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn fmt(v: &[f64], digits: usize) -> String {
    let (m, lo, hi) = stats(v);
    format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$})")
}

/// Runs `a` and `b` `reps` times each, alternating which goes first.
fn interleave(reps: usize, mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> (Vec<f64>, Vec<f64>) {
    let (mut va, mut vb) = (vec![], vec![]);
    for r in 0..reps {
        if r % 2 == 0 {
            va.push(a());
            vb.push(b());
        } else {
            vb.push(b());
            va.push(a());
        }
    }
    (va, vb)
}

fn ns_per_op(iters: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

fn request_building(quick: bool) {
    println!("\n## 1. Request building (3 parameters → `_find` body)\n");
    let (fast_iters, slow_iters, reps) = if quick { (20_000, 300, 3) } else { (300_000, 5_000, 7) };
    let schema = schema();
    let compiled = || {
        ns_per_op(fast_iters, || {
            let q = couch_sql!(
                "SELECT name, n, grp FROM bench_rows WHERE grp = ? AND n >= ? AND name LIKE ?",
                black_box(7),
                black_box(0),
                black_box("r%")
            );
            black_box(q.find_body(1000).unwrap());
        })
    };
    let runtime = || {
        ns_per_op(slow_iters, || {
            let t = couch_translate::translate(black_box(SELECTIVE_SQL), Some(&schema)).unwrap();
            let couch_translate::Plan::Select(s) = &t.plan else { unreachable!() };
            let params = [serde_json::json!(7), serde_json::json!(0), serde_json::json!("r%")];
            let mut body = Vec::with_capacity(256);
            body.extend_from_slice(br#"{"selector":"#);
            s.selector.render(&params, &mut body).unwrap();
            body.extend_from_slice(br#","fields":"#);
            serde_json::to_writer(&mut body, &s.fields).unwrap();
            body.extend_from_slice(br#","limit":1000}"#);
            black_box(body);
        })
    };
    let (c, r) = interleave(reps, compiled, runtime);
    println!("| path | ns/op median (min–max) |\n|---|---:|");
    println!("| `couch_sql!` template, params bound, body serialized | {} |", fmt(&c, 0));
    println!("| run-time parse + translate + serialize (same translator) | {} |", fmt(&r, 0));
    println!(
        "\nCompiled is **{:.0}×** faster (target ≥ 100×, and < 1 µs: {}).",
        stats(&r).0 / stats(&c).0,
        if stats(&c).0 < 1000.0 { "met" } else { "MISSED" }
    );
}

fn find_body_of(n: usize) -> Vec<u8> {
    let docs: Vec<_> = (0..n)
        .map(|i| {
            serde_json::json!({"_id": format!("{:032x}", i), "_rev": "1-0123456789abcdef0123456789abcdef", "type": "bench_rows",
                "name": format!("row-{i}"), "n": i, "grp": i % 50, "payload": if i % 3 == 0 { serde_json::Value::Null } else { serde_json::json!("lorem ipsum dolor sit amet, consectetur adipiscing elit") }})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "docs": docs, "bookmark": "nil" })).unwrap()
}

fn row_decoding(quick: bool) {
    println!("\n## 2. Row decoding (10,000-document `_find` body, in memory)\n");
    compare_decoding::<BenchRow, HandRow>(
        &find_body_of(10_000),
        quick,
        ("couch-sql runtime (`Vec<BenchRow>`)", "`serde_json::from_slice` into `struct { docs: Vec<Row> }`"),
    );
}

/// The runtime's decoder for `Ours` against `serde_json::from_slice` into
/// `Hand`'s page, on the same 10,000-document body, interleaved.
fn compare_decoding<Ours, Hand>(body: &[u8], quick: bool, labels: (&str, &str))
where
    Ours: serde::de::DeserializeOwned,
    Hand: serde::de::DeserializeOwned,
{
    let mb = body.len() as f64 / 1e6;
    let (iters, reps) = if quick { (3, 3) } else { (20, 7) };
    let ours = || {
        let t = Instant::now();
        for _ in 0..iters {
            let rows: Vec<Ours> = couch_sql::__private::decode_find_response(black_box(body)).unwrap();
            assert_eq!(rows.len(), 10_000);
            black_box(rows);
        }
        mb * iters as f64 / t.elapsed().as_secs_f64()
    };
    let hand = || {
        let t = Instant::now();
        for _ in 0..iters {
            let page: HandPage<Hand> = serde_json::from_slice(black_box(body)).unwrap();
            assert_eq!(page.docs.len(), 10_000);
            black_box(page);
        }
        mb * iters as f64 / t.elapsed().as_secs_f64()
    };
    let (o, h) = interleave(reps, ours, hand);
    println!("Body: {mb:.2} MB.\n\n| decoder | MB/s median (min–max) |\n|---|---:|");
    println!("| {} | {} |", labels.0, fmt(&o, 1));
    println!("| {} | {} |", labels.1, fmt(&h, 1));
    println!("\nRatio **{:.3}×** (target ≥ 0.95×).", stats(&o).0 / stats(&h).0);
}

fn nested_body_of(n: usize) -> Vec<u8> {
    let docs: Vec<_> = (0..n)
        .map(|i| {
            serde_json::json!({"_id": format!("{:032x}", i), "_rev": "1-0123456789abcdef0123456789abcdef", "type": "bench_nested",
                "name": format!("row-{i}"), "address": {"city": "Oslo", "zip": if i % 2 == 0 { serde_json::json!("0150") } else { serde_json::Value::Null }},
                "billing": if i % 3 == 0 { serde_json::json!({"city": "Lima"}) } else { serde_json::Value::Null },
                "tags": ["vip", "new", format!("t{}", i % 7)],
                "lines": [{"sku": "a-1", "qty": i % 5, "price": 9.5}, {"sku": "b-2", "qty": 1, "price": 3.25}],
                "since": "2026-11-29T18:00:00.000000Z", "visits": i % 100, "meta": {"source": "import"}})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "docs": docs, "bookmark": "nil" })).unwrap()
}

/// Decoding nested documents: the derives against serde's own derive on the same shapes.
fn nested_row_decoding(quick: bool) {
    println!("\n## 2b. Nested row decoding (10,000 nested documents, in memory)\n");
    compare_decoding::<NestedRow, HandNested>(
        &nested_body_of(10_000),
        quick,
        (
            "couch-sql runtime (`Vec<NestedRow>`, CouchRow + CouchObject)",
            "`serde_json::from_slice` into the same structs with `#[derive(Deserialize)]`",
        ),
    );
}

async fn seed(server: &str, db: &Database, n: usize, start: usize) {
    let http = reqwest::Client::new();
    for chunk in (start..start + n).collect::<Vec<_>>().chunks(1000) {
        let docs: Vec<_> = chunk
            .iter()
            .map(|&i| serde_json::json!({"_id": format!("seed{i:08}"), "type": "bench_rows", "name": format!("r{i}"), "n": i, "grp": i % 50}))
            .collect();
        let r = http
            .post(format!("{server}/{}/_bulk_docs", db.name()))
            .json(&serde_json::json!({"docs": docs}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

async fn fresh(server: &str, name: &str) -> Database {
    let db = Database::connect(&format!("{server}/{name}")).await.unwrap();
    db.drop_database().await.ok();
    db.create_if_missing().await.unwrap();
    db
}

async fn end_to_end(server: &str, quick: bool) {
    println!("\n## 3. End to end against the server (selective query, 20 of 1,000 rows)\n");
    let db = fresh(server, "bench_e2e").await;
    seed(server, &db, 1000, 0).await;
    let body = couch_sql!("SELECT name, n, grp FROM bench_rows WHERE grp = ? AND n >= ? AND name LIKE ?", 7, 0, "r%")
        .find_body(1000)
        .unwrap();
    let hand = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let url = format!("{server}/bench_e2e/_find");
    let (seq, conc, reps) = if quick { (30, 128, 1) } else { (500, 2000, 3) };

    let ours_once = |db: Database| async move {
        let rows =
            couch_sql!("SELECT name, n, grp FROM bench_rows WHERE grp = ? AND n >= ? AND name LIKE ?", 7, 0, "r%")
                .fetch_all(&db)
                .await
                .unwrap();
        assert_eq!(rows.len(), 20);
    };
    let hand_once = |http: reqwest::Client, url: String, body: Vec<u8>| async move {
        let r = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let bytes = r.bytes().await.unwrap();
        let page: HandPage<HandProjected> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(page.docs.len(), 20);
    };
    // Warm up both clients and the server.
    for _ in 0..20 {
        ours_once(db.clone()).await;
        hand_once(hand.clone(), url.clone(), body.clone()).await;
    }
    let mut results: Vec<(&str, Vec<f64>, Vec<f64>)> = vec![];
    for (label, total, tasks) in [("sequential ×", seq, 1usize), ("64 concurrent tasks ×", conc, 64)] {
        let (mut o, mut h) = (vec![], vec![]);
        for rep in 0..reps {
            for side in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
                let next = Arc::new(AtomicUsize::new(0));
                let t = Instant::now();
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..tasks {
                    let (next, db, hand, url, body) =
                        (next.clone(), db.clone(), hand.clone(), url.clone(), body.clone());
                    set.spawn(async move {
                        while next.fetch_add(1, Ordering::Relaxed) < total {
                            if side == 0 {
                                ours_once(db.clone()).await
                            } else {
                                hand_once(hand.clone(), url.clone(), body.clone()).await
                            }
                        }
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
                let qps = total as f64 / t.elapsed().as_secs_f64();
                if side == 0 {
                    o.push(qps)
                } else {
                    h.push(qps)
                }
            }
        }
        results.push((label, o, h));
        let _ = total;
    }
    println!("| run | couch-sql q/s | reqwest + serde_json q/s | ratio |\n|---|---:|---:|---:|");
    for ((label, o, h), total) in results.iter().zip([seq, conc]) {
        println!("| {label}{total} | {} | {} | **{:.3}×** |", fmt(o, 0), fmt(h, 0), stats(o).0 / stats(h).0);
    }
    println!("\nTarget ≥ 0.95× the hand-written client. Both send the identical body over one pooled connection set.");
    db.drop_database().await.ok();
}

async fn writes(server: &str, quick: bool) {
    let n = if quick { 2_000 } else { 10_000 };
    let single_n = if quick { 300 } else { 10_000 };
    println!("\n## 4. Writes ({n} documents)\n");
    let rows: Vec<(String, i64, i64)> = (0..n as i64).map(|i| (format!("w{i}"), i, i % 50)).collect();
    let reps = if quick { 1 } else { 5 };
    let (mut multi, mut raw) = (vec![], vec![]);
    let http = reqwest::Client::new();
    // Rep 0 warms the server's JIT and both clients up; it is not counted.
    for rep in 0..=reps {
        for side in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
            let db = fresh(server, "bench_writes").await;
            let t = Instant::now();
            if side == 0 {
                for chunk in rows.chunks(insert_1000::ROWS) {
                    let r = insert_1000::insert_1000(&db, chunk).await.unwrap();
                    assert_eq!(r.rows_affected() as usize, chunk.len());
                }
                if rep > 0 {
                    multi.push(n as f64 / t.elapsed().as_secs_f64());
                }
            } else {
                for (c, chunk) in rows.chunks(1000).enumerate() {
                    let docs: Vec<_> = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, (name, n, g))| serde_json::json!({"_id": format!("raw{c:04}{i:04}"), "type": "bench_rows", "name": name, "n": n, "grp": g}))
                        .collect();
                    let r = http
                        .post(format!("{server}/bench_writes/_bulk_docs"))
                        .json(&serde_json::json!({"docs": docs}))
                        .send()
                        .await
                        .unwrap();
                    let out: Vec<serde_json::Value> = r.json().await.unwrap();
                    assert_eq!(out.len(), chunk.len());
                }
                if rep > 0 {
                    raw.push(n as f64 / t.elapsed().as_secs_f64());
                }
            }
        }
    }
    let db = fresh(server, "bench_writes").await;
    let t = Instant::now();
    for (name, n, g) in &rows[..single_n] {
        couch_sql!("INSERT INTO bench_rows (name, n, grp) VALUES (?, ?, ?)", name, *n, *g).execute(&db).await.unwrap();
    }
    let single = single_n as f64 / t.elapsed().as_secs_f64();
    db.drop_database().await.ok();
    println!("| method | docs/s median (min–max) |\n|---|---:|");
    println!("| multi-row `INSERT` (1,000 rows per statement) | {} |", fmt(&multi, 0));
    println!("| raw `_bulk_docs` loop (1,000 per request) | {} |", fmt(&raw, 0));
    println!("| single-row `INSERT` ×{single_n} | {single:.0} |");
    println!(
        "\nMulti-row INSERT / raw `_bulk_docs`: **{:.3}×** (target ≥ 0.95×); multi-row / single-row: **{:.1}×** (target ≥ 20×).",
        stats(&multi).0 / stats(&raw).0,
        stats(&multi).0 / single
    );
}

async fn update_delete(server: &str, quick: bool) {
    let n = if quick { 1_000 } else { 5_000 };
    println!("\n## 5. UPDATE and DELETE of {n} matching documents\n");
    let db = fresh(server, "bench_ud").await;
    seed(server, &db, n, 0).await;
    let before = db.request_count();
    let t = Instant::now();
    let r = couch_sql!("UPDATE bench_rows SET grp = grp + 1000 WHERE n >= ?", 0).execute(&db).await.unwrap();
    let update_s = t.elapsed().as_secs_f64();
    assert_eq!(r.rows_affected() as usize, n);
    let update_requests = db.request_count() - before;
    let before = db.request_count();
    let t = Instant::now();
    let d = couch_sql!("DELETE FROM bench_rows WHERE grp >= 1000").execute(&db).await.unwrap();
    let delete_s = t.elapsed().as_secs_f64();
    assert_eq!(d.rows_affected() as usize, n);
    let delete_requests = db.request_count() - before;
    let pages = n.div_ceil(1000);
    println!("| statement | docs/s | HTTP requests | expected |\n|---|---:|---:|---:|");
    println!(
        "| `UPDATE … SET grp = grp + 1000 WHERE n >= ?` | {:.0} | {update_requests} | {} reads + {pages} writes |",
        n as f64 / update_s,
        pages + 1
    );
    println!(
        "| `DELETE … WHERE grp >= 1000` | {:.0} | {delete_requests} | {} reads + {pages} writes |",
        n as f64 / delete_s,
        pages + 1
    );
    println!(
        "\nReads page by 1,000; a full last page costs one more (empty) read, since only a short page proves the end."
    );
    db.drop_database().await.ok();
}

async fn planned_index_scenario(server: &str, quick: bool) {
    let (users, orders) = if quick { (2_000, 4_000) } else { (10_000, 20_000) };
    println!("\n## 7. Planned indexes ({users} users + {orders} orders in one database)\n");
    let db = fresh(server, "bench_plan").await;
    let http = reqwest::Client::new();
    for (kind, n) in [("users", users), ("orders", orders)] {
        for start in (0..n).step_by(2000) {
            let docs: Vec<_> = (start..(start + 2000).min(n))
                .map(|i| {
                    if kind == "users" {
                        serde_json::json!({"type": "users", "name": format!("u{i}"), "age": i % 100, "city": format!("c{}", i % 10)})
                    } else {
                        serde_json::json!({"type": "orders", "user": format!("u{}", i % 1000), "amount": i % 500, "city": format!("c{}", i % 10)})
                    }
                })
                .collect();
            let r = http
                .post(format!("{server}/bench_plan/_bulk_docs"))
                .json(&serde_json::json!({"docs": docs}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    }
    let q = || couch_sql!("SELECT name, age FROM users WHERE age >= ? AND city = ? LIMIT 20", 90, "c3");
    println!("Query: `{}`, planned index `{}`.\n", q().sql(), q().planned_index().unwrap());
    let with = db.clone().with_index_policy(couch_sql::IndexPolicy::Lazy);
    let without = db.clone().with_index_policy(couch_sql::IndexPolicy::Never);
    // Build the index and warm both paths up.
    let t = Instant::now();
    let n = q().fetch_all(&with).await.unwrap().len();
    let build = t.elapsed();
    assert_eq!(n, 20);
    for _ in 0..3 {
        assert_eq!(q().fetch_all(&without).await.unwrap().len(), n);
        assert_eq!(q().fetch_all(&with).await.unwrap().len(), n);
    }
    let e = couch_sql!("EXPLAIN SELECT name, age FROM users WHERE age >= ? AND city = ? LIMIT 20", 90, "c3")
        .explain(&with)
        .await
        .unwrap();
    let iters = if quick { 20 } else { 100 };
    let (mut a, mut b) = (vec![], vec![]);
    for rep in 0..(if quick { 2 } else { 5 }) {
        for side in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
            let db = if side == 0 { &with } else { &without };
            let t = Instant::now();
            for _ in 0..iters {
                assert_eq!(q().fetch_all(db).await.unwrap().len(), n);
            }
            let ms = t.elapsed().as_secs_f64() * 1000.0 / iters as f64;
            if side == 0 {
                a.push(ms)
            } else {
                b.push(ms)
            }
        }
    }
    println!("| policy | ms/query median (min–max) |\n|---|---:|");
    println!(
        "| `Lazy` (planned index `{}`, server used `{}`) | {} |",
        q().planned_index().unwrap(),
        e.index.name,
        fmt(&a, 2)
    );
    println!("| `Never` (no `use_index`, server's choice) | {} |", fmt(&b, 2));
    println!(
        "\nWith the planned index: **{:.2}×** the speed of the plain query. First query, building the index: {:.0} ms.",
        stats(&b).0 / stats(&a).0,
        build.as_secs_f64() * 1000.0
    );
    db.drop_database().await.ok();
}

/// The same table kept by `type` and by `_id` prefix (issue 11).
#[allow(dead_code)] // the rows are read for their cost, not their values
mod conventions {
    use couch_sql::{couch_sql, Database};

    pub async fn read_by_type(db: &Database) -> usize {
        use by_type::members;
        couch_sql!("SELECT name, n FROM members").fetch_all(db).await.unwrap().len()
    }

    pub async fn read_by_prefix(db: &Database) -> usize {
        use by_prefix::members;
        couch_sql!("SELECT name, n FROM members").fetch_all(db).await.unwrap().len()
    }

    pub async fn explain(db: &Database, by_prefix: bool) -> couch_sql::Explanation {
        if by_prefix {
            use by_prefix::members;
            couch_sql!("EXPLAIN SELECT name, n FROM members").explain(db).await.unwrap()
        } else {
            use by_type::members;
            couch_sql!("EXPLAIN SELECT name, n FROM members").explain(db).await.unwrap()
        }
    }

    pub mod by_type {
        #[derive(couch_sql::CouchRow, Debug)]
        #[couch(table = "members")]
        pub struct Member {
            pub name: String,
            pub n: i64,
        }
    }
    pub mod by_prefix {
        #[derive(couch_sql::CouchRow, Debug)]
        #[couch(table = "members", id_prefix = "member:")]
        pub struct Member {
            pub name: String,
            pub n: i64,
        }
    }
}

/// Section 10: reading a whole table of an existing database by `type` (through the
/// planned json index on `type`) and by `_id` prefix (through the primary index).
async fn id_prefix_scan(server: &str, quick: bool) {
    let (total, table) = if quick { (20_000, 2_000) } else { (100_000, 10_000) };
    println!("\n## 10. Table scans: by `type` vs by `_id` prefix ({table} rows of {total} documents)\n");
    let http = reqwest::Client::new();
    let mut dbs = Vec::new();
    for (name, by_prefix) in [("bench_by_type", false), ("bench_by_prefix", true)] {
        let db = fresh(server, name).await;
        for start in (0..total).step_by(5000) {
            let docs: Vec<_> = (start..(start + 5000).min(total))
                .map(|i| {
                    // Every tenth document is a member, spread over the id space as real data is.
                    let member = i % (total / table) == 0;
                    let kind = if member { "member" } else { ["order", "invoice", "visit"][i % 3] };
                    if by_prefix {
                        serde_json::json!({"_id": format!("{kind}:{i:08}"), "name": format!("m{i}"), "n": i})
                    } else {
                        serde_json::json!({"_id": format!("{i:08}"), "type": format!("{kind}s"), "name": format!("m{i}"), "n": i})
                    }
                })
                .collect();
            let r = http
                .post(format!("{server}/{name}/_bulk_docs"))
                .json(&serde_json::json!({"docs": docs}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
        dbs.push(db);
    }
    let (by_type, by_prefix) = (&dbs[0], &dbs[1]);
    let cold = Instant::now();
    assert_eq!(conventions::read_by_type(by_type).await, table);
    let cold_type = cold.elapsed().as_secs_f64() * 1000.0;
    by_type.ensure_indexes().await.unwrap();
    let e_type = conventions::explain(by_type, false).await;
    let e_prefix = conventions::explain(by_prefix, true).await;
    // The hand-written read of the same rows: one `_all_docs` range request, decoded as JSON.
    let all_docs = format!(
        "{server}/bench_by_prefix/_all_docs?include_docs=true&start_key=%22member%3A%22&end_key=%22member%3B%22&limit={}",
        table + 1
    );
    #[derive(Deserialize)]
    struct AllDocs {
        rows: Vec<AllDocsRow>,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct AllDocsRow {
        doc: HandMember,
    }
    #[derive(Deserialize)]
    struct HandMember {
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        n: i64,
    }
    let reps = if quick { 3 } else { 7 };
    let (mut t, mut p, mut h) = (vec![], vec![], vec![]);
    for rep in 0..reps {
        let mut order = [0, 1, 2];
        order.rotate_left(rep % 3);
        for side in order {
            let start = Instant::now();
            let n = match side {
                0 => conventions::read_by_type(by_type).await,
                1 => conventions::read_by_prefix(by_prefix).await,
                _ => {
                    let bytes = http.get(&all_docs).send().await.unwrap().bytes().await.unwrap();
                    serde_json::from_slice::<AllDocs>(&bytes).unwrap().rows.len()
                }
            };
            assert_eq!(n, table);
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            [&mut t, &mut p, &mut h][side].push(ms);
        }
    }
    println!("| read of the whole table | index the server used | ms median (min–max) |\n|---|---|---:|");
    println!("| by `type`: `{{\"type\": \"members\"}}` | `{}` | {} |", e_type.index.name, fmt(&t, 1));
    println!("| by `_id` prefix: `{}` | `{}` | {} |", e_prefix.selector, e_prefix.index.name, fmt(&p, 1));
    println!("| hand-written `_all_docs` range, one request | primary | {} |", fmt(&h, 1));
    println!(
        "\nBy prefix: **{:.2}×** the speed of by `type`, and **{:.2}×** the speed of the hand-written `_all_docs` read. \
         The first read by `type`, before its index existed (a scan of all {total} documents): {cold_type:.0} ms.",
        stats(&t).0 / stats(&p).0,
        stats(&h).0 / stats(&p).0,
    );
    for db in dbs {
        db.drop_database().await.ok();
    }
}

mod people {
    #[derive(couch_sql::CouchRow, Debug)]
    #[couch(table = "people")]
    #[allow(dead_code)] // read for the cost of reading
    pub struct Person {
        pub name: String,
        pub city: Option<String>,
        pub age: Option<i64>,
    }
}

/// Section 11: `GROUP BY` on the view path vs the streaming path vs a hand-written
/// client that reads every document and aggregates (issue 12).
async fn aggregate_paths(server: &str, quick: bool) {
    use people::people;
    let n = if quick { 10_000 } else { 100_000 };
    println!("\n## 11. Aggregates: view path vs streaming path ({n} documents)\n");
    let db = fresh(server, "bench_agg").await;
    let http = reqwest::Client::new();
    for start in (0..n).step_by(5000) {
        let docs: Vec<_> = (start..(start + 5000).min(n))
            .map(|i| {
                let mut d = serde_json::json!({"type": "people", "name": format!("p{i}"), "age": (i * 7919) % 90});
                if i % 11 != 0 {
                    d["city"] = serde_json::json!(format!("city{:02}", (i * 31) % 20));
                }
                d
            })
            .collect();
        let r = http
            .post(format!("{server}/bench_agg/_bulk_docs"))
            .json(&serde_json::json!({"docs": docs}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let q = || couch_sql!("SELECT city, COUNT(*) AS n, AVG(age) AS avg_age FROM people GROUP BY city");
    let streaming = db.clone().with_index_policy(couch_sql::IndexPolicy::Never);
    let build = Instant::now();
    let first = q().fetch_all(&db).await.unwrap();
    let build_ms = build.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(first.len(), 21);
    // The hand-written client: `_all_docs?include_docs=true` in pages of 10,000, aggregated in a HashMap.
    #[derive(Deserialize)]
    struct Page {
        rows: Vec<PageRow>,
    }
    #[derive(Deserialize)]
    struct PageRow {
        id: String,
        doc: Option<serde_json::Value>,
    }
    let hand = || async {
        let mut groups: std::collections::HashMap<Option<String>, (i64, f64, i64)> = Default::default();
        let mut start: Option<String> = None;
        loop {
            let mut url = format!("{server}/bench_agg/_all_docs?include_docs=true&limit=10001");
            if let Some(s) = &start {
                // CouchDB's generated ids are hex: the JSON string needs only its quotes encoded.
                url.push_str(&format!("&startkey=%22{s}%22"));
            }
            let page: Page = http.get(&url).send().await.unwrap().json().await.unwrap();
            let more = page.rows.len() == 10_001;
            for r in page.rows.iter().take(10_000) {
                let Some(d) = &r.doc else { continue };
                if d["type"] != "people" {
                    continue;
                }
                let g = groups.entry(d["city"].as_str().map(str::to_owned)).or_default();
                g.0 += 1;
                if let Some(a) = d["age"].as_i64() {
                    g.1 += a as f64;
                    g.2 += 1;
                }
            }
            if !more {
                break;
            }
            start = Some(page.rows[10_000].id.clone());
        }
        groups.len()
    };
    let reps = if quick { 2 } else { 3 };
    let (mut v, mut st, mut h) = (vec![], vec![], vec![]);
    for rep in 0..reps {
        let mut order = [0, 1, 2];
        order.rotate_left(rep % 3);
        for side in order {
            let t = Instant::now();
            let groups = match side {
                0 => q().fetch_all(&db).await.unwrap().len(),
                1 => q().fetch_all(&streaming).await.unwrap().len(),
                _ => hand().await,
            };
            assert_eq!(groups, 21);
            [&mut v, &mut st, &mut h][side].push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!("Query: `{}`.\n", q().sql());
    println!("| path | ms median (min–max) |\n|---|---:|");
    println!("| view path (design document built) | {} |", fmt(&v, 1));
    println!("| streaming path (`_find` pages, aggregated in the client) | {} |", fmt(&st, 1));
    println!("| hand-written: `_all_docs` pages of 10,000, aggregated in a `HashMap` | {} |", fmt(&h, 1));
    println!(
        "\nView path: **{:.1}×** the speed of the streaming path, **{:.1}×** the hand-written client. \
         Streaming path: {:.2}× the hand-written client. First query, building the view over {n} documents: {build_ms:.0} ms.",
        stats(&st).0 / stats(&v).0,
        stats(&h).0 / stats(&v).0,
        stats(&h).0 / stats(&st).0,
    );
    db.drop_database().await.ok();
}

/// Section 12: the same `_find` on the embedded engine (in process, and over HTTP
/// with `couch-sql serve`) and on the server at `COUCHDB_URL` (issue 13).
async fn engine_vs_server(server: &str, quick: bool) {
    let n = if quick { 20_000 } else { 100_000 };
    println!("\n## 12. The embedded engine vs the server ({n} documents)\n");
    // The engine over HTTP, served from this process.
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(couch_embedded::serve::serve(
        couch_embedded::Engine::new(),
        "127.0.0.1:0".parse().unwrap(),
        move |a| {
            let _ = tx.send(a);
        },
    ));
    let served = format!("http://{}", rx.await.unwrap());
    let name = format!("bench_engine_{}", std::process::id());
    let mut dbs = Vec::new();
    for url in [format!("{server}/{name}"), format!("{served}/{name}"), format!("mem://{name}")] {
        let db = Database::connect(&url).await.unwrap();
        db.drop_database().await.ok();
        db.create_if_missing().await.unwrap();
        let mut batch = Vec::new();
        for i in 0..n {
            batch.push(serde_json::json!({"_id": format!("seed{i:08}"), "type": "bench_rows", "name": format!("r{i}"), "n": i, "grp": i % 50}));
            if batch.len() == 5000 {
                write_docs(&db, &std::mem::take(&mut batch)).await;
            }
        }
        dbs.push(db);
    }
    let q = || couch_sql!("SELECT name, n FROM bench_rows WHERE grp = ? AND n >= ?", 7, 0);
    let labels = ["the server at COUCHDB_URL", "couch-sql serve (HTTP, same machine)", "mem:// (in process)"];
    let mut times: Vec<Vec<f64>> = vec![vec![]; 3];
    for (i, db) in dbs.iter().enumerate() {
        assert_eq!(q().fetch_all(db).await.unwrap().len(), n / 50, "{}", labels[i]);
        // warm up, build indexes
    }
    let reps = if quick { 3 } else { 5 };
    for rep in 0..reps {
        for k in 0..3 {
            let i = (k + rep) % 3;
            let t = Instant::now();
            assert_eq!(q().fetch_all(&dbs[i]).await.unwrap().len(), n / 50);
            times[i].push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!("Query: `{}` ({} rows), each side with its default index policy.\n", q().sql(), n / 50);
    println!("| target | ms median (min–max) |\n|---|---:|");
    for (l, t) in labels.iter().zip(&times) {
        println!("| {l} | {} |", fmt(t, 1));
    }
    println!(
        "\nEngine over HTTP: **{:.1}×** the speed of the server; in process: **{:.1}×**.",
        stats(&times[0]).0 / stats(&times[1]).0,
        stats(&times[0]).0 / stats(&times[2]).0
    );
    for db in dbs {
        db.drop_database().await.ok();
    }
}

/// Writes documents through a database handle, on any transport: one run-time
/// INSERT (one `_bulk_docs`) per call.
async fn write_docs(db: &Database, docs: &[serde_json::Value]) {
    let rows: Vec<String> = docs
        .iter()
        .map(|d| {
            format!("('{}', '{}', {}, {})", d["_id"].as_str().unwrap(), d["name"].as_str().unwrap(), d["n"], d["grp"])
        })
        .collect();
    couch_sql::query(&format!("INSERT INTO bench_rows (_id, name, n, grp) VALUES {}", rows.join(", ")))
        .execute(db)
        .await
        .unwrap();
}

fn compile_cost() {
    println!("\n## 6. Compile cost of the macro (200 `couch_sql!` invocations)\n");
    let root = env!("CARGO_MANIFEST_DIR");
    let base = std::path::Path::new(root).join("target/bench-compile");
    let target = base.join("target");
    for (variant, queries) in [("with", 200), ("without", 0)] {
        let dir = base.join(variant);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!("[package]\nname = \"compile-{variant}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\ncouch-sql = {{ path = {root:?} }}\n\n[workspace]\n"),
        )
        .unwrap();
        let mut src = String::from("#![allow(unused_imports, unused_mut)]\nuse couch_sql::{couch_sql, CouchRow};\n\n#[derive(CouchRow)]\n#[couch(table = \"items\")]\npub struct Item {\n    name: String,\n    n: i64,\n    tag: Option<String>,\n}\n\nfn main() {\n    let mut total = 0usize;\n");
        for i in 0..queries {
            src.push_str(&format!(
                "    total += couch_sql!(\"SELECT name, n FROM items WHERE n > {i} AND tag = ? ORDER BY n DESC LIMIT 10\", \"t\").sql().len();\n"
            ));
        }
        src.push_str("    println!(\"{total}\");\n}\n");
        std::fs::write(dir.join("src/main.rs"), src).unwrap();
    }
    let build = |variant: &str, release: bool| -> f64 {
        let dir = base.join(variant);
        // Touch the source so only this crate is rebuilt.
        let main = dir.join("src/main.rs");
        let text = std::fs::read_to_string(&main).unwrap();
        std::fs::write(&main, text).unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO"));
        cmd.arg("build").arg("-q").current_dir(&dir).env("CARGO_TARGET_DIR", &target);
        if release {
            cmd.arg("--release");
        }
        let t = Instant::now();
        let status = cmd.status().unwrap();
        assert!(status.success());
        t.elapsed().as_secs_f64() * 1000.0
    };
    println!("| profile | without queries (ms) | with 200 queries (ms) | added per query (ms) |\n|---|---:|---:|---:|");
    for release in [false, true] {
        build("without", release); // warm: dependencies compiled once
        build("with", release);
        let (w, wo) = interleave(3, || build("with", release), || build("without", release));
        let per = (stats(&w).0 - stats(&wo).0) / 200.0;
        println!("| {} | {} | {} | **{per:.2}** |", if release { "release" } else { "debug" }, fmt(&wo, 0), fmt(&w, 0));
    }
    println!("\nTarget: under 5 ms per query in debug. Times are `cargo build` of the crate alone, dependencies already built.");
    nested_compile_cost(&base, &build);
}

/// The same measure with a nested model (objects, arrays, a date) and queries on dotted paths.
fn nested_compile_cost(base: &std::path::Path, build: &dyn Fn(&str, bool) -> f64) {
    let root = env!("CARGO_MANIFEST_DIR");
    for (variant, queries) in [("nested-with", 200), ("nested-without", 0)] {
        let dir = base.join(variant);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!("[package]\nname = \"compile-{variant}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\ncouch-sql = {{ path = {root:?}, features = [\"chrono\"] }}\nchrono = {{ version = \"0.4\", default-features = false, features = [\"serde\", \"alloc\"] }}\nserde_json = \"1\"\n\n[workspace]\n"),
        )
        .unwrap();
        let mut src = String::from("#![allow(unused_imports, unused_mut, dead_code)]\nuse couch_sql::{couch_sql, CouchObject, CouchRow};\n\n#[derive(CouchObject)]\npub struct Address {\n    city: String,\n    zip: Option<String>,\n}\n\n#[derive(CouchObject)]\npub struct Line {\n    sku: String,\n    qty: i64,\n}\n\n#[derive(CouchRow)]\n#[couch(table = \"customers\")]\npub struct Customer {\n    name: String,\n    address: Address,\n    billing: Option<Address>,\n    tags: Vec<String>,\n    lines: Vec<Line>,\n    since: chrono::DateTime<chrono::Utc>,\n    visits: u32,\n    meta: serde_json::Value,\n}\n\nfn main() {\n    let mut total = 0usize;\n");
        for i in 0..queries {
            src.push_str(&format!(
                "    total += couch_sql!(\"SELECT name, address.city FROM customers WHERE address.city = ? AND visits > {i} AND ? = ANY(tags) ORDER BY since DESC LIMIT 10\", \"Oslo\", \"vip\").sql().len();\n"
            ));
        }
        src.push_str("    println!(\"{total}\");\n}\n");
        std::fs::write(dir.join("src/main.rs"), src).unwrap();
    }
    println!("\nWith a nested model (`Customer` of issue 11: two CouchObject types, `Vec`s, a date, JSON) and 200 different `SELECT name, address.city … WHERE address.city = ? AND visits > i AND ? = ANY(tags) ORDER BY since DESC LIMIT 10`:\n");
    println!("| profile | without queries (ms) | with 200 queries (ms) | added per query (ms) |\n|---|---:|---:|---:|");
    build("nested-without", false);
    build("nested-with", false);
    let (w, wo) = interleave(3, || build("nested-with", false), || build("nested-without", false));
    let per = (stats(&w).0 - stats(&wo).0) / 200.0;
    println!("| debug | {} | {} | **{per:.2}** |", fmt(&wo, 0), fmt(&w, 0));
}

/// The resident memory of process `pid`, in MiB (Linux).
fn rss_mib(pid: Option<u32>) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Section 15: `LOAD_CLIENTS` clients (200) for `LOAD_SECS` (30 s), each sending
/// `_find` (3 in 4) and 10-document `_bulk_docs` (1 in 4) back to back; errors,
/// throughput, latency, and the server's RSS (`LOAD_PID`) before and after.
async fn load(server: &str) {
    let clients: usize = std::env::var("LOAD_CLIENTS").ok().and_then(|c| c.parse().ok()).unwrap_or(200);
    let secs: u64 = std::env::var("LOAD_SECS").ok().and_then(|c| c.parse().ok()).unwrap_or(30);
    let pid: Option<u32> = std::env::var("LOAD_PID").ok().and_then(|p| p.parse().ok());
    let name = format!("bench_load_{}", std::process::id());
    let db = fresh(server, &name).await;
    seed(server, &db, 2000, 0).await;
    let url = format!("{server}/{name}");
    let index = serde_json::json!({"index": {"fields": ["type", "n"]}, "name": "type-n"});
    assert!(reqwest::Client::new()
        .post(format!("{url}/_index"))
        .json(&index)
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
    let rss_before = rss_mib(pid);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
                let mut i = 0u64;
                while std::time::Instant::now() < until {
                    i += 1;
                    let started = std::time::Instant::now();
                    let r = if i % 4 == 0 {
                        let docs: Vec<serde_json::Value> = (0..10)
                            .map(|k| serde_json::json!({"type": "bench_rows", "name": format!("load{c}-{i}-{k}"), "n": k}))
                            .collect();
                        http.post(format!("{url}/_bulk_docs")).json(&serde_json::json!({"docs": docs})).send().await
                    } else {
                        let q = serde_json::json!({"selector": {"type": "bench_rows", "n": {"$gte": (i * 7 + c as u64) % 2000}}, "limit": 20});
                        http.post(format!("{url}/_find")).json(&q).send().await
                    };
                    let answered = match r {
                        Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if answered {
                        ok += 1;
                    } else {
                        errors += 1;
                    }
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                (ok, errors, latencies)
            })
        })
        .collect();
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::new());
    for t in tasks {
        let (o, e, l) = t.await.unwrap();
        ok += o;
        errors += e;
        latencies.extend(l);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let rss = |r: Option<f64>| r.map_or("—".to_string(), |m| format!("{m:.0} MiB"));
    println!("\n## 15. Load: {clients} clients, {secs} s, _find 3 : _bulk_docs 1\n");
    println!("| server | requests | errors | req/s | p50 ms | p99 ms | RSS before | RSS after |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {server_name} | {ok} | {errors} | {:.0} | {:.1} | {:.1} | {} | {} |",
        ok as f64 / secs as f64,
        pct(0.5),
        pct(0.99),
        rss(rss_before),
        rss(rss_mib(pid)),
        server_name = std::env::var("LOAD_NAME").unwrap_or_else(|_| "server".into()),
    );
    let _ = db.drop_database().await;
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--load-only") {
        let server = std::env::var("COUCHDB_URL").expect("--load-only needs a server: COUCHDB_URL");
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        return rt.block_on(load(&server));
    }
    if std::env::args().any(|a| a == "--compile-only") {
        return compile_cost();
    }
    if std::env::args().any(|a| a == "--engine-only") {
        let server = std::env::var("COUCHDB_URL").expect("--engine-only compares with a server: COUCHDB_URL");
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        return rt.block_on(engine_vs_server(&server, quick));
    }
    if std::env::args().any(|a| a == "--aggregate-only") {
        let server = std::env::var("COUCHDB_URL").expect("--aggregate-only needs a server: COUCHDB_URL");
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        return rt.block_on(aggregate_paths(&server, quick));
    }
    if std::env::args().any(|a| a == "--prefix-only") {
        let server = std::env::var("COUCHDB_URL").expect("--prefix-only needs a server: COUCHDB_URL");
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        return rt.block_on(id_prefix_scan(&server, quick));
    }
    if std::env::args().any(|a| a == "--engine-upkeep-only") {
        return engine_upkeep(quick);
    }
    if std::env::args().any(|a| a == "--watch-only") {
        let server = std::env::var("COUCHDB_URL").expect("--watch-only needs a server: COUCHDB_URL");
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        return rt.block_on(live_queries(&server, quick));
    }
    if std::env::args().any(|a| a == "--core-only") {
        // §1–3: request building, row decoding, and end to end against COUCHDB_URL.
        request_building(quick);
        row_decoding(quick);
        let server = std::env::var("COUCHDB_URL").expect("--core-only needs a server: COUCHDB_URL");
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        return rt.block_on(end_to_end(&server, quick));
    }
    if std::env::args().any(|a| a == "--decode-only") {
        row_decoding(quick);
        return nested_row_decoding(quick);
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!("# couch-sql benchmarks{}\n", if quick { " (quick smoke run)" } else { "" });
    println!("- machine: {cpu}, {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    println!("- command: `scripts/with-server.sh cargo bench --bench suite{}`", if quick { " -- --quick" } else { "" });
    request_building(quick);
    row_decoding(quick);
    nested_row_decoding(quick);
    engine_upkeep(quick);
    match std::env::var("COUCHDB_URL") {
        Ok(server) => {
            println!("- server: {server} (pouchdb-server 4.2.0, in memory, same machine)");
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            rt.block_on(async {
                end_to_end(&server, quick).await;
                writes(&server, quick).await;
                update_delete(&server, quick).await;
                planned_index_scenario(&server, quick).await;
                id_prefix_scan(&server, quick).await;
                aggregate_paths(&server, quick).await;
                live_queries(&server, quick).await;
            });
        }
        Err(_) => println!(
            "\n(COUCHDB_URL is not set: the server benchmarks were skipped; run through scripts/with-server.sh)"
        ),
    }
    if !quick {
        compile_cost();
    }
}

/// A change read by the hand-written feed reader (the baseline of §13).
#[derive(Deserialize)]
struct HandChange {
    seq: serde_json::Value,
    id: String,
    #[serde(default)]
    deleted: bool,
    doc: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct HandChanges {
    results: Vec<HandChange>,
    last_seq: serde_json::Value,
}

/// The baseline: a longpoll loop over `_changes` with reqwest and serde_json,
/// keeping the `bench_rows` documents of group 7, decoded into `HandProjected`.
/// Sends each kept id with the instant it arrived.
async fn hand_feed(url: String, since: String, out: tokio::sync::mpsc::UnboundedSender<(String, Instant)>) {
    let http = reqwest::Client::new();
    let mut since = since;
    loop {
        let Ok(resp) = http
            .get(format!("{url}/_changes"))
            .query(&[
                ("feed", "longpoll"),
                ("include_docs", "true"),
                ("limit", "1000"),
                ("heartbeat", "10000"),
                ("since", since.as_str()),
            ])
            .send()
            .await
        else {
            return;
        };
        let Ok(body) = resp.bytes().await else { return };
        let Ok(page) = serde_json::from_slice::<HandChanges>(&body) else { return };
        let now = Instant::now();
        for c in page.results {
            let Some(doc) = c.doc else { continue };
            if c.deleted || doc["type"] != "bench_rows" || doc["grp"] != 7 {
                continue;
            }
            let row: HandProjected = serde_json::from_value(doc).unwrap();
            black_box(&row);
            if out.send((c.id, now)).is_err() {
                return;
            }
            let _ = &c.seq;
        }
        since = match page.last_seq {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
    }
}

/// §13: live queries against a hand-written `_changes` reader, on the same feed.
async fn live_queries(server: &str, quick: bool) {
    let (n_lat, n_tp) = if quick { (200, 5_000) } else { (1_000, 20_000) };
    println!("\n## 13. Live queries: INSERT → Upsert latency and changes/s (issue 15)\n");
    let name = format!("bench_live_{}", std::process::id());
    let db = fresh(server, &name).await;
    let url = format!("{server}/{name}");
    let update_seq = |db: Database| async move {
        match db.request("GET", "", None).await.unwrap()["update_seq"].clone() {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }
    };
    let q = || couch_sql!("SELECT name, n, grp FROM bench_rows WHERE grp = ?", 7);

    // Latency: one INSERT at a time, each waited for by both readers, running side by side.
    let (tx_lib, mut rx_lib) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let (tx_hand, mut rx_hand) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let mut watch = q().watch(&db).await.unwrap();
    let lib = tokio::spawn(async move {
        use futures_util::StreamExt;
        while let Some(c) = watch.next().await {
            if let couch_sql::Change::Upsert { id, row } = c.unwrap() {
                black_box(&row);
                if tx_lib.send((id, Instant::now())).is_err() {
                    return;
                }
            }
        }
    });
    let hand = tokio::spawn(hand_feed(url.clone(), update_seq(db.clone()).await, tx_hand));
    let (mut lat_lib, mut lat_hand) = (Vec::new(), Vec::new());
    for i in 0..n_lat {
        let id = format!("live{i:06}");
        let t0 = Instant::now();
        couch_sql!("INSERT INTO bench_rows (_id, name, n, grp) VALUES (?, ?, ?, 7)", id.clone(), id.clone(), i as i64)
            .execute(&db)
            .await
            .unwrap();
        let (a, at) = rx_lib.recv().await.unwrap();
        let (b, bt) = rx_hand.recv().await.unwrap();
        assert_eq!((a.as_str(), b.as_str()), (id.as_str(), id.as_str()));
        lat_lib.push((at - t0).as_secs_f64() * 1000.0);
        lat_hand.push((bt - t0).as_secs_f64() * 1000.0);
    }
    lib.abort();
    hand.abort();
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
    };
    let (m_lib, p99_lib) = (pct(&mut lat_lib, 0.5), pct(&mut lat_lib, 0.99));
    let (m_hand, p99_hand) = (pct(&mut lat_hand, 0.5), pct(&mut lat_hand, 0.99));
    println!("Query: `{}`; {n_lat} INSERTs one at a time, each waited for by both readers (running side by side on the same feed). Latency from the INSERT's start to the row arriving.\n", q().sql());
    println!("| reader | median (ms) | p99 (ms) |\n|---|---:|---:|");
    println!("| couch-sql `watch` | {m_lib:.2} | {p99_lib:.2} |");
    println!("| reqwest + serde_json longpoll loop | {m_hand:.2} | {p99_hand:.2} |");
    println!(
        "\nMedian ratio couch-sql / hand-written: **{:.2}×**; p99: **{:.2}×**.",
        m_lib / m_hand,
        p99_lib / p99_hand
    );

    // Throughput: a backlog of changes read from the sequence before it by each
    // reader alone; all of them documents of the table, then one in ten.
    println!("\nBacklog: {n_tp} documents written, then read from the sequence before them by each reader alone ({} runs each, alternating). couch-sql narrows the feed on the server (`filter=_selector`) only while it knows at most 64 matching ids, so here it reads the whole feed; the hand-written reader filters in the client.\n", if quick { 2 } else { 3 });
    println!("| documents of the table | rows of the query | reader | changes/s (median run) | seconds (min–max) |\n|---:|---:|---|---:|---:|");
    let mut setups = Vec::new();
    for (round, in_table) in [(0, n_tp), (1, n_tp / 10)].into_iter() {
        let before = update_seq(db.clone()).await;
        // Interleaved, so that each reader reads the whole backlog to find its last row.
        let every = n_tp / in_table;
        let docs: Vec<serde_json::Value> = (0..n_tp)
            .map(|i| {
                let (k, ours) = (i / every, i % every == 0);
                serde_json::json!({
                    "_id": format!("tp{round}_{i:08}"),
                    "type": if ours { "bench_rows" } else { "other_rows" },
                    "name": format!("r{i}"),
                    "n": i,
                    "grp": if ours && k % 2 == 1 { 8 } else { 7 },
                })
            })
            .collect();
        for chunk in docs.chunks(5000) {
            db.request("POST", "_bulk_docs", Some(&serde_json::json!({ "docs": chunk }))).await.unwrap();
        }
        let want = in_table / 2;
        let reps = if quick { 2 } else { 3 };
        let (mut t_lib, mut t_hand) = (Vec::new(), Vec::new());
        for rep in 0..reps * 2 {
            if rep % 2 == 0 {
                use futures_util::StreamExt;
                let setup = Instant::now();
                let mut w = q().watch_from(&db, &before).await.unwrap();
                setups.push(setup.elapsed().as_secs_f64() * 1000.0);
                // Read on a worker thread, as the hand-written reader is.
                let reader = tokio::spawn(async move {
                    let t = Instant::now();
                    let mut got = 0;
                    while got < want {
                        if let couch_sql::Change::Upsert { row, .. } = w.next().await.unwrap().unwrap() {
                            black_box(&row);
                            got += 1;
                        }
                    }
                    t.elapsed().as_secs_f64()
                });
                t_lib.push(reader.await.unwrap());
            } else {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let t = Instant::now();
                let reader = tokio::spawn(hand_feed(url.clone(), before.clone(), tx));
                for _ in 0..want {
                    rx.recv().await.unwrap();
                }
                t_hand.push(t.elapsed().as_secs_f64());
                reader.abort();
            }
        }
        let rate = |secs: &[f64]| n_tp as f64 / stats(secs).0;
        println!("| {in_table} | {want} | couch-sql `watch_from` | {:.0} | {} |", rate(&t_lib), fmt(&t_lib, 3));
        println!(
            "| {in_table} | {want} | reqwest + serde_json longpoll loop | {:.0} | {} |",
            rate(&t_hand),
            fmt(&t_hand, 3)
        );
        println!("| | | **ratio** | **{:.2}×** | |", rate(&t_lib) / rate(&t_hand));
    }
    println!(
        "\nNot counted above: `watch_from`'s setup, {} ms (the database's sequence, and the ids of the rows matching now, one `_find` of `_id`s, covered by the planned index on CouchDB 3.4, so that a later deletion of one of them is a `Removed`).",
        fmt(&setups, 1)
    );
    db.drop_database().await.ok();
}

/// §14: the embedded engine's upkeep, in process (`Engine::handle`, no HTTP): a write
/// followed by an indexed query against the same query on a fresh index, and a
/// query no index serves against `_all_docs` handing out the same documents.
fn engine_upkeep(quick: bool) {
    use couch_embedded::Engine;
    let n = if quick { 20_000 } else { 100_000 };
    let rounds = if quick { 20 } else { 100 };
    println!("\n## 14. The embedded engine's upkeep ({n} documents, in process)\n");
    let engine = Engine::new();
    engine.handle("PUT", "/upkeep", b"");
    engine.handle(
        "POST",
        "/upkeep/_index",
        br#"{"index": {"fields": ["type", "grp", "n"]}, "name": "i", "ddoc": "i"}"#,
    );
    for k in 0..n / 5000 {
        let docs: Vec<serde_json::Value> = (0..5000)
            .map(|i| serde_json::json!({"_id": format!("d{k:03}_{i:05}"), "type": "r", "grp": i % 50, "n": i, "name": format!("name {i}"), "tags": ["a", "b"], "addr": {"city": "Oslo", "zip": "0150"}}))
            .collect();
        engine.handle("POST", "/upkeep/_bulk_docs", serde_json::json!({ "docs": docs }).to_string().as_bytes());
    }
    let indexed = br#"{"selector": {"type": "r", "grp": 7, "n": {"$gte": 0}}, "limit": 10, "use_index": "i"}"#;
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..rounds {
            f();
        }
        t.elapsed().as_secs_f64() * 1000.0 / rounds as f64
    };
    engine.handle("POST", "/upkeep/_find", indexed);
    let mut i = 0;
    let (with_write, fresh) = interleave(
        3,
        || {
            time(&mut || {
                i += 1;
                let doc = serde_json::json!({"type": "r", "grp": 7, "n": i});
                engine.handle("PUT", &format!("/upkeep/x{i}"), doc.to_string().as_bytes());
                assert_eq!(engine.handle("POST", "/upkeep/_find", indexed).0, 200);
            })
        },
        || time(&mut || assert_eq!(engine.handle("POST", "/upkeep/_find", indexed).0, 200)),
    );
    let scan = br#"{"selector": {"grp": 7, "n": {"$gte": 4000}}, "limit": 1000000}"#;
    let (scanned, all_docs) = interleave(
        3,
        || time(&mut || assert_eq!(engine.handle("POST", "/upkeep/_find", scan).0, 200)),
        || time(&mut || assert_eq!(engine.handle("GET", "/upkeep/_all_docs?include_docs=true", b"").0, 200)),
    );
    println!("| measure | ms median (min–max) | baseline | baseline ms | ratio |\n|---|---:|---|---:|---:|");
    println!(
        "| a write, then an indexed `_find` of 10 rows | {} | the `_find` alone | {} | {:.2}× |",
        fmt(&with_write, 2),
        fmt(&fresh, 2),
        stats(&with_write).0 / stats(&fresh).0
    );
    println!(
        "| a `_find` no index serves (examines every document) | {} | `_all_docs?include_docs=true` (hands out every document) | {} | {:.2}× |",
        fmt(&scanned, 1),
        fmt(&all_docs, 1),
        stats(&scanned).0 / stats(&all_docs).0
    );
}
