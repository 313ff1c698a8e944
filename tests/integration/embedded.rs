//! `mem://` databases: the embedded engine in this process, no server. (The
//! whole suite also runs against the same engine over HTTP: `couch-sql serve`.)

use crate::models::{users, User};
use couch_sql::{couch_sql, Database, Error};

fn name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("mem://{tag}_{}_{nanos}", std::process::id())
}

#[tokio::test]
async fn every_verb_runs_in_process() {
    let url = name("inproc");
    let db = Database::connect(&url).await.unwrap();
    assert!(db.create_if_missing().await.unwrap());
    assert!(!db.create_if_missing().await.unwrap(), "a second create finds it");
    couch_sql!("INSERT INTO users (name, age, email, active) VALUES ('Ann', 40, 'a@x', true), ('Bob', 17, NULL, false), ('Cy', 30, NULL, true)")
        .execute(&db)
        .await
        .unwrap();
    let adults =
        couch_sql!("SELECT name, age FROM users WHERE age >= ? ORDER BY age DESC", 18).fetch_all(&db).await.unwrap();
    assert_eq!(adults.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["Ann", "Cy"]);
    // The planned index was made and the engine reads through it.
    let plan = couch_sql!("EXPLAIN SELECT name, age FROM users WHERE age >= ? ORDER BY age DESC", 18)
        .explain(&db)
        .await
        .unwrap();
    assert_eq!(plan.index.name, "couchsql-type-age", "{plan:?}");
    let n = couch_sql!("UPDATE users SET active = false WHERE age < 18").execute(&db).await.unwrap();
    assert_eq!(n.rows_affected(), 1);
    let by_city = couch_sql!("SELECT active, COUNT(*) AS n FROM users GROUP BY active ORDER BY active")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(by_city.iter().map(|r| (r.active, r.n)).collect::<Vec<_>>(), [(false, 1), (true, 2)]);
    // A stale revision is a conflict, as on CouchDB.
    let mut ann: User = couch_sql!("SELECT * FROM users WHERE name = 'Ann'").fetch_one(&db).await.unwrap();
    ann.rev = Some("1-00000000000000000000000000000000".into());
    let err =
        couch_sql!("UPDATE users SET age = 41 WHERE _id = ? AND _rev = ?", ann.id.clone().unwrap(), ann.rev.unwrap())
            .execute(&db)
            .await
            .map(|r| r.rows_affected());
    assert_eq!(err.unwrap(), 0, "no document has that revision");
    let n = couch_sql!("DELETE FROM users WHERE email IS NULL").execute(&db).await.unwrap();
    assert_eq!(n.rows_affected(), 2);
    let left = couch_sql::query("SELECT name FROM users").fetch_all(&db).await.unwrap();
    assert_eq!(left.len(), 1);
    // Another handle on the same name sees the same documents; another name sees none.
    let again = Database::connect(&url).await.unwrap();
    assert_eq!(couch_sql!("SELECT name FROM users").fetch_all(&again).await.unwrap().len(), 1);
    let other = Database::connect(&name("other")).await.unwrap();
    let err = couch_sql!("SELECT name FROM users").fetch_all(&other).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    db.drop_database().await.unwrap();
}

#[test]
fn the_blocking_api_runs_in_process_too() {
    let db = couch_sql::blocking::Database::connect(&name("blocking")).unwrap();
    db.create_if_missing().unwrap();
    couch_sql!("INSERT INTO users (name, age, active) VALUES ('A', 1, true), ('B', 2, true)").execute(&db).unwrap();
    let rows = couch_sql!("SELECT name FROM users WHERE age > ?", 1).fetch_all(&db).unwrap();
    assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["B"]);
}

