//! Authentication and authorization as CouchDB 3.4.3 has them (no admin party),
//! checked on CouchDB and on `couch-sql serve` alike: who may create databases,
//! read them, write design documents and `_security`, and how sessions work.
//! (pouchdb-server is an admin party, and in process there is no HTTP: skipped.)

use crate::{fresh_db, in_process, is_pouchdb, server_url, with_user};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};

/// The server's root without credentials.
fn anonymous_root() -> String {
    let url = server_url();
    let (scheme, rest) = url.split_once("://").unwrap();
    format!("{scheme}://{}", rest.split_once('@').map_or(rest, |(_, h)| h))
}

async fn answer(r: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Sets a database's `_security` and waits until it is in force: on a CouchDB
/// cluster each shard copy takes it in its own time.
async fn set_security(http: &reqwest::Client, db_url: &str, security: &Value) {
    assert_eq!(answer(http.put(format!("{db_url}/_security")).json(security)).await.0, 200);
    for _ in 0..100 {
        // Several reads in a row agree: every copy read has it.
        let mut agreed = 0;
        for _ in 0..6 {
            if answer(http.get(format!("{db_url}/_security"))).await.1 == *security {
                agreed += 1;
            }
        }
        if agreed == 6 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("_security {security} never took effect");
}

/// The status and `error` of an answer.
fn code(a: &(u16, Value)) -> (u16, &str) {
    (a.0, a.1["error"].as_str().unwrap_or(""))
}

#[tokio::test]
async fn only_admins_and_members_get_in_as_couchdb_3_decides() {
    if in_process() || is_pouchdb().await {
        return;
    }
    let http = reqwest::Client::new();
    let db = fresh_db("security").await;
    let admin_db = format!("{}/{}", server_url(), db.name());
    let anon = anonymous_root();
    let anon_db = format!("{anon}/{}", db.name());
    static N: AtomicU32 = AtomicU32::new(0);
    let bob = format!("bob{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let bob_root = with_user(&server_url(), &bob, "pw-bob");
    let bob_db = format!("{bob_root}/{}", db.name());

    // Without credentials: no admin party.
    let r = answer(http.get(format!("{anon}/_all_dbs"))).await;
    assert_eq!(code(&r), (401, "unauthorized"), "{}", r.1);
    assert_eq!(r.1["reason"], "You are not a server admin.");
    assert_eq!(code(&answer(http.put(format!("{anon}/t_probe_{bob}"))).await), (401, "unauthorized"));
    let r = answer(http.get(&anon_db)).await;
    assert_eq!(code(&r), (401, "unauthorized"), "a new database is its admins' (CouchDB 3's default)");
    assert_eq!(r.1["reason"], "You are not authorized to access this db.");
    assert_eq!(code(&answer(http.put(format!("{anon_db}/x")).json(&json!({}))).await), (401, "unauthorized"));
    let r = answer(http.get(format!("{admin_db}/_security"))).await;
    assert_eq!(r.1, json!({"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}}));
    // Wrong credentials are refused, whatever the request.
    let r = answer(http.get(format!("{}/", with_user(&server_url(), &bob, "nope")))).await;
    assert_eq!((r.0, r.1["reason"].as_str()), (401, Some("Name or password is incorrect.")));

    // A user, made by the admin: the password is kept hashed, as CouchDB 3.4 keeps it.
    let user = json!({"name": bob, "password": "pw-bob", "roles": ["staff"], "type": "user"});
    let r = answer(http.put(format!("{}/_users/org.couchdb.user:{bob}", server_url())).json(&user)).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let stored = answer(http.get(format!("{}/_users/org.couchdb.user:{bob}", server_url()))).await.1;
    assert!(stored.get("password").is_none(), "{stored}");
    assert_eq!((stored["password_scheme"].as_str(), stored["pbkdf2_prf"].as_str()), (Some("pbkdf2"), Some("sha256")));
    assert_eq!(stored["iterations"], 600_000);

    // Known, but no member: 403 (not 401); the server's admin endpoints stay 401.
    let r = answer(http.get(&bob_db)).await;
    assert_eq!(code(&r), (403, "forbidden"), "{}", r.1);
    assert_eq!(r.1["reason"], "You are not allowed to access this db.");
    assert_eq!(code(&answer(http.get(format!("{bob_root}/_all_dbs"))).await), (401, "unauthorized"));
    assert_eq!(code(&answer(http.put(format!("{bob_root}/t_probe_{bob}"))).await), (401, "unauthorized"));
    // `_users` is the admins': no one else reads password hashes (their own included, by default).
    let r = answer(http.get(format!("{bob_root}/_users/org.couchdb.user:{bob}"))).await;
    assert_eq!(code(&r), (403, "forbidden"), "{}", r.1);

    // A member by name reads and writes documents, not design documents nor `_security`.
    let sec = json!({"members": {"names": [bob], "roles": []}, "admins": {"names": [], "roles": []}});
    set_security(&http, &admin_db, &sec).await;
    assert_eq!(answer(http.get(&bob_db)).await.0, 200);
    // On a cluster every copy before the `_find`, which reads one copy per shard.
    let r = answer(http.put(crate::on_every_copy_at(&format!("{bob_db}/doc")).await).json(&json!({"a": 1}))).await;
    assert_eq!(r.0, 201, "{}", r.1);
    assert_eq!(answer(http.get(format!("{bob_db}/doc"))).await.1["a"], 1);
    let found = answer(http.post(format!("{bob_db}/_find")).json(&json!({"selector": {"a": 1}}))).await;
    assert_eq!(found.1["docs"].as_array().map(Vec::len), Some(1), "{}", found.1);
    let r = answer(http.put(format!("{bob_db}/_design/x")).json(&json!({"views": {}}))).await;
    assert_eq!((code(&r), r.1["reason"].as_str()), ((403, "forbidden"), Some("You are not a db or server admin.")));
    let bulk = json!({"docs": [{"_id": "_design/z"}, {"_id": "q"}]});
    let r = answer(http.post(format!("{bob_db}/_bulk_docs")).json(&bulk)).await;
    assert_eq!(r.1[0]["error"], "forbidden", "{}", r.1);
    assert_eq!(r.1[1]["ok"], true, "the other document is written: {}", r.1);
    assert_eq!(answer(http.get(format!("{bob_db}/_security"))).await.0, 200, "members read it");
    let r = answer(http.put(format!("{bob_db}/_security")).json(&json!({}))).await;
    assert!(r.0 >= 400, "a member may not change _security: {}", r.1);
    assert_eq!(answer(http.get(format!("{admin_db}/_security"))).await.1, sec, "unchanged");
    assert_eq!(code(&answer(http.get(&anon_db)).await), (401, "unauthorized"), "still not for everyone");

    // A member by role.
    let by_role = json!({"members": {"names": [], "roles": ["staff"]}, "admins": {"names": [], "roles": []}});
    set_security(&http, &admin_db, &by_role).await;
    assert_eq!(answer(http.get(&bob_db)).await.0, 200);
    // A database admin by name writes design documents.
    let db_admin = json!({"members": {"names": [], "roles": []}, "admins": {"names": [bob], "roles": []}});
    set_security(&http, &admin_db, &db_admin).await;
    assert_eq!(answer(http.put(format!("{bob_db}/_design/y")).json(&json!({"views": {}}))).await.0, 201);

    // Public (`{}`): anyone reads and writes documents; design documents stay the admins'.
    set_security(&http, &admin_db, &json!({})).await;
    assert_eq!(answer(http.get(format!("{anon_db}/doc"))).await.1["a"], 1);
    assert_eq!(answer(http.put(format!("{anon_db}/anon")).json(&json!({}))).await.0, 201);
    let r = answer(http.put(format!("{anon_db}/_design/w")).json(&json!({}))).await;
    assert_eq!(code(&r), (401, "unauthorized"), "{}", r.1);

    // The couch-sql handle of a member, with its credentials in the URL.
    let member = couch_sql::Database::connect(&bob_db).await.unwrap();
    assert_eq!(member.request("GET", "doc", None).await.unwrap()["a"], 1);
    let _ = http.delete(format!("{}/_users/org.couchdb.user:{bob}?rev={}", server_url(), stored["_rev"])).send().await;
}

#[tokio::test]
async fn sessions_are_couchdbs_authsession_cookies() {
    if in_process() || is_pouchdb().await {
        return;
    }
    let http = reqwest::Client::new();
    let anon = anonymous_root();
    static N: AtomicU32 = AtomicU32::new(0);
    let carol = format!("carol{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let user = json!({"name": carol, "password": "pw-carol", "roles": ["r1"], "type": "user"});
    let made = answer(http.put(format!("{}/_users/org.couchdb.user:{carol}", server_url())).json(&user)).await;
    assert_eq!(made.0, 201, "{}", made.1);

    let wrong = answer(http.post(format!("{anon}/_session")).json(&json!({"name": carol, "password": "x"}))).await;
    assert_eq!(code(&wrong), (401, "unauthorized"));
    let login = http
        .post(format!("{anon}/_session"))
        .json(&json!({"name": carol, "password": "pw-carol"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert_eq!(login.json::<Value>().await.unwrap(), json!({"ok": true, "name": carol, "roles": ["r1"]}));
    assert!(set_cookie.contains("Max-Age=600") && set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("Expires="), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    // CouchDB's format: base64url of `name:HEXTIME:` and the signature.
    let value = cookie.strip_prefix("AuthSession=").unwrap();
    assert!(value.len() > 50 && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{value}");

    let me = answer(http.get(format!("{anon}/_session")).header("cookie", &cookie)).await.1;
    assert_eq!(me["userCtx"], json!({"name": carol, "roles": ["r1"]}), "{me}");
    assert_eq!(me["info"]["authenticated"], "cookie");
    let nobody = answer(http.get(format!("{anon}/_session"))).await.1;
    assert_eq!(nobody["userCtx"], json!({"name": null, "roles": []}));
    let r = answer(http.get(format!("{anon}/_session")).header("cookie", "AuthSession=garbage")).await;
    assert_eq!(code(&r), (400, "bad_request"), "{}", r.1);
    // A forged cookie (another name, the same signature) is no one.
    let forged = answer(http.get(format!("{anon}/_session")).header("cookie", cookie.replacen('Y', "Z", 1))).await;
    assert_ne!(forged.1["userCtx"]["name"], json!(carol), "{}", forged.1);
    // Logging out clears the cookie.
    let out = http.delete(format!("{anon}/_session")).header("cookie", &cookie).send().await.unwrap();
    assert!(out.headers()["set-cookie"].to_str().unwrap().starts_with("AuthSession=;"));
    let _ = http.delete(format!("{}/_users/org.couchdb.user:{carol}?rev={}", server_url(), made.1["rev"])).send().await;
}
