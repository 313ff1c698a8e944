//! CouchDB's answers to what a replicator and a strict client send: `_all_docs`
//! by `key`, by `keys` with `skip`/`limit`, with `update_seq`; a `_bulk_docs` that
//! holds a reserved id or an unknown special member refused whole. The same
//! assertions pass on Apache CouchDB 3.4.3 and on the engine (pouchdb-server is
//! not held to them).

use crate::{fresh_db, is_pouchdb, put_raw};
use couch_sql::Error;
use serde_json::{json, Value};

fn ids(v: &Value) -> Vec<&str> {
    v["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn all_docs_by_key_keys_and_update_seq_as_couchdb() {
    if is_pouchdb().await {
        return;
    }
    let db = fresh_db("alldocs").await;
    put_raw(&db, json!([{"_id": "a"}, {"_id": "b"}, {"_id": "c"}, {"_id": "d"}])).await;
    let one = db.request("GET", "_all_docs?key=%22b%22", None).await.unwrap();
    assert_eq!((ids(&one), &one["offset"]), (vec!["b"], &json!(1)));
    let keys =
        db.request("POST", "_all_docs?skip=1&limit=2", Some(&json!({"keys": ["d", "a", "zz", "c"]}))).await.unwrap();
    assert_eq!(ids(&keys), ["a", "zz"], "skip and limit apply to the keys' rows");
    assert_eq!(keys["rows"][1]["error"], "not_found");
    assert_eq!(keys["offset"], Value::Null);
    let desc = db.request("GET", "_all_docs?descending=true&startkey=%22c%22&limit=2", None).await.unwrap();
    assert_eq!((ids(&desc), &desc["offset"]), (vec!["c", "b"], &json!(1)));
    let seq = db.request("GET", "_all_docs?update_seq=true&limit=0", None).await.unwrap();
    let info = db.request("GET", "", None).await.unwrap();
    // CouchDB encodes a sequence differently each time; its leading number is the count.
    let number = |v: &Value| v.as_u64().or_else(|| v.as_str()?.split('-').next()?.parse().ok());
    assert_eq!(number(&seq["update_seq"]), Some(4), "{seq}");
    assert_eq!(number(&seq["update_seq"]), number(&info["update_seq"]));
    assert!(db.request("GET", "_all_docs", None).await.unwrap().get("update_seq").is_none());
}

#[tokio::test]
async fn a_bulk_write_with_a_document_couchdb_refuses_writes_nothing() {
    if is_pouchdb().await {
        return;
    }
    let db = fresh_db("strictdocs").await;
    let refused = |r: Result<Value, Error>, error: &str| match r {
        Err(Error::BadRequest { error: e, reason }) => assert_eq!(e, error, "{reason}"),
        other => panic!("expected 400 {error}, got {other:?}"),
    };
    let bad_id = json!({"docs": [{"_id": "ok1"}, {"_id": "_bad"}]});
    refused(db.request("POST", "_bulk_docs", Some(&bad_id)).await, "illegal_docid");
    let bad_member = json!({"docs": [{"_id": "ok2"}, {"_id": "u", "_foo": 1}]});
    refused(db.request("POST", "_bulk_docs", Some(&bad_member)).await, "doc_validation");
    refused(db.request("PUT", "u", Some(&json!({"_foo": 1}))).await, "doc_validation");
    for id in ["ok1", "ok2", "u"] {
        assert!(matches!(db.request("GET", id, None).await, Err(Error::NotFound { .. })), "{id} was not written");
    }
    // The special members CouchDB knows are accepted; those it only reads are not kept.
    db.request("PUT", "k", Some(&json!({"_conflicts": [], "_replication_id": "r", "v": 1}))).await.unwrap();
    let k = db.request("GET", "k", None).await.unwrap();
    assert_eq!((k.get("_conflicts"), &k["_replication_id"], &k["v"]), (None, &json!("r"), &json!(1)));
}

#[tokio::test]
async fn local_docs_are_listed_apart_as_couchdb_lists_them() {
    if is_pouchdb().await {
        return;
    }
    let db = fresh_db("localdocs").await;
    for id in ["a", "b", "c"] {
        db.request("PUT", &format!("_local/{id}"), Some(&json!({ "n": id }))).await.unwrap();
    }
    put_raw(&db, json!([{"_id": "d"}])).await;
    let page = db.request("GET", "_local_docs?include_docs=true&limit=2&skip=1", None).await.unwrap();
    assert_eq!(ids(&page), ["_local/b", "_local/c"]);
    assert_eq!((&page["total_rows"], &page["offset"]), (&Value::Null, &Value::Null));
    assert_eq!(page["rows"][0]["doc"], json!({"_id": "_local/b", "_rev": "0-1", "n": "b"}));
    let from_b = db.request("GET", "_local_docs?startkey=%22_local%2Fb%22", None).await.unwrap();
    assert_eq!(ids(&from_b), ["_local/b", "_local/c"]);
    // And they are not documents: not in _all_docs, nor counted.
    let all = db.request("GET", "_all_docs", None).await.unwrap();
    assert_eq!((ids(&all), &all["total_rows"]), (vec!["d"], &json!(1)));
}

#[tokio::test]
async fn revs_limit_is_kept_per_database() {
    if is_pouchdb().await {
        return;
    }
    let db = fresh_db("revslimit").await;
    assert_eq!(db.request("GET", "_revs_limit", None).await.unwrap(), json!(1000));
    assert_eq!(db.request("PUT", "_revs_limit", Some(&json!(5))).await.unwrap(), json!({"ok": true}));
    assert_eq!(db.request("GET", "_revs_limit", None).await.unwrap(), json!(5));
    // A fresh handle reads what the database keeps.
    let again = couch_sql::Database::connect(&format!("{}/{}", crate::server_url(), db.name())).await.unwrap();
    assert_eq!(again.request("GET", "_revs_limit", None).await.unwrap(), json!(5));
}
