//! Bookmarks resume after the last row returned, in both directions and on both kinds of index.

use couch_embedded::Engine;
use serde_json::{json, Value};

fn find(engine: &Engine, body: Value) -> (Vec<String>, String) {
    let (status, bytes) = engine.handle("POST", "/db/_find", body.to_string().as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let ids = v["docs"].as_array().unwrap().iter().map(|d| d["_id"].as_str().unwrap().to_string()).collect();
    (ids, v["bookmark"].as_str().unwrap().to_string())
}

fn pages(engine: &Engine, mut body: Value) -> Vec<String> {
    let mut all = Vec::new();
    loop {
        let (ids, bookmark) = find(engine, body.clone());
        if ids.is_empty() {
            return all;
        }
        all.extend(ids);
        body["bookmark"] = json!(bookmark);
    }
}

#[test]
fn every_row_once_in_order() {
    let engine = Engine::new();
    engine.handle("PUT", "/db", b"");
    let docs: Vec<Value> = (0..7).map(|i| json!({"_id": format!("d{i}"), "n": (i * 3) % 7, "t": "x"})).collect();
    engine.handle("POST", "/db/_bulk_docs", json!({ "docs": docs }).to_string().as_bytes());
    engine.handle("POST", "/db/_index", br#"{"index": {"fields": ["n"]}, "name": "by_n"}"#);
    let by_id = pages(&engine, json!({"selector": {"t": "x"}, "limit": 2}));
    assert_eq!(by_id, ["d0", "d1", "d2", "d3", "d4", "d5", "d6"]);
    let asc = pages(&engine, json!({"selector": {"n": {"$gte": 1}}, "sort": [{"n": "asc"}], "limit": 2}));
    assert_eq!(asc, ["d5", "d3", "d1", "d6", "d4", "d2"], "n = 1..6");
    let desc = pages(&engine, json!({"selector": {"n": {"$gte": 1}}, "sort": [{"n": "desc"}], "limit": 3}));
    assert_eq!(desc, ["d2", "d4", "d6", "d1", "d3", "d5"]);
}
