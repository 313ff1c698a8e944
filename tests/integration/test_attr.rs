//! `#[couch_sql::test]`: a database per test, fixtures, and the database gone afterwards.

use crate::models::users;
use couch_sql::{couch_sql, Database};

#[couch_sql::test]
async fn counts_adults(db: Database) {
    couch_sql!("INSERT INTO users (name, age, active) VALUES ('a', 20, true), ('b', 10, true)")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(couch_sql!("SELECT name FROM users WHERE age >= 18").fetch_all(&db).await.unwrap().len(), 1);
}

#[couch_sql::test(fixtures("tests/fixtures/users.json", "tests/fixtures/more_users.json"))]
async fn with_data(db: Database) -> couch_sql::Result<()> {
    let names = couch_sql!("SELECT name FROM users WHERE active = true ORDER BY name").fetch_all(&db).await?;
    assert_eq!(names.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["Ann", "Cy", "Di"]);
    // The planned indexes were ensured before the body: the plan's index exists.
    let plan = couch_sql!("EXPLAIN SELECT name FROM users WHERE active = true ORDER BY name").explain(&db).await?;
    assert!(plan.uses_index(), "{plan:?}");
    Ok(())
}

#[couch_sql::test(fixtures("tests/fixtures/users.json"), indexes = false)]
fn blocking_too(db: couch_sql::blocking::Database) {
    let n = couch_sql!("SELECT name FROM users WHERE age < ?", 18).fetch_all(&db).unwrap().len();
    assert_eq!(n, 1);
}

/// Each test's database is its own and is deleted afterwards, also after a panic.
#[test]
fn databases_are_private_and_deleted_even_after_a_panic() {
    use couch_sql::__private::testing::{run_async, Options};
    let opts = || Options { name: "test_attr::private", fixtures: &[], indexes: false };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let s = seen.clone();
    let result = std::panic::catch_unwind(move || {
        run_async(opts(), move |db: Database| {
            Box::pin(async move {
                *s.lock().unwrap() = Some(db.name().to_string());
                if db.name().starts_with('t') {
                    panic!("the body fails");
                }
            })
        })
    });
    assert!(result.is_err(), "the panic reaches the test");
    let name = seen.lock().unwrap().clone().unwrap();
    assert!(name.starts_with("t_test_attr__private_"), "{name}");
    let server = std::env::var("COUCHDB_URL").ok().filter(|s| !s.is_empty());
    let url = match server {
        Some(s) if !s.starts_with("mem:") => format!("{}/{name}", s.trim_end_matches('/')),
        _ => format!("mem://{name}"),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let exists = rt.block_on(async { Database::connect(&url).await.unwrap().exists().await.unwrap() });
    assert!(!exists, "the database of a failed test is deleted");
    // An Err is a failure too, and its database is deleted as well.
    let result = run_async(opts(), |_db: Database| Box::pin(async { Err::<(), _>(couch_sql::Error::RowNotFound) }));
    let msg = result.unwrap_err();
    assert!(msg.contains("RowNotFound"), "{msg}");
}

#[couch_sql::test(indexes = false)]
#[ignore = "run by `a_test_that_returns_err_fails_at_its_own_line`, which checks where it fails"]
async fn returns_err(db: Database) -> couch_sql::Result<()> {
    couch_sql::query("SELECT name FROM users WHERE age > ?").fetch_all(&db).await?; // no value for `?`
    Ok(())
}

/// The panic of a test that returns `Err` is located at the test, not in the library.
#[test]
fn a_test_that_returns_err_fails_at_its_own_line() {
    use std::sync::{Arc, Mutex};
    let here = std::thread::current().id();
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let record = seen.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == here {
            let at = info.location().map(|l| l.file().to_string()).unwrap_or_default();
            let message = info.payload().downcast_ref::<String>().cloned().unwrap_or_default();
            record.lock().unwrap().push((at, message));
        }
    }));
    let outcome = std::panic::catch_unwind(returns_err);
    std::panic::set_hook(previous);
    assert!(outcome.is_err(), "the test fails");
    let seen = seen.lock().unwrap();
    let (file, message) = seen.last().expect("a panic");
    assert!(file.ends_with("test_attr.rs"), "the panic is located at {file}");
    assert!(message.contains("the test returned Err") && message.contains("Param"), "{message}");
}
