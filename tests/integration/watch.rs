//! Live queries: what a watcher sees is what the query means, change by change.

use crate::models::users;
use couch_sql::{couch_sql, Change, Database};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::time::Duration;

#[couch_sql::test(indexes = false)]
async fn a_watcher_sees_upserts_and_removals_and_resumes(db: Database) {
    let mut live = couch_sql!("SELECT name, age FROM users WHERE age >= ?", 18).watch(&db).await.unwrap();
    // Before the watch: never seen.
    let writer = db.clone();
    let writes = tokio::spawn(async move {
        for i in 0..30i64 {
            let name = format!("u{i}");
            couch_sql!("INSERT INTO users (_id, name, age, active) VALUES (?, ?, ?, true)", name.clone(), name, i)
                .execute(&writer)
                .await
                .unwrap();
        }
        // Five adults leave the WHERE, three are deleted, one child grows up.
        couch_sql!("UPDATE users SET age = 1 WHERE age >= 25").execute(&writer).await.unwrap();
        couch_sql!("DELETE FROM users WHERE age >= 18 AND age < 21").execute(&writer).await.unwrap();
        couch_sql!("UPDATE users SET age = 40 WHERE _id = 'u3'").execute(&writer).await.unwrap();
        // Another table's documents never appear.
        couch_sql::query("INSERT INTO orders (name, age) VALUES ('o', 99)").execute(&writer).await.unwrap();
    });
    // Every Upsert not yet removed is a row the query would return now.
    let mut matching: HashSet<String> = HashSet::new();
    let expected: HashSet<String> = ["u3", "u21", "u22", "u23", "u24"].iter().map(|s| s.to_string()).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut resume = String::new();
    writes.await.unwrap();
    while matching != expected {
        let next = tokio::time::timeout_at(deadline, live.next())
            .await
            .unwrap_or_else(|_| panic!("the changes arrive: have {matching:?}"))
            .unwrap();
        match next.unwrap() {
            Change::Upsert { id, row } => {
                assert!(row.age >= 18, "{id} does not match: {row:?}");
                assert!(id.starts_with('u'), "another table's document: {id}");
                matching.insert(id);
            }
            Change::Removed { id } => {
                assert!(matching.remove(&id), "{id} was removed without being delivered");
            }
        }
        resume = live.last_seq();
    }
    let rows = couch_sql!("SELECT _id FROM users WHERE age >= 18").fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r._id.clone()).collect::<HashSet<_>>(), matching);
    // Resuming from the last sequence: later changes only, none repeated.
    let mut again =
        couch_sql!("SELECT name, age FROM users WHERE age >= ?", 18).watch_from(&db, &resume).await.unwrap();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('late', 'late', 50, true)")
        .execute(&db)
        .await
        .unwrap();
    // While it catches up, a document of the table changed after `resume` and not
    // matching may be reported Removed (the caller may hold it); nothing else comes first.
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), again.next()).await.unwrap().unwrap().unwrap();
        match next {
            Change::Upsert { id, .. } if id == "late" => break,
            Change::Removed { id } if !matching.contains(&id) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[couch_sql::test(indexes = false)]
fn the_blocking_api_iterates_the_same_changes(db: couch_sql::blocking::Database) {
    let mut live = couch_sql!("SELECT name, age FROM users WHERE age >= ?", 18).watch_iter(&db).unwrap();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('a', 'a', 30, true), ('b', 'b', 5, true)")
        .execute(&db)
        .unwrap();
    assert!(matches!(live.next().unwrap().unwrap(), Change::Upsert { id, row } if id == "a" && row.age == 30));
    couch_sql!("DELETE FROM users WHERE _id = 'a'").execute(&db).unwrap();
    assert!(matches!(live.next().unwrap().unwrap(), Change::Removed { id } if id == "a"));
    assert!(!live.last_seq().is_empty());
}

/// Reads changes until `done` says the watcher has seen what it waits for, failing
/// after 60 s; every change is applied to `live` (ids now in the result) and logged.
async fn follow<R: std::fmt::Debug>(
    watch: &mut couch_sql::Watch<R>,
    live: &mut HashSet<String>,
    log: &mut Vec<(String, bool)>,
    mut done: impl FnMut(&HashSet<String>, &[(String, bool)]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done(live, log) {
        let next = tokio::time::timeout_at(deadline, watch.next())
            .await
            .unwrap_or_else(|_| panic!("the changes arrive: {} logged, {} live", log.len(), live.len()))
            .expect("the stream goes on")
            .expect("a change, not an error");
        match next {
            Change::Upsert { id, .. } => {
                live.insert(id.clone());
                log.push((id, true));
            }
            Change::Removed { id } => {
                assert!(live.remove(&id), "{id} removed but not in the result");
                log.push((id, false));
            }
        }
    }
}

/// Nothing more arrives for a while.
async fn quiet<R: std::fmt::Debug>(watch: &mut couch_sql::Watch<R>) {
    if let Ok(extra) = tokio::time::timeout(Duration::from_millis(700), watch.next()).await {
        panic!("an unexpected change: {extra:?}");
    }
}

fn ids(range: impl Iterator<Item = usize>) -> HashSet<String> {
    range.map(|i| format!("u{i:04}")).collect()
}

#[couch_sql::test(indexes = false)]
async fn a_thousand_inserts_two_hundred_updates_and_a_hundred_deletes_are_seen_exactly(db: Database) {
    let mut watch = couch_sql!("SELECT name, age FROM users WHERE age >= ?", 50).watch(&db).await.unwrap();
    let (mut live, mut log) = (HashSet::new(), Vec::new());
    let age = |i: usize| (i % 100) as i64;
    // 1,000 inserts, in ten batches: the 500 with age >= 50 are Upserts.
    for chunk in 0..10 {
        let mut batch = db.batch();
        for i in chunk * 100..chunk * 100 + 100 {
            let id = format!("u{i:04}");
            batch.add(couch_sql!(
                "INSERT INTO users (_id, name, age, active) VALUES (?, ?, ?, true)",
                id.clone(),
                id,
                age(i)
            ));
        }
        assert!(batch.commit().await.unwrap().is_complete());
    }
    let adults = ids((0..1000).filter(|i| age(*i) >= 50));
    follow(&mut watch, &mut live, &mut log, |live, _| *live == adults).await;
    assert_eq!(log.len(), 500, "one Upsert per matching insert");
    assert!(log.iter().all(|(_, up)| *up));
    quiet(&mut watch).await;

    // 200 updates: the even ones set age 10 (adults leave the WHERE), the odd ones 60.
    log.clear();
    let mut batch = db.batch();
    for i in 0..200 {
        let id = format!("u{i:04}");
        batch.add(couch_sql!("UPDATE users SET age = ? WHERE _id = ?", if i % 2 == 0 { 10 } else { 60 }, id));
    }
    assert!(batch.commit().await.unwrap().is_complete());
    let left = ids((0..200).filter(|i| i % 2 == 0 && age(*i) >= 50));
    let upserted = ids((0..200).filter(|i| i % 2 == 1));
    let want = log_len(&left, &upserted);
    follow(&mut watch, &mut live, &mut log, |_, log| log.len() == want).await;
    let removed: HashSet<String> = log.iter().filter(|(_, up)| !up).map(|(id, _)| id.clone()).collect();
    let up: HashSet<String> = log.iter().filter(|(_, up)| *up).map(|(id, _)| id.clone()).collect();
    assert_eq!(removed, left, "a Removed for each adult that left the WHERE");
    assert_eq!(up, upserted, "an Upsert for each update that matches");
    quiet(&mut watch).await;

    // 100 deletes: the 50 adults among them are Removed.
    log.clear();
    couch_sql!("DELETE FROM users WHERE age >= 0 AND name >= 'u0900'").execute(&db).await.unwrap();
    let deleted = ids((900..1000).filter(|i| age(*i) >= 50));
    follow(&mut watch, &mut live, &mut log, |_, log| log.len() == deleted.len()).await;
    assert!(log.iter().all(|(id, up)| !up && deleted.contains(id)), "{log:?}");
    quiet(&mut watch).await;

    // What the watcher holds is what the query returns.
    let rows = couch_sql!("SELECT _id FROM users WHERE age >= 50").fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r._id.clone()).collect::<HashSet<_>>(), live);
}

