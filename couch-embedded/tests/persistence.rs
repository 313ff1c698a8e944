//! Databases in a directory survive the engine: written, closed, opened again.

use couch_embedded::Engine;
use serde_json::Value;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn documents_indexes_and_deletions_are_read_back_from_the_files() {
    let dir = std::env::temp_dir().join(format!("couch-embedded-{}-{}", std::process::id(), line!()));
    let _ = std::fs::remove_dir_all(&dir);
    let rev = {
        let engine = Engine::open(&dir).unwrap();
        assert_eq!(engine.handle("PUT", "/shop", b"").0, 201);
        let (status, body) = engine.handle(
            "POST",
            "/shop/_bulk_docs",
            br#"{"docs": [{"_id": "a", "n": 1}, {"_id": "b", "n": 2}, {"_id": "c", "n": 3}]}"#,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        let (status, _) = engine.handle("POST", "/shop/_index", br#"{"index": {"fields": ["n"]}, "name": "by_n"}"#);
        assert_eq!(status, 200);
        let b = json(&engine.handle("GET", "/shop/b", b"").1);
        let (status, _) = engine.handle("DELETE", &format!("/shop/b?rev={}", b["_rev"].as_str().unwrap()), b"");
        assert_eq!(status, 200);
        json(&engine.handle("GET", "/shop/a", b"").1)["_rev"].as_str().unwrap().to_string()
    };
    let engine = Engine::open(&dir).unwrap();
    let a = json(&engine.handle("GET", "/shop/a", b"").1);
    assert_eq!((a["n"].clone(), a["_rev"].as_str().unwrap()), (Value::from(1), rev.as_str()));
    assert_eq!(json(&engine.handle("GET", "/shop/b", b"").1)["reason"], "deleted");
    // The index came back with its design document, and serves a sorted query.
    let (status, found) = engine.handle("POST", "/shop/_find", br#"{"selector": {"n": {"$gt": 0}}, "sort": ["n"]}"#);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&found));
    let ids: Vec<String> =
        json(&found)["docs"].as_array().unwrap().iter().map(|d| d["_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["a", "c"]);
    // A stale revision is still a conflict after reopening.
    let (status, _) = engine.handle("PUT", "/shop/a?rev=1-0", br#"{"n": 9}"#);
    assert_eq!(status, 409);
    assert_eq!(engine.handle("DELETE", "/shop", b"").0, 200);
    assert_eq!(Engine::open(&dir).unwrap().handle("GET", "/shop", b"").0, 404, "the file went with the database");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sequences are kept with the documents: after a reopen `update_seq` goes on
/// from where it was, and a feed resumed from a sequence taken before misses nothing.
#[test]
fn sequences_survive_a_reopen_and_only_grow() {
    let dir = std::env::temp_dir().join(format!("couch-embedded-{}-{}", std::process::id(), line!()));
    let _ = std::fs::remove_dir_all(&dir);
    let before = {
        let engine = Engine::open(&dir).unwrap();
        engine.handle("PUT", "/shop", b"");
        for i in 0..5 {
            engine.handle("PUT", &format!("/shop/d{i}"), br#"{"n": 1}"#);
        }
        let d0 = json(&engine.handle("GET", "/shop/d0", b"").1);
        engine.handle("PUT", &format!("/shop/d0?rev={}", d0["_rev"].as_str().unwrap()), br#"{"n": 2}"#);
        json(&engine.handle("GET", "/shop", b"").1)["update_seq"].as_str().unwrap().to_string()
    };
    assert_eq!(before, "6");
    let engine = Engine::open(&dir).unwrap();
    assert_eq!(json(&engine.handle("GET", "/shop", b"").1)["update_seq"], "6", "the sequence is where it was");
    engine.handle("PUT", "/shop/new", br#"{"n": 3}"#);
    let feed = json(&engine.handle("GET", &format!("/shop/_changes?since={before}"), b"").1);
    let ids: Vec<&str> = feed["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["new"], "{feed}");
    assert_eq!(feed["last_seq"], "7");
    // The whole feed: each document once, at its latest sequence (d0 after d4).
    let all = json(&engine.handle("GET", "/shop/_changes", b"").1);
    let ids: Vec<&str> = all["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["d1", "d2", "d3", "d4", "d0", "new"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `POST /db/_compact` gives the space of rewritten pages back, and loses nothing:
/// the documents, their revisions and the sequence are the same after a reopen.
#[test]
fn compaction_shrinks_the_file_and_keeps_everything() {
    let dir = std::env::temp_dir().join(format!("couch-embedded-compact-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join("shop.redb");
    let (before, after, last) = {
        let engine = Engine::open(&dir).unwrap();
        assert_eq!(engine.handle("PUT", "/shop", b"").0, 201);
        let mut revs: Vec<Option<String>> = vec![None; 300];
        for round in 0..4 {
            let docs: Vec<serde_json::Value> = (0..300)
                .map(|i| {
                    let mut d = serde_json::json!({"_id": format!("d{i}"), "round": round, "pad": "x".repeat(200)});
                    if let Some(r) = &revs[i] {
                        d["_rev"] = serde_json::json!(r);
                    }
                    d
                })
                .collect();
            let body = serde_json::json!({ "docs": docs }).to_string();
            let (status, out) = engine.handle("POST", "/shop/_bulk_docs", body.as_bytes());
            assert_eq!(status, 201);
            let out: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
            for (i, r) in out.iter().enumerate() {
                revs[i] = Some(r["rev"].as_str().unwrap().to_string());
            }
        }
        let before = std::fs::metadata(&file).unwrap().len();
        let (status, body) = engine.handle("POST", "/shop/_compact", b"");
        assert_eq!((status, body.as_slice()), (202, br#"{"ok":true}"#.as_slice()));
        let after = std::fs::metadata(&file).unwrap().len();
        (before, after, revs[299].clone().unwrap())
    };
    assert!(after <= before, "{before} → {after} bytes");
    let engine = Engine::open(&dir).unwrap();
    let (_, info) = engine.handle("GET", "/shop", b"");
    let info: serde_json::Value = serde_json::from_slice(&info).unwrap();
    assert_eq!((info["doc_count"].as_u64(), info["update_seq"].as_str()), (Some(300), Some("1200")));
    let (_, doc) = engine.handle("GET", "/shop/d299", b"");
    let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!((doc["_rev"].as_str(), doc["round"].as_u64()), (Some(last.as_str()), Some(3)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Integers beyond 64 bits are kept exactly, as CouchDB keeps them: written, read,
/// matched and sorted as numbers, and reloaded from the file digit for digit.
#[test]
fn integers_beyond_64_bits_are_kept_exactly() {
    let dir = std::env::temp_dir().join(format!("couch-embedded-bigint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    {
        let engine = Engine::open(&dir).unwrap();
        engine.handle("PUT", "/shop", b"");
        let docs = br#"{"docs": [{"_id": "big", "n": 123456789012345678901234567890}, {"_id": "neg", "n": -98765432109876543210}, {"_id": "small", "n": 5}, {"_id": "s", "n": "123456789012345678901234567890"}]}"#;
        assert_eq!(engine.handle("POST", "/shop/_bulk_docs", docs).0, 201);
    }
    let engine = Engine::open(&dir).unwrap();
    let (_, got) = engine.handle("GET", "/shop/big", b"");
    assert!(text(got).contains(r#""n":123456789012345678901234567890"#));
    let sorted = br#"{"selector": {"n": {"$gt": -100000000000000000000000}}, "sort": ["n"]}"#;
    engine.handle("POST", "/shop/_index", br#"{"index": {"fields": ["n"]}}"#);
    let (status, found) = engine.handle("POST", "/shop/_find", sorted);
    assert_eq!(status, 200);
    let found = text(found);
    let order: Vec<usize> =
        ["\"neg\"", "\"small\"", "\"big\""].iter().map(|id| found.find(id).expect(&found)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "numbers in order: {found}");
    assert!(found.contains(r#""n":-98765432109876543210"#), "{found}");
    let (_, typed) = engine.handle(
        "POST",
        "/shop/_find",
        br#"{"selector": {"n": {"$type": "number", "$gt": 123456789012345678901234567889}}}"#,
    );
    let typed = text(typed);
    assert!(typed.contains("\"big\"") && !typed.contains("\"s\""), "{typed}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn revs_limit_is_kept_in_the_file() {
    let dir = std::env::temp_dir().join(format!("couch-embedded-{}-{}", std::process::id(), line!()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let engine = Engine::open(&dir).unwrap();
        assert_eq!(engine.handle("PUT", "/shop", b"").0, 201);
        assert_eq!(json(&engine.handle("GET", "/shop/_revs_limit", b"").1), Value::from(1000));
        assert_eq!(engine.handle("PUT", "/shop/_revs_limit", b"7").0, 200);
        assert_eq!(engine.handle("PUT", "/shop/_revs_limit", b"0").0, 400);
    }
    let engine = Engine::open(&dir).unwrap();
    assert_eq!(json(&engine.handle("GET", "/shop/_revs_limit", b"").1), Value::from(7));
    let _ = std::fs::remove_dir_all(&dir);
}
