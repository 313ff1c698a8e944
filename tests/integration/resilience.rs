//! Servers that stop, credentials, sessions, logs: what production throws at a client.

use crate::fresh_db;
use crate::models::users;
use crate::proxy::Proxy;
use couch_sql::{couch_sql, Database, Error, RetryPolicy};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn a_stopped_server_is_a_transport_error_and_the_same_handle_recovers() {
    if crate::in_process() {
        return; // in process there is no server to stop: this needs HTTP
    }
    let name = fresh_db("resilience").await.name().to_string();
    let proxy = Proxy::start(free_port()).await;
    let quick =
        RetryPolicy { max_retries: 2, base_delay: Duration::from_millis(10), max_delay: Duration::from_millis(50) };
    let db = Database::builder(&proxy.url(&name)).retry(quick).build().unwrap();
    couch_sql!("INSERT INTO users (name, age, active) VALUES ('A', 1, true)").execute(&db).await.unwrap();
    let port = proxy.stop().await;
    let err = couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    let err = couch_sql!("INSERT INTO users (name, age, active) VALUES ('B', 2, true)").execute(&db).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    let _proxy = Proxy::start(port).await;
    // The same handle works again; the failed INSERT wrote nothing.
    couch_sql!("INSERT INTO users (name, age, active) VALUES ('C', 3, true)").execute(&db).await.unwrap();
    let rows = couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap();
    assert_eq!(crate::sorted(&rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>()), ["A", "C"]);
}

#[tokio::test]
async fn requests_that_take_too_long_time_out() {
    // A listener that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let db = Database::builder(&format!("http://127.0.0.1:{port}/slow"))
        .timeout(Duration::from_millis(300))
        .no_retry()
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = db.ping().await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    hold.abort();
}

#[tokio::test]
async fn session_auth_logs_in_with_a_cookie() {
    if crate::in_process() {
        return; // in process there is no HTTP session to log in to
    }
    let server = std::env::var("COUCHDB_URL").unwrap();
    let user = format!("u{}", std::process::id());
    let url = format!("{server}/_users/org.couchdb.user:{user}");
    // Make a user (pouchdb-server runs as an admin party; CouchDB needs admin credentials here).
    let http = reqwest::Client::new();
    let r = http
        .put(&url)
        .json(&serde_json::json!({"_id": format!("org.couchdb.user:{user}"), "name": user, "password": "pw-123", "roles": [], "type": "user"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status() == 409, "{}", r.status());
    let db = Database::builder(&format!("{server}/t_session_{}", std::process::id()))
        .credentials(&user, "pw-123")
        .session_auth()
        .connect()
        .await
        .unwrap();
    db.ping().await.unwrap();
    let wrong = Database::builder(&format!("{server}/t_session"))
        .credentials(&user, "not-the-password")
        .session_auth()
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(wrong, Error::Unauthorized { .. }), "{wrong:?}");
    assert!(!format!("{wrong} {wrong:?} {db:?}").contains("pw-123"));
}

#[tokio::test]
async fn logs_carry_requests_but_never_credentials() {
    if crate::in_process() {
        return; // in process there are no credentials to keep out of the logs
    }
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let with_creds = crate::with_user(&crate::server_url(), "nobody", "hunter2-secret");
    // Global, not scoped to this thread: a callsite first reached by another test's
    // thread without a subscriber would otherwise be cached as uninteresting.
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber of the tests");
    let db = fresh_db("logs").await;
    couch_sql!("INSERT INTO users (name, age, active) VALUES ('A', 1, true)").execute(&db).await.unwrap();
    couch_sql!("SELECT name FROM users WHERE age > 0").fetch_all(&db).await.unwrap();
    let _ = Database::connect(&format!("{with_creds}/t_logs")).await;
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("_find") && logs.contains("status=200") && logs.contains("rows=1"), "{logs}");
    assert!(!logs.contains("hunter2-secret"), "{logs}");
}

#[tokio::test]
async fn the_sort_index_reuses_an_index_that_covers_it() {
    let db = fresh_db("reuse").await;
    couch_sql!("INSERT INTO users (name, age, active) VALUES ('A', 2, true), ('B', 1, true)")
        .execute(&db)
        .await
        .unwrap();
    couch_sql!("CREATE INDEX mine_by_age ON users (age, name)").execute(&db).await.unwrap();
    let rows = couch_sql!("SELECT name FROM users ORDER BY age").fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["B", "A"]);
    let plan = couch_sql!("EXPLAIN SELECT name FROM users ORDER BY age").explain(&db).await.unwrap();
    assert_eq!(plan.index.name, "mine_by_age", "no second index was made: {plan:?}");
}

#[tokio::test]
async fn a_validation_function_refusal_is_forbidden() {
    let db = fresh_db("forbidden").await;
    let ddoc = serde_json::json!({
        "validate_doc_update": "function (doc) { if (doc.type === 'users' && doc.age < 0) { throw({forbidden: 'age must not be negative'}); } }"
    });
    // On a cluster every copy must have the rule before the write: each copy validates.
    let r = db.request("PUT", &crate::on_every_copy_at("_design/rules").await, Some(&ddoc)).await;
    if crate::is_embedded().await {
        // The embedded engine runs no JavaScript, and says so instead of ignoring the rule.
        assert!(matches!(&r, Err(Error::BadRequest { reason, .. }) if reason.contains("validate_doc_update")), "{r:?}");
        return;
    }
    r.unwrap();
    let err = couch_sql!("INSERT INTO users (name, age, active) VALUES ('ok', 1, true), ('bad', -1, true)")
        .execute(&db)
        .await
        .unwrap_err();
    assert_eq!(err.couch_error(), Some("forbidden"), "{err:?}");
    let result = err.write_result().unwrap().clone();
    assert_eq!(result.rows_affected(), 1);
    let failure = result.failures().next().unwrap();
    assert_eq!(failure.error.as_ref().map(|(e, _)| e.as_str()), Some("forbidden"));
    let err = result.check().unwrap_err();
    assert!(matches!(&err, Error::Forbidden { reason } if reason.contains("age must not be negative")), "{err:?}");
}
