//! A node dies while couch-sql reads, writes, watches; couch-sql says what happened.

use crate::{eventually, fresh_name, on_cluster, Cluster};
use couch_sql::{couch_sql, Change, CouchRow, Database, Error};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

#[derive(CouchRow, Debug, Clone)]
#[couch(table = "items")]
pub struct Item {
    #[couch(id)]
    pub id: Option<String>,
    pub n: i64,
    pub status: Option<String>,
}

#[derive(CouchRow, Debug)]
#[couch(table = "counters")]
#[allow(dead_code)] // `id` is a column the queries name, never read here
pub struct Counter {
    #[couch(id)]
    pub id: Option<String>,
    pub n: i64,
}

/// A new database on node `node`.
async fn fresh_db(c: &Cluster, node: usize, tag: &str) -> Database {
    let db = Database::connect(&c.db_url(node, &fresh_name(tag))).await.unwrap();
    assert!(db.create_if_missing().await.unwrap());
    db
}

/// `count` items written on every copy (`w=3`), as another program would.
async fn seed(db: &Database, count: usize) {
    for start in (0..count).step_by(5000) {
        let docs: Vec<Value> = (start..(start + 5000).min(count))
            .map(|i| json!({"_id": format!("i{i:06}"), "type": "items", "n": i, "status": "new"}))
            .collect();
        let r = db.request("POST", "_bulk_docs", Some(&json!({"docs": docs, "w": 3}))).await.unwrap();
        assert!(r.as_array().unwrap().iter().all(|d| d["ok"] == true), "{r}");
    }
}

/// The documents `ids` as node `node` has them: id → `_rev` (missing ones absent).
async fn revs_on(c: &Cluster, node: usize, db: &Database, ids: &[String]) -> HashMap<String, String> {
    let on = Database::connect_lazy(&c.db_url(node, db.name())).unwrap();
    let mut found = HashMap::new();
    for chunk in ids.chunks(5000) {
        let r = on.request("POST", "_all_docs", Some(&json!({ "keys": chunk }))).await.unwrap();
        for row in r["rows"].as_array().unwrap() {
            if let (Some(id), Some(rev)) = (row["id"].as_str(), row["value"]["rev"].as_str()) {
                if row["value"]["deleted"] != true {
                    found.insert(id.to_string(), rev.to_string());
                }
            }
        }
    }
    found
}

fn is_typed_failure(e: &Error) -> bool {
    matches!(e, Error::Transport(_) | Error::Timeout | Error::Server { .. })
}

/// A 50,000-row stream read through node 1 while node 3 is killed: every row
/// exactly once, or a typed error — never a short result reported as complete.
#[test]
fn a_stream_survives_a_node_killed_while_it_is_read() {
    on_cluster(|c| async move {
        let db = fresh_db(&c, 1, "stream").await;
        seed(&db, 50_000).await;
        let started = Instant::now();
        let mut rows = couch_sql!("SELECT * FROM items").fetch(&db);
        let (mut seen, mut down, mut failed) = (HashSet::new(), None, None);
        while let Some(row) = rows.next().await {
            match row {
                Ok(item) => {
                    let id = item.id.unwrap();
                    assert!(seen.insert(id.clone()), "{id} delivered twice");
                    if seen.len() == 10_000 {
                        down = Some(c.kill(3));
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            None => assert_eq!(seen.len(), 50_000, "the stream ended early without an error"),
            Some(e) => assert!(is_typed_failure(&e), "{e:?}"),
        }
        eprintln!("stream: {} rows in {:?}, node 3 killed at row 10,000", seen.len(), started.elapsed());
        drop(down);
    });
}

/// A 20,000-row multi-row INSERT with node 3 killed during it, then an UPDATE of
/// 10,000 rows with node 2 killed too (one copy left: writes are accepted below
/// quorum). Every document the results report is on every surviving node at the
/// revision reported; 202 answers are counted; after the nodes return, every copy has them.
#[test]
fn writes_report_only_what_landed_when_nodes_die() {
    on_cluster(|c| async move {
        let db = fresh_db(&c, 1, "writes").await;
        let values: Vec<String> = (0..20_000).map(|i| format!("('i{i:06}', {i}, 'new')")).collect();
        let insert = format!("INSERT INTO items (_id, n, status) VALUES {}", values.join(", "));
        let started = Instant::now();
        let killer = {
            let c = Cluster::from_env().unwrap();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(800));
                std::mem::forget(c.kill(3)); // revived below, after the UPDATE
                c
            })
        };
        let inserted = couch_sql::query(&insert).execute_partial(&db).await;
        let c3 = killer.join().unwrap();
        let inserted = match inserted {
            Ok(r) => r,
            Err(e) => panic!("the insert through node 1 failed: {e:?}"),
        };
        let ids: Vec<String> = inserted.ids().map(str::to_string).collect();
        eprintln!(
            "insert: {} of 20,000 written ({} accepted below quorum) in {:?}, node 3 killed at 0.8 s",
            ids.len(),
            inserted.accepted_below_quorum(),
            started.elapsed()
        );
        for node in [1, 2] {
            let on = revs_on(&c, node, &db, &ids).await;
            for (id, rev) in inserted.written() {
                assert_eq!(on.get(id).map(String::as_str), Some(rev), "{id} on node {node}");
            }
        }

        // The UPDATE: node 2 dies after its reads, while its writes go out.
        let started = Instant::now();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            std::mem::forget(c3.kill(2));
        });
        let updated =
            couch_sql!("UPDATE items SET status = 'shipped' WHERE n < 10000").allow_partial().execute(&db).await;
        killer.join().unwrap();
        let updated = updated.unwrap_or_else(|e| match e {
            Error::Write { result } => result,
            other => panic!("the update through node 1 failed: {other:?}"),
        });
        eprintln!(
            "update: {} of 10,000 written, {} accepted below quorum, {} failed, in {:?}, node 2 killed at 1.5 s",
            updated.rows_affected(),
            updated.accepted_below_quorum(),
            updated.failures().count(),
            started.elapsed()
        );
        assert_eq!(updated.outcomes().len(), 10_000);
        assert!(updated.accepted_below_quorum() > 0, "one copy left, yet no write was answered 202");
        let ids: Vec<String> = updated.ids().map(str::to_string).collect();
        let on = revs_on(&c, 1, &db, &ids).await;
        for (id, rev) in updated.written() {
            assert_eq!(on.get(id).map(String::as_str), Some(rev), "{id} on node 1");
        }
        // The nodes come back: every copy gets every write reported.
        c.run("revive", 2);
        c.run("revive", 3);
        let written: Vec<(String, String)> = updated.written().map(|(i, r)| (i.to_string(), r.to_string())).collect();
        for node in [2, 3] {
            eventually(60, "copies converge", || async {
                let on = revs_on(&c, node, &db, &ids).await;
                match written.iter().find(|(id, rev)| on.get(id) != Some(rev)) {
                    None => Ok(()),
                    Some((id, _)) => Err(format!("{id} on node {node}: {:?}", on.get(id))),
                }
            })
            .await;
        }
    });
}

