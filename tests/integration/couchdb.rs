//! Paths only a real CouchDB exercises: users who are not admins, session cookies
//! that expire, `execution_stats`, `use_index` naming a missing index, bookmarks
//! over 10,000+ rows. Each test makes the users and security objects it needs;
//! where pouchdb-server (an admin party without statistics) cannot take part,
//! the test checks what pouchdb-server does instead.

use crate::models::users;
use crate::{fresh_db, is_admin_party, is_pouchdb, server_url, with_user};
use couch_sql::{couch_sql, Database, IndexPolicy};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A new CouchDB user with this password; its name.
async fn make_user(password: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("member{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let r = reqwest::Client::new()
        .put(format!("{}/_users/org.couchdb.user:{name}", server_url()))
        .json(&json!({"name": name, "password": password, "roles": [], "type": "user"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create user: {}", r.status());
    name
}

/// Only `user` (and admins) may read and write the database.
async fn members_only(db: &Database, user: &str) {
    let r = reqwest::Client::new()
        .put(format!("{}/{}/_security", server_url(), db.name()))
        .json(&json!({"admins": {"names": [], "roles": []}, "members": {"names": [user], "roles": []}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "_security: {}", r.status());
}

async fn seed_users(db: &Database, n: i64) {
    let mut batch = db.batch();
    for i in 0..n {
        batch.add(couch_sql!("INSERT INTO users (name, age, active) VALUES (?, ?, true)", format!("u{i}"), i));
    }
    batch.commit().await.unwrap();
}

async fn index_names(db: &Database) -> Vec<String> {
    let v = db.request("GET", "_index", None).await.unwrap();
    v["indexes"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_member_who_may_not_create_indexes_still_gets_the_rows() {
    let admin = fresh_db("member_lazy").await;
    seed_users(&admin, 300).await;
    if is_admin_party().await || crate::in_process() {
        // An admin party (or the process's own engine): everyone may create the planned
        // index, once a run shows it pays.
        let db = admin.clone().with_index_policy(IndexPolicy::Lazy);
        assert_eq!(couch_sql!("SELECT name FROM users WHERE age >= ?", 290).fetch_all(&db).await.unwrap().len(), 10);
        assert!(crate::planning::eventually_indexed(&admin, "couchsql-type-age").await);
        return;
    }
    let user = make_user("pw-member").await;
    members_only(&admin, &user).await;
    let url = format!("{}/{}", with_user(&server_url(), &user, "pw-member"), admin.name());
    let db = Database::connect(&url).await.unwrap().with_index_policy(IndexPolicy::Lazy);
    let rows = couch_sql!("SELECT name FROM users WHERE age >= ?", 290).fetch_all(&db).await.unwrap();
    assert_eq!(rows.len(), 10);
    // The run was selective: the index is asked for (in the background), and refused.
    let refused = async {
        loop {
            let before = db.request_count();
            let n = couch_sql!("SELECT name FROM users WHERE age >= ?", 295).fetch_all(&db).await.unwrap().len();
            assert_eq!(n, 5);
            // The refusal is remembered: a run then sends its `_find` and nothing else.
            if db.request_count() - before == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), refused).await.expect("the refusal is remembered");
    assert!(
        !index_names(&admin).await.iter().any(|n| n.starts_with("couchsql")),
        "a member cannot make design documents"
    );
}

#[tokio::test]
async fn an_expired_session_cookie_is_renewed() {
    let admin = fresh_db("session_expiry").await;
    seed_users(&admin, 3).await;
    if is_admin_party().await || crate::is_embedded().await {
        // pouchdb-server has no per-user rights; the engine has no `_config` to
        // shorten the session timeout with (its cookies' expiry is tested in its crate).
        return;
    }
    let user = make_user("pw-session").await;
    members_only(&admin, &user).await;
    let http = reqwest::Client::new();
    let config = format!("{}/_node/_local/_config/chttpd_auth/timeout", server_url());
    let old: String = http.get(&config).send().await.unwrap().json().await.unwrap_or_else(|_| "600".into());
    http.put(&config).json(&"2").send().await.unwrap();
    let db = Database::builder(&format!("{}/{}", with_user(&server_url(), &user, "pw-session"), admin.name()))
        .session_auth()
        .connect()
        .await
        .unwrap();
    assert_eq!(couch_sql!("SELECT name FROM users").fetch_all(&db).await.unwrap().len(), 3);
    // A cookie made now...
    let login = http
        .post(format!("{}/_session", server_url().replace("admin:password@", "")))
        .json(&json!({"name": user, "password": "pw-session"}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // ...is refused once it expired,
    let plain = format!("{}/{}", server_url().replace("admin:password@", ""), admin.name());
    let stale = reqwest::Client::new().get(&plain).header("cookie", cookie).send().await.unwrap();
    assert_eq!(stale.status(), 401);
    // while the handle, whose cookie expired too, logs in again and carries on.
    let result = couch_sql!("SELECT name FROM users").fetch_all(&db).await;
    http.put(&config).json(&old).send().await.unwrap();
    assert_eq!(result.unwrap().len(), 3);
}

#[tokio::test]
async fn execution_stats_show_the_index_at_work() {
    let db = fresh_db("stats").await;
    seed_users(&db, 200).await;
    let q = || couch_sql!("SELECT name FROM users WHERE age >= ?", 190);
    let stats = q().execution_stats(&db).await.unwrap();
    if is_pouchdb().await {
        assert_eq!(stats, None, "pouchdb-server has no execution_stats");
        return;
    }
    // The first run scans while the planned index builds in the background; once
    // it is built (here: made at once), the same query is a range read.
    let stats = stats.expect("CouchDB reports execution_stats");
    assert_eq!(stats.results_returned, 10);
    db.ensure_indexes().await.unwrap();
    let stats = q().execution_stats(&db.clone().with_index_policy(IndexPolicy::Explicit)).await.unwrap().unwrap();
    assert_eq!(stats.results_returned, 10);
    assert!(stats.total_docs_examined <= 10, "{stats:?}");
    let scan = q().execution_stats(&db.clone().with_index_policy(IndexPolicy::Never)).await.unwrap().unwrap();
    assert_eq!(scan.results_returned, 10);
    assert!(scan.total_docs_examined >= 10, "{scan:?}");
    assert_eq!(couch_sql!("SELECT name FROM users WHERE _id = 'x'").execution_stats(&db).await.unwrap(), None);
}

#[tokio::test]
async fn use_index_naming_a_missing_index_still_answers() {
    // Explicit: queries name their planned index, which nobody created.
    let db = fresh_db("missing_index").await.with_index_policy(IndexPolicy::Explicit);
    seed_users(&db, 20).await;
    let rows = couch_sql!("SELECT name FROM users WHERE age >= ? AND active = true", 15).fetch_all(&db).await.unwrap();
    assert_eq!(rows.len(), 5);
    let rows = couch_sql!("SELECT name FROM users WHERE age < ?", 3).fetch_all(&db).await.unwrap();
    assert_eq!(crate::sorted(&rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>()), ["u0", "u1", "u2"]);
}

#[tokio::test]
async fn bookmarks_page_through_ten_thousand_rows_without_repeats() {
    let db = fresh_db("bookmarks").await;
    for start in (0..10_500).step_by(3_500) {
        let docs: Vec<_> = (start..start + 3_500)
            .map(|i| json!({"_id": format!("u{i:05}"), "type": "users", "name": format!("n{i}"), "age": i % 100, "active": i % 2 == 0}))
            .collect();
        crate::put_raw(&db, json!(docs)).await;
    }
    let paged = db.clone().with_page_size(1_000);
    let all = couch_sql!("SELECT * FROM users").fetch_all(&paged).await.unwrap();
    let mut ids: Vec<String> = all.iter().map(|u| u.id.clone().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((all.len(), ids.len()), (10_500, 10_500));
    let active =
        couch_sql!("SELECT name FROM users WHERE active = true AND age >= ?", 50).fetch_all(&paged).await.unwrap();
    assert_eq!(active.len(), 2_625);
    let window =
        couch_sql!("SELECT name FROM users WHERE age >= ? LIMIT 2500 OFFSET 3000", 0).fetch_all(&paged).await.unwrap();
    assert_eq!(window.len(), 2_500);
}
