//! `_changes`: each document once at its latest revision, filters, and a longpoll that waits.

use couch_embedded::Engine;
use serde_json::Value;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn the_feed_lists_latest_revisions_filters_and_waits() {
    let engine = Engine::new();
    engine.handle("PUT", "/db", b"");
    engine.handle(
        "POST",
        "/db/_bulk_docs",
        br#"{"docs": [{"_id": "a", "type": "t", "n": 1}, {"_id": "b", "type": "u"}]}"#,
    );
    let a = json(&engine.handle("GET", "/db/a", b"").1);
    let body = format!(r#"{{"_rev": "{}", "type": "t", "n": 2}}"#, a["_rev"].as_str().unwrap());
    assert_eq!(engine.handle("PUT", "/db/a", body.as_bytes()).0, 201);
    let feed = json(&engine.handle("GET", "/db/_changes?include_docs=true", b"").1);
    let ids: Vec<&str> = feed["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["b", "a"], "each document once, at its latest change");
    assert_eq!(feed["results"][1]["doc"]["n"], 2);
    let last = feed["last_seq"].as_str().unwrap().to_string();
    let only_t = json(&engine.handle("POST", "/db/_changes?filter=_selector", br#"{"selector": {"type": "t"}}"#).1);
    assert_eq!(only_t["results"].as_array().unwrap().len(), 1);
    // A longpoll from the last sequence waits for the next write.
    let waiter = {
        let engine = engine.clone();
        let last = last.clone();
        std::thread::spawn(move || {
            json(&engine.handle("GET", &format!("/db/_changes?feed=longpoll&since={last}&timeout=5000"), b"").1)
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let b = json(&engine.handle("GET", "/db/b", b"").1);
    engine.handle("DELETE", &format!("/db/b?rev={}", b["_rev"].as_str().unwrap()), b"");
    let woke = waiter.join().unwrap();
    assert_eq!(woke["results"][0]["id"], "b");
    assert_eq!(woke["results"][0]["deleted"], true);
    // Nothing new: a short longpoll times out empty.
    let now = woke["last_seq"].as_str().unwrap();
    let empty = json(&engine.handle("GET", &format!("/db/_changes?feed=longpoll&since={now}&timeout=50"), b"").1);
    assert!(empty["results"].as_array().unwrap().is_empty());
}

/// A user document's clear password is hashed on every way it can be written
/// (`PUT`, `POST /_users`, `_bulk_docs`), and logs in.
#[test]
fn user_passwords_are_hashed_on_every_write_path() {
    let engine = Engine::new();
    engine.handle(
        "POST",
        "/_users",
        br#"{"_id": "org.couchdb.user:ann", "name": "ann", "type": "user", "roles": [], "password": "pw-ann"}"#,
    );
    engine.handle(
        "POST",
        "/_users/_bulk_docs",
        br#"{"docs": [{"_id": "org.couchdb.user:bo", "name": "bo", "type": "user", "roles": [], "password": "pw-bo"}]}"#,
    );
    for (user, password) in [("ann", "pw-ann"), ("bo", "pw-bo")] {
        let doc = json(&engine.handle("GET", &format!("/_users/org.couchdb.user:{user}"), b"").1);
        assert!(doc.get("password").is_none(), "{doc}");
        assert_eq!(doc["password_scheme"], "pbkdf2", "{doc}");
        assert_eq!(doc["derived_key"].as_str().map(str::len), Some(64), "{doc}");
        let login = format!(r#"{{"name": "{user}", "password": "{password}"}}"#);
        assert_eq!(engine.handle("POST", "/_session", login.as_bytes()).0, 200, "{user} logs in");
    }
    let wrong = br#"{"name": "ann", "password": "pw-bo"}"#;
    assert_eq!(engine.handle("POST", "/_session", wrong).0, 401);
}