fn log_len(a: &HashSet<String>, b: &HashSet<String>) -> usize {
    a.len() + b.len()
}

#[couch_sql::test(indexes = false)]
async fn documents_matching_when_the_watch_begins_are_removed_when_they_stop_matching(db: Database) {
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('old', 'old', 30, true), ('kid', 'kid', 3, true)")
        .execute(&db)
        .await
        .unwrap();
    let mut watch = couch_sql!("SELECT name FROM users WHERE age >= 18").watch(&db).await.unwrap();
    couch_sql!("DELETE FROM users WHERE _id = 'old'").execute(&db).await.unwrap();
    couch_sql!("UPDATE users SET age = 4 WHERE _id = 'kid'").execute(&db).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(20), watch.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(next, Change::Removed { id: "old".into() });
    // `kid` never matched: its update is not a change of the result.
    quiet(&mut watch).await;
}

#[couch_sql::test(indexes = false)]
async fn watch_from_catches_up_on_what_happened_while_no_one_watched(db: Database) {
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('a', 'a', 30, true), ('b', 'b', 40, true)")
        .execute(&db)
        .await
        .unwrap();
    let mut first = couch_sql!("SELECT name FROM users WHERE age >= 18").watch(&db).await.unwrap();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('c', 'c', 50, true)").execute(&db).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(20), first.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&next, Change::Upsert { id, .. } if id == "c"), "{next:?}");
    let resume = first.last_seq();
    drop(first);
    // While no one watches: `a` leaves the WHERE, `b` is deleted, `d` is inserted, `e` is a child.
    couch_sql!("UPDATE users SET age = 1 WHERE _id = 'a'").execute(&db).await.unwrap();
    couch_sql!("DELETE FROM users WHERE _id = 'b'").execute(&db).await.unwrap();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('d', 'd', 60, true), ('e', 'e', 5, true)")
        .execute(&db)
        .await
        .unwrap();
    let mut again = couch_sql!("SELECT name FROM users WHERE age >= 18").watch_from(&db, &resume).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let c = tokio::time::timeout(Duration::from_secs(20), again.next()).await.unwrap().unwrap().unwrap();
        seen.push(match c {
            Change::Upsert { id, .. } => format!("+{id}"),
            Change::Removed { id } => format!("-{id}"),
        });
    }
    seen.sort();
    // No gap (a, b and d are seen), no repeat (c is not).
    assert_eq!(seen, ["+d", "-a", "-b"]);
    quiet(&mut again).await;
}

