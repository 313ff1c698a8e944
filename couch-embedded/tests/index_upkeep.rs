//! An index kept up to date across writes (entries taken out and merged back in)
//! answers exactly as one built from scratch over the same documents.

use couch_embedded::Engine;
use serde_json::{json, Value};

fn all_ids(engine: &Engine, db: &str, selector: &Value, sort: &str) -> Vec<String> {
    let body = json!({"selector": selector, "sort": [{sort: "asc"}], "limit": 100_000, "use_index": "by_n"});
    let (status, bytes) = engine.handle("POST", &format!("/{db}/_find"), body.to_string().as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["docs"].as_array().unwrap().iter().map(|d| d["_id"].as_str().unwrap().to_string()).collect()
}

fn live_docs(engine: &Engine, db: &str) -> Vec<Value> {
    let (_, bytes) = engine.handle("GET", &format!("/{db}/_all_docs?include_docs=true"), b"");
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["id"].as_str().unwrap().starts_with("_design/"))
        .map(|r| {
            let mut d = r["doc"].clone();
            d.as_object_mut().unwrap().remove("_rev");
            d
        })
        .collect()
}

#[test]
fn an_index_kept_across_writes_answers_as_one_built_anew() {
    let engine = Engine::new();
    engine.handle("PUT", "/kept", b"");
    let index = br#"{"index": {"fields": ["n"]}, "name": "by_n", "ddoc": "by_n"}"#;
    engine.handle("POST", "/kept/_index", index);
    let docs: Vec<Value> =
        (0..500).map(|i| json!({"_id": format!("d{i:03}"), "n": i % 37, "s": format!("v{}", i % 11)})).collect();
    engine.handle("POST", "/kept/_bulk_docs", json!({ "docs": docs }).to_string().as_bytes());
    let selector = json!({"n": {"$gte": 5}});
    let mut state = 7u64;
    let mut rand = move |m: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % m
    };
    for round in 0..40 {
        // A few writes: updates that move a document in the index, deletes, new documents,
        // documents that leave the index (no `n`) and come back.
        for _ in 0..(1 + rand(6)) {
            let id = format!("d{:03}", rand(520));
            let (status, bytes) = engine.handle("GET", &format!("/kept/{id}"), b"");
            let mut doc: Value =
                if status == 200 { serde_json::from_slice(&bytes).unwrap() } else { json!({"_id": id}) };
            match rand(4) {
                0 if status == 200 => {
                    let rev = doc["_rev"].as_str().unwrap().to_string();
                    engine.handle("DELETE", &format!("/kept/{id}?rev={rev}"), b"");
                    continue;
                }
                1 => {
                    doc.as_object_mut().unwrap().remove("n");
                }
                _ => doc["n"] = json!(rand(40)),
            }
            engine.handle("PUT", &format!("/kept/{id}"), doc.to_string().as_bytes());
        }
        let kept = all_ids(&engine, "kept", &selector, "n");
        // The same documents, indexed from scratch.
        let fresh = format!("fresh{round}");
        engine.handle("PUT", &format!("/{fresh}"), b"");
        engine.handle("POST", &format!("/{fresh}/_index"), index);
        let docs = live_docs(&engine, "kept");
        engine.handle("POST", &format!("/{fresh}/_bulk_docs"), json!({ "docs": docs }).to_string().as_bytes());
        assert_eq!(kept, all_ids(&engine, &fresh, &selector, "n"), "round {round}");
        engine.handle("DELETE", &format!("/{fresh}"), b"");
    }
}