#[tokio::test]
async fn file_databases_are_kept_in_a_directory() {
    let dir = std::env::temp_dir().join(format!("couch-sql-files-{}", std::process::id()));
    let url = format!("file://{}/shop", dir.display());
    let db = Database::connect(&url).await.unwrap();
    db.create_if_missing().await.unwrap();
    couch_sql!("INSERT INTO users (name, age, active) VALUES ('A', 1, true)").execute(&db).await.unwrap();
    assert!(dir.join("shop.redb").exists());
    assert_eq!(couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap().len(), 1);
    db.drop_database().await.unwrap();
    assert!(!dir.join("shop.redb").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A URL of another scheme says which ones there are; a `file://` database that
/// does not exist is `NotFound` and leaves no directory behind, and `_all_dbs`
/// lists the databases on disk, opened or not.
#[tokio::test]
async fn urls_and_missing_file_databases_are_explained() {
    let err = Database::connect("ftp://127.0.0.1/shop").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("http or https") && text.contains("mem://") && text.contains("file://"), "{text}");
    let dir = std::env::temp_dir().join(format!("couch_sql_missing_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Database::connect(&format!("file://{}/nested/shop", dir.display())).await.unwrap();
    assert!(!db.exists().await.unwrap());
    let err = couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(!dir.exists(), "nothing is created for a database that does not exist");
    assert!(db.create_if_missing().await.unwrap());
    assert!(dir.join("nested").is_dir(), "the directory is made with the database");
    // Another process (another engine) sees it in `_all_dbs` without opening it first.
    let other = couch_embedded::Engine::open(dir.join("nested")).unwrap();
    let (status, body) = other.handle("GET", "/_all_dbs", b"");
    assert_eq!(status, 200);
    let names: Vec<String> = serde_json::from_slice(&body).unwrap();
    assert!(names.contains(&"shop".to_string()), "{names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Requests CouchDB 3.4.3 refuses, refused the same way by `couch-sql serve`
/// (pouchdb-server differs: it accepts them).
#[tokio::test]
async fn malformed_requests_get_couchdbs_answers() {
    if crate::in_process() || crate::is_pouchdb().await {
        return;
    }
    let db = crate::fresh_db("malformed").await;
    let url = format!("{}/{}", crate::server_url(), db.name());
    let http = reqwest::Client::new();
    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().await.unwrap_or_default())
    };
    // A POST whose body is not said to be JSON (a web page's form post).
    let (status, body) =
        answer(http.post(&url).header("content-type", "text/plain").body("{}").send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (415, Some("bad_content_type")), "{body}");
    // A document id with a leading underscore that names no endpoint.
    let (status, body) =
        answer(http.put(format!("{url}/_foo")).json(&serde_json::json!({})).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("illegal_docid")), "{body}");
    // A database name over 238 characters.
    let long = format!("{}/{}", crate::server_url(), "a".repeat(239));
    let (status, body) = answer(http.put(&long).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("database_name_too_long")), "{body}");
    // A database named `a/b` is not reachable under a second name (`%252F` is `%2F`, not `/`).
    let slash = format!("{}/{}", crate::server_url(), "t_a%2Fb");
    assert!(http.put(&slash).send().await.unwrap().status().is_success());
    let (status, _) = answer(http.get(format!("{}/t_a%252Fb", crate::server_url())).send().await.unwrap()).await;
    assert_eq!(status, 404);
    http.delete(&slash).send().await.unwrap();
    // A heartbeat of 0.
    let (status, body) =
        answer(http.get(format!("{url}/_changes?feed=longpoll&heartbeat=0&timeout=100")).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")), "{body}");
    // Bad parameters and bodies: CouchDB's error names.
    for (path, error) in [
        ("_all_docs?limit=-1", "query_parse_error"),
        ("_all_docs?skip=abc", "query_parse_error"),
        ("_all_docs?descending=maybe", "query_parse_error"),
        ("_all_docs?startkey=notjson", "bad_request"),
        ("_changes?since=abc", "bad_request"),
        ("_changes?feed=bogus", "bad_request"),
    ] {
        let (status, body) = answer(http.get(format!("{url}/{path}")).send().await.unwrap()).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{path}: {body}");
    }
    for (find, error) in [
        (serde_json::json!({"selector": {}, "limit": -1}), "invalid_non_neg_integer"),
        (serde_json::json!({"selector": {}, "skip": "x"}), "invalid_non_neg_integer"),
        (serde_json::json!({"selector": {}, "bookmark": "garbage"}), "invalid_bookmark"),
        (serde_json::json!({"selector": []}), "invalid_selector_json"),
        (serde_json::json!({}), "missing_required_key"),
    ] {
        let (status, body) = answer(http.post(format!("{url}/_find")).json(&find).send().await.unwrap()).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{find}: {body}");
    }
    // A document over 8 MB (CouchDB's max_document_size): 413, alone or in a batch,
    // where it refuses the whole batch.
    let big = serde_json::json!({"s": "x".repeat(8_100_000)});
    let (status, body) = answer(http.put(format!("{url}/big")).json(&big).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (413, Some("document_too_large")), "{body}");
    let batch = serde_json::json!({"docs": [{"_id": "small"}, {"_id": "big", "s": big["s"]}]});
    let (status, body) = answer(http.post(format!("{url}/_bulk_docs")).json(&batch).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str(), body["reason"].as_str()),
        (413, Some("document_too_large"), Some("big"))
    );
    assert_eq!(http.get(format!("{url}/small")).send().await.unwrap().status(), 404, "nothing of it written");
    // A body over `couch-sql serve`'s limit (64 MiB by default; CouchDB's is 4 GiB).
    if crate::is_embedded().await {
        let big = vec![b' '; (64 << 20) + 1];
        let r = http.post(format!("{url}/_bulk_docs")).header("content-type", "application/json").body(big);
        let (status, body) = answer(r.send().await.unwrap()).await;
        assert_eq!((status, body["error"].as_str()), (413, Some("too_large")), "{body}");
        assert!(http.get(&url).send().await.unwrap().status().is_success(), "the server goes on");
    }
}

/// An integer beyond 64 bits comes back digit for digit (CouchDB keeps it exactly;
/// pouchdb-server rounds it to a double, docs/servers.md), and is matched as a number.
#[tokio::test]
async fn integers_beyond_64_bits_come_back_as_written() {
    if crate::in_process() || crate::is_pouchdb().await {
        return;
    }
    let db = crate::fresh_db("bigint").await;
    let url = format!("{}/{}", crate::server_url(), db.name());
    let http = reqwest::Client::new();
    let doc = r#"{"n": 123456789012345678901234567890, "m": -98765432109876543210}"#;
    let put = http.put(format!("{url}/big")).header("content-type", "application/json").body(doc);
    assert_eq!(put.send().await.unwrap().status(), 201);
    let got = http.get(format!("{url}/big")).send().await.unwrap().text().await.unwrap();
    assert!(got.contains(r#""n":123456789012345678901234567890"#), "{got}");
    assert!(got.contains(r#""m":-98765432109876543210"#), "{got}");
    let q = r#"{"selector": {"n": {"$gt": 123456789012345678901234567889}, "m": {"$lt": -98765432109876543209}}}"#;
    let found = http.post(format!("{url}/_find")).header("content-type", "application/json").body(q);
    let found = found.send().await.unwrap().text().await.unwrap();
    assert!(found.contains(r#""_id":"big""#), "{found}");
}