/// 100 concurrent `SET n = n + 1` on one document with node 3 down: every
/// increment reported done is counted; none is reported done and lost.
#[test]
fn concurrent_increments_on_a_degraded_cluster_are_never_lost_silently() {
    on_cluster(|c| async move {
        let db = fresh_db(&c, 1, "counter").await;
        couch_sql!("INSERT INTO counters (_id, n) VALUES ('c', 0)").execute(&db).await.unwrap();
        let down = c.kill(3);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let db = db.clone();
            tasks.spawn(async move { couch_sql!("UPDATE counters SET n = n + 1 WHERE _id = 'c'").execute(&db).await });
        }
        let (mut done, mut unconfirmed) = (0u64, 0u64);
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(r) => done += r.rows_affected(),
                Err(Error::Write { result }) => {
                    let f = result.failures().next().unwrap();
                    assert_eq!(f.error.as_ref().unwrap().0, "accepted_below_quorum", "{f:?}");
                    unconfirmed += 1;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        let n = couch_sql!("SELECT n FROM counters WHERE _id = 'c'").fetch_one(&db).await.unwrap().n as u64;
        eprintln!("increments: {done} done, {unconfirmed} unconfirmed (accepted below quorum), n = {n}");
        assert!(done <= n && n <= done + unconfirmed, "n = {n}: done {done}, unconfirmed {unconfirmed}");
        drop(down);
    });
}