#[couch_sql::test(indexes = false)]
async fn a_document_that_does_not_decode_is_an_error_item_and_the_stream_goes_on(db: Database) {
    let mut watch = couch_sql!("SELECT name, age FROM users WHERE age >= 18").watch(&db).await.unwrap();
    // It matches the WHERE, and its name cannot be a String.
    crate::put_raw(&db, serde_json::json!([{"_id": "bad", "type": "users", "name": 5, "age": 30}])).await;
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('good', 'g', 20, true)").execute(&db).await.unwrap();
    // (CouchDB's feed interleaves its shards: the two may come in either order.)
    let (mut error, mut good) = (None, None);
    for _ in 0..2 {
        match tokio::time::timeout(Duration::from_secs(20), watch.next()).await.unwrap().unwrap() {
            Err(e) => error = Some(e),
            Ok(c) => good = Some(c),
        }
    }
    let err = error.expect("an error item");
    assert!(matches!(&err, couch_sql::Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("bad"), "the error names the document: {err}");
    let good = good.expect("the next document still arrives");
    assert!(matches!(&good, Change::Upsert { id, row } if id == "good" && row.age == 20), "{good:?}");
}

#[tokio::test]
async fn a_watch_survives_the_connection_dropping_and_coming_back() {
    if crate::in_process() {
        return; // in process there is no connection to drop
    }
    let name = crate::fresh_db("watchdrop").await.name().to_string();
    let direct = Database::connect(&format!("{}/{name}", crate::server_url())).await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let proxy = crate::proxy::Proxy::start(port).await;
    let through = Database::connect(&proxy.url(&name)).await.unwrap();
    let mut watch = couch_sql!("SELECT name FROM users WHERE age >= 18").watch(&through).await.unwrap();
    let insert = |i: usize| {
        let id = format!("u{i:04}");
        couch_sql!("INSERT INTO users (_id, name, age, active) VALUES (?, ?, 20, true)", id.clone(), id)
    };
    let (mut live, mut log) = (HashSet::new(), Vec::new());
    for i in 0..50 {
        insert(i).execute(&direct).await.unwrap();
    }
    follow(&mut watch, &mut live, &mut log, |l, _| l.len() == 50).await;
    // The server goes away mid-stream; writes go on; it comes back on the same address.
    let port = proxy.stop().await;
    for i in 50..100 {
        insert(i).execute(&direct).await.unwrap();
    }
    let pending = tokio::spawn(async move {
        follow(&mut watch, &mut live, &mut log, |l, _| l.len() == 100).await;
        (watch, log)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let proxy = crate::proxy::Proxy::start(port).await;
    let (mut watch, log) = pending.await.unwrap();
    // Nothing lost, nothing delivered twice.
    assert_eq!(log.len(), 100);
    assert_eq!(log.iter().map(|(id, _)| id.clone()).collect::<HashSet<_>>(), ids(0..100));
    quiet(&mut watch).await;
    drop(proxy);
    direct.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_silent_connection_is_detected_by_its_missing_heartbeat() {
    if crate::in_process() {
        return; // in process there is no connection to go silent
    }
    let name = crate::fresh_db("watchstall").await.name().to_string();
    let direct = Database::connect(&format!("{}/{name}", crate::server_url())).await.unwrap();
    let proxy = crate::proxy::Proxy::start(0).await;
    let through = Database::connect(&proxy.url(&name)).await.unwrap();
    let mut watch = couch_sql!("SELECT name FROM users WHERE age >= 18")
        .watch(&through)
        .await
        .unwrap()
        .heartbeat(Duration::from_millis(200));
    // The watcher's request is waiting; its connection goes silent; a change is made.
    let first = tokio::spawn(async move {
        let c = tokio::time::timeout(Duration::from_secs(20), watch.next()).await;
        (c, watch)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.stall();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('x', 'x', 20, true)")
        .execute(&direct)
        .await
        .unwrap();
    // Three heartbeats of silence later the watcher reconnects and sees it.
    let (next, _watch) = first.await.unwrap();
    let next = next.expect("the silence is detected").unwrap().unwrap();
    assert!(matches!(&next, Change::Upsert { id, .. } if id == "x"), "{next:?}");
    // The feed is narrowed to the table by the server where it has the `_selector`
    // filter; pouchdb-server has none (and asking for one stops it).
    let (posts, gets) =
        (proxy.count("POST", &format!("{name}/_changes")), proxy.count("GET", &format!("{name}/_changes")));
    if crate::is_pouchdb().await {
        assert!(posts == 0 && gets > 0, "{posts} POST, {gets} GET");
    } else {
        assert!(posts > 0 && gets == 0, "{posts} POST, {gets} GET");
    }
    direct.drop_database().await.unwrap();
}

#[tokio::test]
async fn dropping_a_watch_closes_its_request() {
    if crate::in_process() {
        return; // in process there is no connection
    }
    let name = crate::fresh_db("watchclose").await.name().to_string();
    let proxy = crate::proxy::Proxy::start(0).await;
    let through = Database::connect(&proxy.url(&name)).await.unwrap();
    let mut watch = couch_sql!("SELECT name FROM users WHERE age >= 18").watch(&through).await.unwrap();
    // Its request is in flight, waiting for a change.
    assert!(tokio::time::timeout(Duration::from_millis(500), watch.next()).await.is_err());
    let open = proxy.open_connections();
    assert!(open >= 1);
    drop(watch);
    // Its connection closes; the pool's idle ones stay.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while proxy.open_connections() != open - 1 {
        assert!(tokio::time::Instant::now() < deadline, "{} connections still open", proxy.open_connections());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    through.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_quiet_feed_outlives_the_handles_request_timeout() {
    if crate::in_process() {
        return; // counts requests through the proxy
    }
    let name = crate::fresh_db("watchquiet").await.name().to_string();
    let proxy = crate::proxy::Proxy::start(0).await;
    let through = Database::builder(&proxy.url(&name)).timeout(Duration::from_millis(300)).build().unwrap();
    let mut watch = couch_sql!("SELECT name FROM users WHERE age >= 18").watch(&through).await.unwrap();
    // Two quiet seconds: the waiting request is not cut every 300 ms and asked again.
    assert!(tokio::time::timeout(Duration::from_secs(2), watch.next()).await.is_err());
    let polls = proxy.count("GET", &format!("{name}/_changes")) + proxy.count("POST", &format!("{name}/_changes"));
    assert!(polls <= 2, "{polls} _changes requests in two quiet seconds");
    // And the next change still arrives at once.
    let direct = Database::connect(&format!("{}/{name}", crate::server_url())).await.unwrap();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('q', 'q', 20, true)")
        .execute(&direct)
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), watch.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&next, Change::Upsert { id, .. } if id == "q"), "{next:?}");
    direct.drop_database().await.unwrap();
}

async fn next_chunk(resp: &mut reqwest::Response) -> Vec<u8> {
    let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await.expect("a chunk").unwrap();
    chunk.expect("the feed goes on").to_vec()
}

/// `pending` counts the changes after the answer's `last_seq`, as CouchDB does
/// (pouchdb-server leaves it out).
#[tokio::test]
async fn the_changes_feed_counts_what_is_pending() {
    let db = crate::fresh_db("pending").await;
    crate::put_raw(&db, serde_json::json!([{"_id": "a"}, {"_id": "b"}, {"_id": "c"}, {"_id": "d"}, {"_id": "e"}]))
        .await;
    let page = db.request("GET", "_changes?limit=2", None).await.unwrap();
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    if crate::is_pouchdb().await {
        assert!(page.get("pending").is_none(), "{page}");
        return;
    }
    let since = crate::seq_param(&page["last_seq"]);
    let rest = db.request("GET", &format!("_changes?since={since}"), None).await.unwrap();
    if crate::is_cluster().await {
        // A cluster's `limit` is met shard by shard, and `pending` is the shards' sum
        // after each one's own last change: at least what is left to read, not exactly.
        let left = rest["results"].as_array().unwrap().len() as u64;
        assert!(left >= 3 && page["pending"].as_u64().unwrap() <= left, "{page} then {rest}");
        return;
    }
    assert_eq!(page["pending"], 3, "{page}");
    assert_eq!(rest["results"].as_array().unwrap().len(), 3);
    assert_eq!(rest["pending"], 0, "{rest}");
}

/// The raw feed, as any CouchDB client reads it: `continuous` sends a heartbeat
/// newline while idle and a JSON line per change; a `longpoll` with a heartbeat
/// waits for the change and answers it. The same on every server.
#[tokio::test]
async fn the_raw_changes_feed_streams_heartbeats_and_rows() {
    if crate::in_process() {
        return; // HTTP only
    }
    let db = crate::fresh_db("rawfeed").await;
    let url = format!("{}/{}", crate::server_url(), db.name());
    let http = reqwest::Client::new();
    let mut resp = http
        .get(format!("{url}/_changes?feed=continuous&heartbeat=200&since=now&include_docs=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut seen = Vec::new();
    // Idle: heartbeats only.
    while !seen.contains(&b'\n') {
        seen.extend_from_slice(&next_chunk(&mut resp).await);
    }
    assert!(seen.iter().all(u8::is_ascii_whitespace), "{:?}", String::from_utf8_lossy(&seen));
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('x', 'x', 20, true)").execute(&db).await.unwrap();
    let line = loop {
        let text = String::from_utf8_lossy(&seen).to_string();
        if let Some(line) = text.lines().find(|l| l.contains("\"x\"")) {
            break line.to_string();
        }
        seen.extend_from_slice(&next_chunk(&mut resp).await);
    };
    let change: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(change["id"], "x");
    assert_eq!(change["doc"]["name"], "x");
    drop(resp);
    // A longpoll with a heartbeat waits for the next change, however long it takes.
    let since = db.request("GET", "", None).await.unwrap()["update_seq"].clone();
    let since = since.as_str().map(str::to_owned).unwrap_or_else(|| since.to_string());
    let writer = db.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('y', 'y', 20, true)")
            .execute(&writer)
            .await
            .unwrap();
    });
    let started = std::time::Instant::now();
    let body = http
        .get(format!("{url}/_changes"))
        .query(&[("feed", "longpoll"), ("heartbeat", "200"), ("since", since.as_str())])
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600), "answered before the change");
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let ids: Vec<&str> = answer["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["y"]);
    assert!(answer.get("last_seq").is_some());
    db.drop_database().await.unwrap();
}

#[couch_sql::test(indexes = false)]
async fn run_time_sql_can_be_watched_and_says_what_it_cannot(db: Database) {
    let mut live = couch_sql::query("SELECT name, age FROM users WHERE age >= ?").bind(18).watch(&db).await.unwrap();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('r', 'R', 30, true), ('k', 'K', 3, true)")
        .execute(&db)
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(20), live.next()).await.unwrap().unwrap().unwrap();
    match next {
        Change::Upsert { id, row } => {
            assert_eq!(id, "r");
            assert_eq!(row["name"], "R");
            assert_eq!(row["age"], 30);
        }
        other => panic!("{other:?}"),
    }
    for sql in ["SELECT name FROM users ORDER BY age", "SELECT name FROM users LIMIT 3", "SELECT COUNT(*) FROM users"] {
        let err = couch_sql::query(sql).watch(&db).await.unwrap_err();
        assert!(matches!(err, couch_sql::Error::Invalid { what: "live query", .. }), "{sql}: {err:?}");
    }
}

#[couch_sql::test(indexes = false)]
async fn a_document_moved_to_another_table_is_removed(db: Database) {
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('old', 'o', 40, true)").execute(&db).await.unwrap();
    let mut live = couch_sql!("SELECT name FROM users WHERE age >= 18").watch(&db).await.unwrap();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('new', 'n', 30, true)").execute(&db).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(20), live.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&next, Change::Upsert { id, .. } if id == "new"), "{next:?}");
    // Another program archives both by rewriting their type: neither is a row of the table now.
    for id in ["new", "old"] {
        let mut doc = crate::get_raw(&db, id).await;
        doc["type"] = serde_json::json!("archived_users");
        db.request("PUT", id, Some(&doc)).await.unwrap();
    }
    let mut removed = Vec::new();
    while removed.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(20), live.next()).await.unwrap().unwrap().unwrap() {
            Change::Removed { id } => removed.push(id),
            other => panic!("{other:?}"),
        }
    }
    removed.sort();
    assert_eq!(removed, ["new", "old"]);
    quiet(&mut live).await;
}

