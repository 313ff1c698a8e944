//! couch-sql's replicator between the server under test and an engine in this
//! process (`mem://`), both ways: every revision with its history, deletions,
//! conflicts kept and resolved, checkpoints that resume, scopes, live sync.

use crate::fresh_db;
use crate::models::{orders, Order};
use couch_sql::{couch_sql, Database, StreamExt, SyncEvent};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A database in an engine in this process (the other peer).
async fn local_peer(tag: &str) -> Database {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("peer_{tag}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let db = Database::connect(&format!("mem://{name}")).await.expect("an engine in process");
    db.create_if_missing().await.unwrap();
    db
}

/// Every document of a database: id → (winning rev, body without `_rev`, sorted
/// conflicts). Design documents are left out: each side's queries make their own
/// indexes.
async fn contents(db: &Database) -> BTreeMap<String, Value> {
    let all = db.request("GET", "_all_docs?include_docs=true&conflicts=true", None).await.unwrap();
    let mut out = BTreeMap::new();
    for row in all["rows"].as_array().unwrap() {
        if row["id"].as_str().unwrap().starts_with("_design/") {
            continue;
        }
        let mut doc = row["doc"].clone();
        let doc_map = doc.as_object_mut().unwrap();
        let rev = doc_map.remove("_rev").unwrap();
        let mut conflicts = doc_map.remove("_conflicts").unwrap_or(json!([]));
        if let Some(c) = conflicts.as_array_mut() {
            c.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
        out.insert(row["id"].as_str().unwrap().to_string(), json!({"rev": rev, "doc": doc, "conflicts": conflicts}));
    }
    out
}

/// Asserts that two databases hold the same documents, revisions and conflicts. A
/// CouchDB cluster acknowledges a write once two of a shard's three copies have it,
/// and `_all_docs` may read the third: the comparison is repeated for a while.
async fn assert_same(a: &Database, b: &Database, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (x, y) = (contents(a).await, contents(b).await);
        if x == y {
            return;
        }
        if std::time::Instant::now() > deadline {
            assert_eq!(x, y, "{what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn seed(db: &Database) {
    couch_sql!(
        "INSERT INTO orders (_id, region, qty) VALUES ('o1', 'north', 1), ('o2', 'south', 2), ('o3', 'north', 3), ('o4', 'east', 4)"
    )
    .execute(db)
    .await
    .unwrap();
    couch_sql!("UPDATE orders SET qty = qty + 10 WHERE region = 'north'").execute(db).await.unwrap();
    couch_sql!("DELETE FROM orders WHERE _id = 'o4'").execute(db).await.unwrap();
}

async fn replicated_both_ways_with_history(source: &Database, target: &Database) {
    seed(source).await;
    let report = source.replicate_to(target).await.unwrap();
    assert_eq!(report.doc_write_failures, 0, "{report:?}");
    assert_eq!(report.docs_written, 4, "o1..o4, each at its latest revision: {report:?}");
    assert!(!report.resumed);
    assert_same(source, target, "source and target").await;
    let rows = couch_sql!("SELECT _id, qty FROM orders ORDER BY _id").fetch_all(target).await.unwrap();
    let qty: Vec<i64> = rows.iter().map(|r| r.qty).collect();
    assert_eq!(qty, [11, 2, 13]);
    // The history came too: o1's revision on the target descends from its first.
    let o1 = target.request("GET", "o1?revs=true", None).await.unwrap();
    assert_eq!(o1["_revisions"]["start"], 2);
    assert_eq!(o1["_revisions"]["ids"].as_array().unwrap().len(), 2);
    let gone = target.request("GET", "o4", None).await;
    assert!(matches!(gone, Err(couch_sql::Error::NotFound { .. })), "the deletion replicated: {gone:?}");

    // A second run resumes from its checkpoint and has nothing to do.
    let again = source.replicate_to(target).await.unwrap();
    assert!(again.resumed, "{again:?}");
    assert_eq!((again.docs_read, again.docs_written, again.changes_read), (0, 0, 0), "{again:?}");
    // A change after it moves exactly that change.
    couch_sql!("UPDATE orders SET note = 'late' WHERE _id = 'o2'").execute(source).await.unwrap();
    // (A cluster's changes feed may show the write a moment later: runs are repeated
    // until it comes, and together they move it once.)
    let (mut read, mut written) = (0, 0);
    for _ in 0..50 {
        let third = source.replicate_to(target).await.unwrap();
        (read, written) = (read + third.docs_read, written + third.docs_written);
        if read > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!((read, written), (1, 1));
    assert_same(source, target, "source and target").await;
}

#[tokio::test]
async fn the_server_replicates_into_an_engine_with_every_revision() {
    let server = fresh_db("repl_out").await;
    let engine = local_peer("repl_out").await;
    replicated_both_ways_with_history(&server, &engine).await;
}

#[tokio::test]
async fn an_engine_replicates_into_the_server_with_every_revision() {
    let server = fresh_db("repl_in").await;
    let engine = local_peer("repl_in").await;
    replicated_both_ways_with_history(&engine, &server).await;
}

/// Two peers edit the same document offline; after a sync both keep both
/// branches, agree on the winner, and list the same conflict; resolving it on
/// one peer and syncing again ends it on both.
#[tokio::test]
async fn conflicts_are_kept_agreed_on_and_resolved() {
    let server = fresh_db("repl_conflict").await;
    let engine = local_peer("repl_conflict").await;
    couch_sql!("INSERT INTO orders (_id, region, qty) VALUES ('c1', 'north', 1)").execute(&engine).await.unwrap();
    engine.sync(&server).await.unwrap();
    // Offline edits of the same revision.
    couch_sql!("UPDATE orders SET qty = 100 WHERE _id = 'c1'").execute(&engine).await.unwrap();
    couch_sql!("UPDATE orders SET qty = 200, note = 'server' WHERE _id = 'c1'").execute(&server).await.unwrap();
    let (pushed, pulled) = engine.sync(&server).await.unwrap();
    assert_eq!((pushed.docs_written, pulled.docs_written), (1, 1), "{pushed:?} {pulled:?}");
    assert_same(&engine, &server, "the same winner and conflicts on both").await;
    for peer in [&engine, &server] {
        let conflicts = peer.conflicts::<Order>().await.unwrap();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        let c = &conflicts[0];
        assert_eq!(c.id, "c1");
        assert_eq!(c.losers.len(), 1);
        let mut both = [c.winner.qty, c.losers[0].row.qty];
        both.sort();
        assert_eq!(both, [100, 200]);
    }
    // Resolve on the engine: keep the larger quantity, and the server's note.
    let c = engine.conflicts::<Order>().await.unwrap().remove(0);
    let (a, b) = (c.winner.clone(), c.losers[0].row.clone());
    let keep = Order { qty: a.qty.max(b.qty), note: a.note.or(b.note), ..a };
    let rev = c.resolve(&engine, keep).await.unwrap();
    assert!(rev.starts_with("3-"), "{rev}");
    assert!(engine.conflicts::<Order>().await.unwrap().is_empty());
    engine.sync(&server).await.unwrap();
    assert!(server.conflicts::<Order>().await.unwrap().is_empty(), "the resolution replicated");
    assert_same(&engine, &server, "engine and server").await;
    let row = couch_sql!("SELECT qty, note FROM orders WHERE _id = 'c1'").fetch_one(&server).await.unwrap();
    assert_eq!((row.qty, row.note.as_deref()), (200, Some("server")));
}

/// `.only(SELECT …)`: the documents of its table its WHERE selects, and deletions.
#[tokio::test]
async fn a_select_scopes_what_is_replicated() {
    let server = fresh_db("repl_scope").await;
    let engine = local_peer("repl_scope").await;
    seed(&server).await;
    server.request("PUT", "other", Some(&json!({"type": "users", "region": "north"}))).await.unwrap();
    let report = engine
        .replicate_from(&server)
        .only(couch_sql!("SELECT * FROM orders WHERE region = ?", "north"))
        .await
        .unwrap();
    assert_eq!(report.doc_write_failures, 0);
    let ids: Vec<String> = couch_sql!("SELECT _id FROM orders ORDER BY _id")
        .fetch_all(&engine)
        .await
        .unwrap()
        .iter()
        .map(|r| r._id.clone())
        .collect();
    assert_eq!(ids, ["o1", "o3"]);
    assert!(matches!(engine.request("GET", "other", None).await, Err(couch_sql::Error::NotFound { .. })));
    // A deletion in scope follows.
    couch_sql!("DELETE FROM orders WHERE _id = 'o1'").execute(&server).await.unwrap();
    engine.replicate_from(&server).only(couch_sql!("SELECT * FROM orders WHERE region = ?", "north")).await.unwrap();
    let left = couch_sql!("SELECT _id FROM orders").fetch_all(&engine).await.unwrap();
    assert_eq!(left.len(), 1);
    // A scope that is not a plain SELECT is refused before anything is sent.
    let sorted =
        engine.replicate_from(&server).only(couch_sql::query("SELECT * FROM orders ORDER BY qty LIMIT 1")).await;
    assert!(matches!(sorted, Err(couch_sql::Error::Invalid { .. })), "{sorted:?}");
}

/// The next event of a live sync, within a while.
async fn next_event(rx: &mut tokio::sync::mpsc::UnboundedReceiver<SyncEvent>) -> SyncEvent {
    tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
        .await
        .expect("an event within 20 s")
        .expect("the stream goes on")
}

/// A live sync carries each write across as it happens, both ways.
#[tokio::test]
async fn a_live_sync_carries_writes_both_ways() {
    let server = fresh_db("repl_live").await;
    let engine = local_peer("repl_live").await;
    let mut live = engine.sync(&server).live();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(e) = live.next().await {
            if tx.send(e.expect("no lasting error")).is_err() {
                return;
            }
        }
    });
    // Both sides empty: it catches up at once, and says so.
    assert_eq!(next_event(&mut rx).await, SyncEvent::Idle);
    // Each write is a pass that moves one document, from the side it was written on.
    for (writer, reader, id) in [(&engine, &server, "l1"), (&server, &engine, "l2")] {
        couch_sql::query("INSERT INTO orders (_id, region, qty) VALUES (?, 'north', 1)")
            .bind(id)
            .execute(writer)
            .await
            .unwrap();
        loop {
            match next_event(&mut rx).await {
                SyncEvent::Replicated { source, target, report } => {
                    assert_eq!((source.as_str(), target.as_str()), (writer.name(), reader.name()));
                    assert_eq!((report.docs_written, report.doc_write_failures), (1, 0), "{report:?}");
                    break;
                }
                SyncEvent::Idle => continue,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(reader.request("GET", id, None).await.unwrap()["qty"], 1);
    }
    driver.abort();
    let _ = driver.await;
    assert_same(&engine, &server, "engine and server").await;
}

/// A database in an engine on disk (`file://`), in a fresh directory.
async fn file_peer(tag: &str) -> Database {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let dir = std::env::temp_dir().join(format!("couch-sql-peer-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = Database::connect(&format!("file://{}/{tag}", dir.display())).await.expect("an engine on disk");
    db.create_if_missing().await.unwrap();
    db
}

/// Three peers — an engine in memory, an engine on disk and the server under test —
/// edit the same documents offline, then sync in every order: every peer shows the
/// same winner and the same conflicts, whatever the order (and the same as in every
/// other order); after one peer resolves them and the syncs run again, none are left.
#[tokio::test]
async fn three_peers_converge_in_every_order() {
    let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let mut outcomes = Vec::new();
    for (round, order) in orders.iter().enumerate() {
        let peers = [
            local_peer(&format!("three{round}")).await,
            file_peer(&format!("three{round}")).await,
            fresh_db(&format!("three{round}")).await,
        ];
        couch_sql!(
            "INSERT INTO orders (_id, region, qty) VALUES ('t1', 'north', 1), ('t2', 'south', 2), ('t3', 'east', 3)"
        )
        .execute(&peers[0])
        .await
        .unwrap();
        peers[0].sync(&peers[1]).await.unwrap();
        peers[0].sync(&peers[2]).await.unwrap();
        // Offline: each peer edits every document its own way; one peer deletes t3.
        for (i, p) in peers.iter().enumerate() {
            let qty = 10 * (i as i64 + 1);
            couch_sql!("UPDATE orders SET qty = ? WHERE region <> 'none'", qty).execute(p).await.unwrap();
        }
        couch_sql!("DELETE FROM orders WHERE _id = 't3'").execute(&peers[1]).await.unwrap();
        let [a, b, c] = order.map(|i| &peers[i]);
        a.sync(b).await.unwrap();
        b.sync(c).await.unwrap();
        a.sync(b).await.unwrap();
        for p in &peers[1..] {
            assert_same(&peers[0], p, &format!("order {order:?}: every peer the same")).await;
        }
        let seen = contents(&peers[0]).await;
        for id in ["t1", "t2"] {
            assert_eq!(seen[id]["conflicts"].as_array().unwrap().len(), 2, "{id}: three live branches: {seen:?}");
        }
        assert_eq!(seen["t3"]["conflicts"].as_array().unwrap().len(), 1, "t3: two live branches, one deleted");
        outcomes.push(seen);
        if round == orders.len() - 1 {
            // One peer resolves; the syncs carry it everywhere.
            for c in peers[order[2]].conflicts::<Order>().await.unwrap() {
                let keep = Order { note: Some("resolved".into()), ..c.winner.clone() };
                c.resolve(&peers[order[2]], keep).await.unwrap();
            }
            a.sync(b).await.unwrap();
            b.sync(c).await.unwrap();
            a.sync(b).await.unwrap();
            for p in &peers {
                assert!(p.conflicts::<Order>().await.unwrap().is_empty());
                let notes = couch_sql!("SELECT note FROM orders").fetch_all(p).await.unwrap();
                assert_eq!(notes.len(), 3);
                assert!(notes.iter().all(|n| n.note.as_deref() == Some("resolved")));
            }
        }
    }
    for o in &outcomes[1..] {
        assert_eq!(o, &outcomes[0], "the same winners whatever the order");
    }
}

/// Attachments travel with their documents, both ways: the bytes, the type and
/// the digest; an edit that keeps an attachment sends it as a stub the other side
/// resolves.
#[tokio::test]
async fn attachments_replicate_both_ways() {
    let server = fresh_db("repl_atts").await;
    let engine = local_peer("repl_atts").await;
    let bytes: Vec<u8> = (0..=255u8).rev().collect();
    let data = Value::String(couch_embedded::base64(&bytes));
    server
        .request(
            "PUT",
            "a",
            Some(&json!({"type": "files", "_attachments": {"x.bin": {"content_type": "image/png", "data": data}}})),
        )
        .await
        .unwrap();
    server.replicate_to(&engine).await.unwrap();
    let inline = |db: Database| async move { db.request("GET", "a?attachments=true", None).await.unwrap() };
    let (s, e) = (inline(server.clone()).await, inline(engine.clone()).await);
    assert_eq!(s["_attachments"], e["_attachments"]);
    assert_eq!(e["_attachments"]["x.bin"]["data"], data);
    // Edited on the engine, the attachment kept by its stub; pushed back.
    let doc = engine.request("GET", "a", None).await.unwrap();
    let edited = json!({"_rev": doc["_rev"], "type": "files", "n": 1, "_attachments": doc["_attachments"]});
    engine.request("PUT", "a", Some(&edited)).await.unwrap();
    let report = engine.replicate_to(&server).await.unwrap();
    assert_eq!((report.docs_written, report.doc_write_failures), (1, 0), "{report:?}");
    let (mut s, mut e) = (inline(server.clone()).await, inline(engine.clone()).await);
    assert_eq!(s["_rev"], e["_rev"]);
    assert_eq!(e["_attachments"]["x.bin"]["revpos"], 1, "kept from the first revision");
    if crate::is_pouchdb().await {
        // pouchdb-server gives a replicated attachment the revpos of the revision it
        // arrives in (PouchDB's own replicator does the same; docs/servers.md).
        s["_attachments"]["x.bin"]["revpos"] = json!(1);
    }
    e["_attachments"]["x.bin"]["revpos"] = json!(1);
    assert_eq!(s["_attachments"], e["_attachments"]);
    assert_eq!(s["n"], 1);
}

/// Conflicts in SQL: `_conflicts` is a column of every table (the live revisions
/// that lost, NULL when none), so a SELECT finds the documents in conflict.
#[tokio::test]
async fn a_select_finds_the_documents_in_conflict() {
    let db = fresh_db("sql_conflicts").await;
    couch_sql!("INSERT INTO orders (_id, region, qty) VALUES ('calm', 'north', 1)").execute(&db).await.unwrap();
    let branches = json!({"new_edits": false, "docs": [
        {"_id": "torn", "_rev": "2-a1", "_revisions": {"start": 2, "ids": ["a1", "r0"]}, "type": "orders", "region": "north", "qty": 1},
        {"_id": "torn", "_rev": "2-f9", "_revisions": {"start": 2, "ids": ["f9", "r0"]}, "type": "orders", "region": "north", "qty": 2},
    ]});
    db.request("POST", "_bulk_docs", Some(&crate::on_every_copy(branches).await)).await.unwrap();
    let torn = couch_sql!("SELECT _id, qty, _conflicts FROM orders WHERE _conflicts IS NOT NULL")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(torn.len(), 1, "{torn:?}");
    assert_eq!((torn[0]._id.as_str(), torn[0].qty), ("torn", 2), "the winner's row");
    assert_eq!(torn[0]._conflicts.as_deref(), Some(&["2-a1".to_string()][..]));
    let all = couch_sql!("SELECT _id, _conflicts FROM orders ORDER BY _id").fetch_all(&db).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]._conflicts, None, "calm has none");
    let dynamic = couch_sql::query("SELECT _id FROM orders WHERE _conflicts IS NULL").fetch_all(&db).await.unwrap();
    assert_eq!(dynamic.len(), 1);
    assert_eq!(dynamic[0]["_id"], "calm");
}