/// A live query while node 2 is killed and revived: no change lost, and the rows
/// it holds at the end are the query's rows.
#[test]
fn a_live_query_loses_nothing_when_a_node_restarts() {
    on_cluster(|c| async move {
        let db = fresh_db(&c, 1, "live").await;
        let mut live = couch_sql!("SELECT * FROM items WHERE n >= 100").watch(&db).await.unwrap();
        let writer = db.clone();
        let cluster = Cluster::from_env().unwrap();
        let writes = tokio::spawn(async move {
            for i in 0..300i64 {
                let id = format!("w{i:03}");
                couch_sql!("INSERT INTO items (_id, n, status) VALUES (?, ?, 'new')", id, i)
                    .execute(&writer)
                    .await
                    .unwrap();
                if i == 100 {
                    let down = cluster.kill(2);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    down.revive();
                }
                if i % 50 == 0 && i > 0 {
                    // A row leaves the WHERE: the live query must remove it.
                    couch_sql!("UPDATE items SET n = 1 WHERE _id = ?", format!("w{:03}", i - 1))
                        .execute(&writer)
                        .await
                        .unwrap();
                }
            }
        });
        let mut held: HashMap<String, Item> = HashMap::new();
        let (mut changes, mut repeats) = (0, 0);
        writes.await.unwrap();
        // What was written: w100…w299 match, but for the three that left the WHERE.
        let expected: HashSet<String> =
            (100..300).filter(|i| ![149, 199, 249].contains(i)).map(|i| format!("w{i:03}")).collect();
        // The query says so too, once the copies agree (a `_find` reads one copy per shard).
        eventually(30, "the query's rows", || async {
            let rows =
                couch_sql!("SELECT * FROM items WHERE n >= 100").fetch_all(&db).await.map_err(|e| e.to_string())?;
            let ids: HashSet<String> = rows.into_iter().map(|i| i.id.unwrap()).collect();
            if ids == expected {
                Ok(())
            } else {
                Err(format!("{} rows, {} expected", ids.len(), expected.len()))
            }
        })
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while held.keys().cloned().collect::<HashSet<_>>() != expected {
            let next = tokio::time::timeout_at(deadline, live.next())
                .await
                .unwrap_or_else(|_| panic!("the live query catches up: {} of {} rows", held.len(), expected.len()))
                .unwrap()
                .unwrap();
            changes += 1;
            match next {
                Change::Upsert { id, row } => {
                    if held.insert(id, row).is_some() {
                        repeats += 1;
                    }
                }
                Change::Removed { id } => {
                    held.remove(&id);
                }
            }
        }
        eprintln!("live: {changes} changes, {repeats} upserts of a row already held, {} rows", held.len());
        assert!(held.values().all(|i| i.n >= 100));
    });
}

/// The node the handle talks to dies: with other nodes given it moves on (reads
/// and writes go on); with one URL it is a typed error, and it works again once
/// the node is back.
#[test]
fn the_handle_fails_over_when_its_node_dies() {
    on_cluster(|c| async move {
        let name = fresh_name("failover");
        let db = Database::builder(&c.db_url(1, &name)).failover(c.others(1)).connect().await.unwrap();
        let alone = Database::connect(&c.db_url(1, &name)).await.unwrap();
        db.create_if_missing().await.unwrap();
        couch_sql!("INSERT INTO items (_id, n) VALUES ('a', 1)").execute(&db).await.unwrap();
        let down = c.kill(1);
        let started = Instant::now();
        // The first request finds node 1 gone: a read is sent again, to node 2.
        let rows = couch_sql!("SELECT * FROM items").fetch_all(&db).await.unwrap();
        assert_eq!(rows.len(), 1);
        couch_sql!("INSERT INTO items (_id, n) VALUES ('b', 2)").execute(&db).await.unwrap();
        let rows = couch_sql!("SELECT * FROM items ORDER BY n").fetch_all(&db).await.unwrap();
        eprintln!("failover: node 1 killed; select, insert, select through node 2 in {:?}", started.elapsed());
        assert_eq!(rows.iter().map(|i| i.n).collect::<Vec<_>>(), [1, 2]);
        let err = couch_sql!("SELECT * FROM items").fetch_all(&alone).await.unwrap_err();
        assert!(matches!(err, Error::Transport(_)), "{err:?}");
        down.revive();
        // Back up, node 1 answers at once; its copy learns of `b` when the
        // cluster's internal replication catches up.
        couch_sql!("SELECT * FROM items").fetch_all(&alone).await.unwrap();
        eventually(30, "node 1 catches up", || async {
            let rows = couch_sql!("SELECT * FROM items").fetch_all(&alone).await.map_err(|e| e.to_string())?;
            if rows.len() == 2 {
                Ok(())
            } else {
                Err(format!("{} rows, 2 expected", rows.len()))
            }
        })
        .await;
    });
}

/// `w` and `r` per handle: with node 3 down, a write waiting for three copies is
/// accepted below quorum (202), one waiting for the default two is not.
#[test]
fn quorums_are_chosen_per_handle() {
    on_cluster(|c| async move {
        let db = fresh_db(&c, 1, "quorum").await;
        let down = c.kill(3);
        let two = couch_sql!("INSERT INTO items (_id, n) VALUES ('a', 1), ('b', 2)").execute(&db).await.unwrap();
        assert_eq!(two.accepted_below_quorum(), 0);
        let all = db.clone().with_write_quorum(3).with_read_quorum(2);
        let three = couch_sql!("INSERT INTO items (_id, n) VALUES ('c', 3), ('d', 4)").execute(&all).await.unwrap();
        assert_eq!((three.rows_affected(), three.accepted_below_quorum()), (2, 2));
        let rows = couch_sql!("SELECT * FROM items WHERE n >= 1").fetch_all(&all).await.unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(couch_sql!("SELECT * FROM items WHERE _id = 'c'").fetch_one(&all).await.unwrap().n, 3);
        drop(down);
    });
}
