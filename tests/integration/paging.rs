//! One statement, one plan: indexes created and dropped while multi-page reads
//! run never make a row come back twice or go missing; and concurrent first
//! queries create their planned index once.

use crate::fresh_db;
use crate::models::users;
use crate::proxy::Proxy;
use couch_sql::{couch_sql, Database, IndexPolicy};
use futures_util::StreamExt;
use serde_json::json;
use std::collections::HashSet;

const ROWS: usize = 1_500;

async fn seed(db: &Database) {
    let docs: Vec<_> = (0..ROWS)
        .map(|i| json!({"_id": format!("p{i:05}"), "type": "users", "name": format!("n{i}"), "age": i % 100, "active": i % 3 == 0}))
        .collect();
    crate::put_raw(db, json!(docs)).await;
}

/// Creates and drops json indexes that could serve the reads, again and again.
async fn churn_indexes(db: &Database, rounds: usize) {
    for i in 0..rounds {
        let fields = if i % 2 == 0 { json!(["type", "age"]) } else { json!(["type", "active", "age"]) };
        let name = format!("churn{i}");
        let body = json!({"index": {"fields": fields}, "name": name, "ddoc": name, "type": "json"});
        let _ = db.request("POST", "_index", Some(&body)).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if i % 3 == 2 {
            // Drop it again (pouchdb-server cannot DELETE /_index: delete the design document).
            if let Ok(doc) = db.request("GET", &format!("_design/{name}"), None).await {
                if let Some(rev) = doc["_rev"].as_str() {
                    let _ = db.request("DELETE", &format!("_design/{name}?rev={rev}"), None).await;
                }
            }
        }
    }
}

fn distinct(ids: impl IntoIterator<Item = String>) -> (usize, usize) {
    let v: Vec<String> = ids.into_iter().collect();
    let set: HashSet<&String> = v.iter().collect();
    (v.len(), set.len())
}

#[tokio::test]
async fn indexes_appearing_mid_read_never_repeat_or_drop_a_row() {
    for round in 0..3 {
        let db = fresh_db("midread").await;
        seed(&db).await;
        let mut reads = tokio::task::JoinSet::new();
        for (k, policy) in
            [IndexPolicy::Auto, IndexPolicy::Lazy, IndexPolicy::Never, IndexPolicy::Lazy].into_iter().enumerate()
        {
            // A handle of its own, so each read decides its index afresh, while the churn runs.
            let db = Database::connect(&format!("{}/{}", crate::server_url(), db.name()))
                .await
                .unwrap()
                .with_page_size(100)
                .with_index_policy(policy);
            reads.spawn(async move {
                let all = couch_sql!("SELECT * FROM users WHERE age >= ?", 0).fetch_all(&db).await.unwrap();
                let some = couch_sql!("SELECT name FROM users WHERE age >= ? AND active = true", 50)
                    .fetch_all(&db)
                    .await
                    .unwrap();
                let mut stream = couch_sql!("SELECT * FROM users WHERE age < ?", 100).page_size(70).fetch(&db);
                let mut streamed = Vec::new();
                while let Some(u) = stream.next().await {
                    streamed.push(u.unwrap().id.unwrap());
                }
                (k, distinct(all.into_iter().map(|u| u.id.unwrap())), some.len(), distinct(streamed))
            });
        }
        churn_indexes(&db, 8).await;
        while let Some(r) = reads.join_next().await {
            let (k, all, some, streamed) = r.unwrap();
            assert_eq!(all, (ROWS, ROWS), "round {round}, read {k}: every row exactly once");
            assert_eq!(some, 250, "round {round}, read {k}");
            assert_eq!(streamed, (ROWS, ROWS), "round {round}, read {k}: streamed");
        }
    }
}

#[tokio::test]
async fn concurrent_first_queries_create_the_planned_index_once() {
    if crate::in_process() {
        return; // the proxy that counts the requests is HTTP
    }
    let base = fresh_db("single_flight").await;
    seed(&base).await;
    let proxy = Proxy::start(0).await;
    let db = Database::connect(&proxy.url(base.name())).await.unwrap().with_index_policy(IndexPolicy::Lazy);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50i64 {
        let db = db.clone();
        tasks.spawn(async move {
            // Selective (a tenth of the table at most): each run shows the index would pay.
            couch_sql!("SELECT name FROM users WHERE age >= ?", 90 + i % 10).fetch_all(&db).await.unwrap().len()
        });
    }
    while let Some(n) = tasks.join_next().await {
        assert!(n.unwrap() > 0);
    }
    let index = format!("{}/_index", base.name());
    // The selective runs ask for the index once, after they are answered (in the background).
    for _ in 0..100 {
        if proxy.count("POST", &index) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(proxy.count("POST", &index), 1, "{:#?}", proxy.requests.lock().unwrap());
    assert_eq!(proxy.count("GET", &index), 1);
    assert!(proxy.count("POST", &format!("{}/_find", base.name())) >= 50);
}