/// `last_seq` is past every change the stream examined, yielded or not: a consumer
/// that persists it after the change it wanted and resumes gets the new changes
/// only, never again the ones examined and found irrelevant (a child's update, which
/// a catching-up stream would otherwise report `Removed`, another table's insert).
#[couch_sql::test(indexes = false)]
async fn a_resumed_watch_gets_exactly_the_new_changes(db: Database) {
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('kid', 'k', 5, true)").execute(&db).await.unwrap();
    let mut live = couch_sql!("SELECT name FROM users WHERE age >= 18").watch(&db).await.unwrap();
    // Written before the stream reads: one batch holds all three.
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('a', 'a', 30, true)").execute(&db).await.unwrap();
    couch_sql!("UPDATE users SET age = 6 WHERE _id = 'kid'").execute(&db).await.unwrap();
    couch_sql::query("INSERT INTO orders (_id, name) VALUES ('o1', 'x')").execute(&db).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(20), live.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&next, Change::Upsert { id, .. } if id == "a"), "{next:?}");
    // On a cluster the feed merges each shard's changes in no global order: the
    // other two may come after `a`. Once they are examined too (nothing yielded),
    // the result is right: persist the position and stop.
    quiet(&mut live).await;
    let resume = live.last_seq();
    drop(live);
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('d', 'd', 60, true)").execute(&db).await.unwrap();
    couch_sql::query("INSERT INTO orders (_id, name) VALUES ('o2', 'y')").execute(&db).await.unwrap();
    let mut again = couch_sql!("SELECT name FROM users WHERE age >= 18").watch_from(&db, &resume).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(20), again.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&next, Change::Upsert { id, .. } if id == "d"), "{next:?}");
    quiet(&mut again).await;
    // A position persisted while nothing relevant came also moves on.
    let before = again.last_seq();
    couch_sql!("INSERT INTO users (_id, name, age, active) VALUES ('kid2', 'k', 3, true)").execute(&db).await.unwrap();
    quiet(&mut again).await;
    assert_ne!(again.last_seq(), before, "the irrelevant insert was examined: the position is past it");
}
