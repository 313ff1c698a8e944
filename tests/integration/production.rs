//! The production runtime: streaming, fast paths by id, conflict retries,
//! SET arithmetic, batches, indexes, EXPLAIN, errors.

use crate::fresh_db;
use crate::models::{counters, items, users};
use couch_sql::{couch_sql, Database, Error};
use futures_util::StreamExt;

async fn insert_users(db: &Database, n: i64) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(5) {
        for &i in chunk {
            couch_sql!("INSERT INTO users (name, age, active) VALUES (?, ?, ?)", format!("s{i:04}"), i, i % 2 == 0)
                .execute(db)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn fetch_streams_every_row_page_by_page() {
    let db = fresh_db("stream").await;
    insert_users(&db, 230).await;
    let mut stream = couch_sql!("SELECT name, age FROM users WHERE age >= ?", 0).page_size(50).fetch(&db);
    let mut seen = 0;
    while let Some(row) = stream.next().await {
        let row = row.unwrap();
        assert!(row.name.starts_with('s'));
        seen += 1;
    }
    assert_eq!(seen, 230);
    let sorted: Vec<i64> = couch_sql!("SELECT age FROM users ORDER BY age DESC LIMIT 120 OFFSET 5")
        .page_size(40)
        .fetch(&db)
        .map(|r| r.unwrap().age)
        .collect()
        .await;
    assert_eq!(sorted.len(), 120);
    assert_eq!((sorted[0], sorted[119]), (224, 105));
    // A runtime-sorted query streams too (after reading its rows).
    let n = couch_sql!("SELECT name FROM users ORDER BY age DESC, name ASC").fetch(&db).count().await;
    assert_eq!(n, 230);
    // Errors arrive in the stream.
    let missing = db.database("t_no_such_db_for_stream").unwrap();
    let first = couch_sql!("SELECT name FROM users").fetch(&missing).next().await.unwrap();
    assert!(matches!(first, Err(Error::NotFound { .. })), "{first:?}");
}

#[tokio::test]
async fn id_lookups_use_the_document_api() {
    let db = fresh_db("byid").await;
    let ids = ["plain", "with/slash", "a+b c", "ünï-cødé", "_x"];
    for id in &ids[..4] {
        couch_sql!("INSERT INTO users (_id, name, age, active) VALUES (?, ?, 1, true)", *id, format!("n-{id}"))
            .execute(&db)
            .await
            .unwrap();
    }
    // Same id space, other table: never returned by a users query.
    couch_sql!("INSERT INTO items (_id, label) VALUES ('item-1', 'x')").execute(&db).await.unwrap();
    for id in &ids[..4] {
        let row = couch_sql!("SELECT name FROM users WHERE _id = ?", *id).fetch_one(&db).await.unwrap();
        assert_eq!(row.name, format!("n-{id}"));
    }
    assert!(couch_sql!("SELECT * FROM users WHERE _id = ?", "item-1").fetch_optional(&db).await.unwrap().is_none());
    assert!(couch_sql!("SELECT * FROM users WHERE _id = ?", "nope").fetch_optional(&db).await.unwrap().is_none());
    let many = couch_sql!("SELECT name FROM users WHERE _id IN (?, ?, ?, 'item-1', 'nope')", "plain", "a+b c", "plain")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(crate::sorted(&many.iter().map(|r| r.name.clone()).collect::<Vec<_>>()), ["n-a+b c", "n-plain"]);
    let n = couch_sql!("UPDATE users SET age = 2 WHERE _id = ?", "with/slash").execute(&db).await.unwrap();
    assert_eq!(n.rows_affected(), 1);
    let d = couch_sql!("DELETE FROM users WHERE _id IN ('plain', 'item-1')").execute(&db).await.unwrap();
    assert_eq!(d.rows_affected(), 1);
    assert_eq!(couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap().len(), 3);
    assert_eq!(couch_sql!("SELECT label FROM items").fetch_all(&db).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_increments_all_land() {
    // Default settings: the retry budget must fit a hundred writers on one document.
    let db = fresh_db("counter").await;
    couch_sql!("INSERT INTO counters (_id, n) VALUES ('c', 0)").execute(&db).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let db = db.clone();
        tasks.spawn(async move { couch_sql!("UPDATE counters SET n = n + 1 WHERE _id = ?", "c").execute(&db).await });
    }
    let (mut done, mut unconfirmed) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(r) => {
                assert!(r.is_complete() && r.accepted_below_quorum() == 0, "{:?}", r.outcomes());
                done += r.rows_affected();
            }
            // A cluster's copies can take two writers' identical revisions in opposite
            // orders: each writer is then accepted below quorum, and one increment may be
            // lost. couch-sql reports such a write as not done, never as a success.
            Err(couch_sql::Error::Write { result, .. }) => {
                let f: Vec<_> = result.failures().collect();
                assert!(
                    f.len() == 1 && f[0].error.as_ref().unwrap().0 == "accepted_below_quorum",
                    "{:?}",
                    result.outcomes()
                );
                unconfirmed += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let c = couch_sql!("SELECT n FROM counters WHERE _id = 'c'").fetch_one(&db).await.unwrap();
    // Every increment reported done is there; an unconfirmed one may or may not be.
    assert!(
        done <= c.n as u64 && c.n as u64 <= done + unconfirmed,
        "n = {}, done {done}, unconfirmed {unconfirmed}",
        c.n
    );
    if !crate::is_cluster().await {
        assert_eq!((done, unconfirmed, c.n), (100, 0, 100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conflict_that_outlasts_the_attempts_is_reported() {
    let db = fresh_db("conflict").await.with_write_attempts(1);
    couch_sql!("INSERT INTO counters (_id, n) VALUES ('c', 0)").execute(&db).await.unwrap();
    // Whether two writers meet depends on scheduling (an in-process engine can
    // answer one writer's read and write before the next reads), so rounds of
    // twenty run until one of them meets a conflict; every round must account
    // for each of its writers.
    let (mut ok, mut conflicts) = (0, 0);
    for _round in 0..20 {
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (db, start) = (db.clone(), start.clone());
            tasks.spawn(async move {
                start.wait().await;
                couch_sql!("UPDATE counters SET n = n + 1 WHERE n >= 0").execute(&db).await
            });
        }
        let (mut round_ok, mut round_conflicts) = (0, 0);
        while let Some(r) = tasks.join_next().await {
            let r = match r.unwrap() {
                Ok(r) => r,
                // A conflict that outlasted the attempts is an error that keeps the outcome.
                Err(couch_sql::Error::Write { result }) => result,
                Err(e) => panic!("{e:?}"),
            };
            round_ok += r.rows_affected();
            round_conflicts += r.failures().filter(|f| f.is_conflict()).count() as u64;
        }
        assert_eq!(round_ok + round_conflicts, 20, "every attempt is either written or reported");
        ok += round_ok;
        conflicts += round_conflicts;
        if conflicts > 0 {
            break;
        }
    }
    assert!(conflicts > 0, "rounds of twenty writers with one attempt each met no conflict");
    let c = couch_sql!("SELECT n FROM counters").fetch_one(&db).await.unwrap();
    assert_eq!(c.n as u64, ok, "the count equals the writes reported as done");
}

#[tokio::test]
async fn set_arithmetic_on_the_documents_own_values() {
    let db = fresh_db("arith").await;
    couch_sql!("INSERT INTO counters (_id, n, score) VALUES ('a', 10, 1.5), ('b', 7, NULL)")
        .execute(&db)
        .await
        .unwrap();
    let r = couch_sql!("UPDATE counters SET n = n * 2 - ?, score = score * ?", 1, 3.0)
        .allow_partial()
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(r.rows_affected(), 1, "b's score is NULL: reported, not written");
    let failed: Vec<_> = r.failures().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, "b");
    let a = couch_sql!("SELECT n, score FROM counters WHERE _id = 'a'").fetch_one(&db).await.unwrap();
    assert_eq!((a.n, a.score), (19, Some(4.5)));
    let r = couch_sql!("UPDATE counters SET n = (n + 1) / 2 WHERE _id = 'b'").execute(&db).await.unwrap();
    assert_eq!(r.rows_affected(), 1);
    let b = couch_sql!("SELECT n FROM counters WHERE _id = 'b'").fetch_one(&db).await.unwrap();
    assert_eq!(b.n, 4);
    let err = couch_sql!("UPDATE counters SET n = n / 0").execute(&db).await.unwrap_err();
    let r = err.write_result().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(r.rows_affected(), 0);
    assert!(r.failures().all(|f| f.error.as_ref().is_some_and(|(_, reason)| reason.contains("division by zero"))));
}

#[tokio::test]
async fn a_batch_sends_its_writes_on_commit_only() {
    let db = fresh_db("batch").await;
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('old', 'Old', 90, true), ('gone', 'Gone', 5, true)")
        .execute(&db)
        .await
        .unwrap();
    {
        let mut dropped = db.batch();
        dropped.add(couch_sql!("INSERT INTO users (name, age, active) VALUES ('Never', 1, true)"));
        assert_eq!(dropped.len(), 1);
    }
    assert_eq!(couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap().len(), 2);
    let mut batch = db.batch();
    batch
        .add(couch_sql!("INSERT INTO users (name, age, active) VALUES ('New', 20, true), ('Newer', 21, false)"))
        .add(couch_sql!("UPDATE users SET age = ? WHERE name = 'Old'", 91))
        .add(couch_sql!("DELETE FROM users WHERE age < 10"));
    let r = batch.commit().await.unwrap();
    assert_eq!(r.rows_affected(), 4);
    assert!(r.is_complete());
    let names = couch_sql!("SELECT name, age FROM users ORDER BY age").fetch_all(&db).await.unwrap();
    assert_eq!(
        names.iter().map(|r| (r.name.as_str(), r.age)).collect::<Vec<_>>(),
        [("New", 20), ("Newer", 21), ("Old", 91)]
    );
}

#[tokio::test]
async fn create_index_explain_and_drop_index() {
    let db = fresh_db("index").await;
    insert_users(&db, 20).await;
    let created = couch_sql!("CREATE INDEX users_by_age ON users (age, name)").execute(&db).await.unwrap();
    assert_eq!(created.outcomes()[0].rev.as_deref(), Some("created"));
    let again = couch_sql!("CREATE INDEX users_by_age ON users (age, name)").execute(&db).await.unwrap();
    assert_eq!(again.outcomes()[0].rev.as_deref(), Some("exists"));
    let plan =
        couch_sql!("EXPLAIN SELECT name FROM users WHERE age > ? AND name > 'a'", 10).explain(&db).await.unwrap();
    assert!(plan.uses_index(), "{plan:?}");
    assert_eq!(plan.index.name, "users_by_age");
    // The index serves the query: results are right.
    let rows = couch_sql!("SELECT name FROM users WHERE age > ? AND name > 'a'", 10).fetch_all(&db).await.unwrap();
    assert_eq!(rows.len(), 9);
    couch_sql!("DROP INDEX users_by_age ON users").execute(&db).await.unwrap();
    // CouchDB's design-document cache can name a just-deleted index for a moment (seen
    // once in many runs): the planner must stop using it, within a couple of seconds.
    let mut used = String::new();
    for _ in 0..40 {
        let plan =
            couch_sql!("EXPLAIN SELECT name FROM users WHERE age > ? AND name > 'a'", 10).explain(&db).await.unwrap();
        used = plan.index.name;
        if used != "users_by_age" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_ne!(used, "users_by_age");
    let err = couch_sql!("DROP INDEX users_by_age ON users").execute(&db).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized_and_never_printed() {
    if crate::in_process() {
        return; // in process there is no HTTP, so no credentials to get wrong
    }
    let with_creds = crate::with_user(&crate::server_url(), "nobody", "s3cret-pw");
    let err = Database::connect(&format!("{with_creds}/t_auth")).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let lazy = Database::connect_lazy(&format!("{with_creds}/t_auth")).unwrap();
    for text in [format!("{err}"), format!("{err:?}"), format!("{lazy:?}")] {
        assert!(!text.contains("s3cret-pw"), "{text}");
    }
    let bad_port = Database::connect_lazy("http://nobody:s3cret-pw@127.0.0.1:9/x").unwrap();
    let err = bad_port.ping().await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("s3cret-pw"));
}

#[tokio::test]
async fn non_finite_floats_are_refused_before_any_request() {
    let db = fresh_db("nonfinite").await;
    couch_sql!("INSERT INTO counters (_id, n, score) VALUES ('a', 1, 2.0)").execute(&db).await.unwrap();
    let sent = db.request_count();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = couch_sql!("INSERT INTO counters (n, score) VALUES (2, ?)", bad).execute(&db).await.unwrap_err();
        assert!(matches!(&err, Error::Param(m) if m.contains("parameter 1")), "{err:?}");
        let err = couch_sql!("UPDATE counters SET score = ? WHERE n = 1", bad).execute(&db).await.unwrap_err();
        assert!(matches!(err, Error::Param(_)), "{err:?}");
        let err = couch_sql!("SELECT n FROM counters WHERE score < ?", bad).fetch_all(&db).await.unwrap_err();
        assert!(matches!(err, Error::Param(_)), "{err:?}");
        let err = couch_sql!("SELECT n FROM counters WHERE score = ?", Some(bad)).fetch_all(&db).await.unwrap_err();
        assert!(matches!(err, Error::Param(_)), "{err:?}");
        let mut batch = db.batch();
        batch.add(couch_sql!("INSERT INTO counters (n, score) VALUES (3, ?)", bad as f32));
        assert!(matches!(batch.commit().await.unwrap_err(), Error::Param(_)));
        let err = couch_sql::query("INSERT INTO counters (n, score) VALUES (4, ?)").bind(bad).execute(&db).await;
        assert!(matches!(err, Err(Error::Param(_))), "{err:?}");
        let err = couch_sql::query("INSERT INTO counters (n, score) VALUES (4, ?)").bind(Some(bad)).execute(&db).await;
        assert!(matches!(err, Err(Error::Param(_))), "{err:?}");
    }
    assert_eq!(db.request_count(), sent, "no request was sent");
    // A SET whose result JSON cannot hold writes nothing at all.
    couch_sql!("INSERT INTO counters (_id, n, score) VALUES ('b', 2, 1e300)").execute(&db).await.unwrap();
    let err = couch_sql!("UPDATE counters SET score = score * ?", 1e10).execute(&db).await.unwrap_err();
    assert!(matches!(&err, Error::Param(m) if m.contains("inf")), "{err:?}");
    // The table stays readable, and unchanged.
    let all = couch_sql!("SELECT * FROM counters").fetch_all(&db).await.unwrap();
    let mut scores: Vec<(String, Option<f64>)> = all.iter().map(|c| (c.id.clone().unwrap(), c.score)).collect();
    scores.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(scores, [("a".to_string(), Some(2.0)), ("b".to_string(), Some(1e300))]);
}
