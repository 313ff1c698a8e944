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

/// Revisions as a replicator writes and reads them: `new_edits=false` with
/// `_revisions` makes branches; the winner, `_conflicts`, `_deleted_conflicts`,
/// `_revisions`, `_revs_info`, `?rev=`, `open_revs` (with `latest`), `_revs_diff`,
/// `_bulk_get` and `_changes?style=all_docs` answer as CouchDB 3.4.3 does.
#[tokio::test]
async fn revision_trees_as_couchdb_keeps_them() {
    if is_pouchdb().await {
        return;
    }
    let db = fresh_db("revtree").await;
    let written = db
        .request(
            "POST",
            "_bulk_docs",
            Some(&crate::on_every_copy(json!({"new_edits": false, "docs": [
                {"_id": "a", "_rev": "2-bb", "_revisions": {"start": 2, "ids": ["bb", "aa"]}, "v": 1},
                {"_id": "a", "_rev": "2-cc", "_revisions": {"start": 2, "ids": ["cc", "aa"]}, "v": 2},
                {"_id": "a", "_rev": "3-dd", "_revisions": {"start": 3, "ids": ["dd", "cc", "aa"]}, "_deleted": true},
                // Known already: changes nothing.
                {"_id": "a", "_rev": "2-bb", "_revisions": {"start": 2, "ids": ["bb", "aa"]}, "v": 99},
            ]})).await),
        )
        .await
        .unwrap();
    assert_eq!(written, json!([]), "new_edits=false answers failures only");
    let a = db.request("GET", "a?conflicts=true&deleted_conflicts=true&revs=true&revs_info=true", None).await.unwrap();
    assert_eq!(a["_rev"], "2-bb", "a live leaf beats a deleted one; then the higher id");
    assert_eq!(a["v"], 1);
    assert_eq!(a["_revisions"], json!({"start": 2, "ids": ["bb", "aa"]}));
    assert_eq!(a["_revs_info"], json!([{"rev": "2-bb", "status": "available"}, {"rev": "1-aa", "status": "missing"}]));
    assert_eq!(a["_deleted_conflicts"], json!(["3-dd"]));
    assert!(a.get("_conflicts").is_none(), "no live conflict: {a}");
    let not_a_leaf = db.request("GET", "a?rev=1-aa", None).await;
    assert!(matches!(not_a_leaf, Err(Error::NotFound { .. })), "{not_a_leaf:?}");
    let tomb = db.request("GET", "a?rev=3-dd", None).await.unwrap();
    assert_eq!(tomb, json!({"_id": "a", "_rev": "3-dd", "_deleted": true}));

    let all = db.request("GET", "a?open_revs=all&revs=true", None).await.unwrap();
    assert_eq!(
        all,
        json!([
            {"ok": {"_id": "a", "_rev": "2-bb", "v": 1, "_revisions": {"start": 2, "ids": ["bb", "aa"]}}},
            {"ok": {"_id": "a", "_rev": "3-dd", "_deleted": true, "_revisions": {"start": 3, "ids": ["dd", "cc", "aa"]}}},
        ])
    );
    let listed = db.request("GET", "a?open_revs=%5B%221-aa%22%2C%222-zz%22%5D", None).await.unwrap();
    assert_eq!(listed, json!([{"missing": "1-aa"}, {"missing": "2-zz"}]));
    let latest = db.request("GET", "a?open_revs=%5B%221-aa%22%2C%222-zz%22%5D&latest=true", None).await.unwrap();
    assert_eq!(
        latest,
        json!([
            {"ok": {"_id": "a", "_rev": "2-bb", "v": 1}},
            {"ok": {"_id": "a", "_rev": "3-dd", "_deleted": true}},
            {"missing": "2-zz"},
        ])
    );

    let diff = db
        .request("POST", "_revs_diff", Some(&json!({"a": ["2-bb", "3-ee", "4-ff"], "b": ["1-x"], "c": []})))
        .await
        .unwrap();
    assert_eq!(
        diff,
        json!({
            "a": {"missing": ["3-ee", "4-ff"], "possible_ancestors": ["2-bb", "3-dd"]},
            "b": {"missing": ["1-x"]},
        })
    );
    let got = db
        .request(
            "POST",
            "_bulk_get?revs=true",
            Some(&json!({"docs": [{"id": "a", "rev": "3-dd"}, {"id": "zz"}, {"id": "a", "rev": "9-q"}]})),
        )
        .await
        .unwrap();
    // (A revision that is no longer a leaf keeps its body on CouchDB until compaction;
    // the engine keeps leaves' bodies only, as CouchDB after compaction.)
    assert_eq!(
        got["results"][0]["docs"][0]["ok"],
        json!({"_id": "a", "_rev": "3-dd", "_deleted": true, "_revisions": {"start": 3, "ids": ["dd", "cc", "aa"]}})
    );
    assert_eq!(
        got["results"][1],
        json!({"id": "zz", "docs": [{"error": {"id": "zz", "rev": "undefined", "error": "not_found", "reason": "missing"}}]})
    );
    assert_eq!(got["results"][2]["docs"][0]["error"]["rev"], "9-q");

    let changes = db.request("GET", "_changes?style=all_docs", None).await.unwrap();
    let revs: Vec<&str> =
        changes["results"][0]["changes"].as_array().unwrap().iter().map(|c| c["rev"].as_str().unwrap()).collect();
    assert_eq!(revs, ["2-bb", "3-dd"]);
    let main_only = db.request("GET", "_changes", None).await.unwrap();
    assert_eq!(main_only["results"][0]["changes"], json!([{"rev": "2-bb"}]));

    // An edit continues a leaf; one naming an inner revision is a conflict.
    let stale = db.request("PUT", "a", Some(&json!({"_rev": "2-cc", "v": 3}))).await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
    let edited = db.request("PUT", "a", Some(&json!({"_rev": "2-bb", "v": 3}))).await.unwrap();
    let rev3 = edited["rev"].as_str().unwrap().to_string();
    assert!(rev3.starts_with("3-"), "{rev3}");
    let a = db.request("GET", "a?revs=true&deleted_conflicts=true", None).await.unwrap();
    assert_eq!((&a["_rev"], &a["v"]), (&json!(rev3), &json!(3)));
    assert_eq!(a["_revisions"]["ids"].as_array().unwrap()[1..], [json!("bb"), json!("aa")]);
    let grown = db.request("POST", "_revs_diff", Some(&json!({"a": [rev3]}))).await.unwrap();
    assert_eq!(grown, json!({}), "the edit is known");
    // The old leaf is no longer one: deleting it is a conflict.
    let gone = db.request("DELETE", "a?rev=2-bb", None).await;
    assert!(matches!(gone, Err(Error::Conflict { .. })), "{gone:?}");

    // `_revisions` or `_rev` is required when the edits are not new.
    let bare =
        db.request("POST", "_bulk_docs", Some(&json!({"new_edits": false, "docs": [{"_id": "b", "v": 1}]}))).await;
    assert!(matches!(bare, Err(Error::BadRequest { .. })), "{bare:?}");
    let put = db.request("PUT", "c?new_edits=false", Some(&json!({"_rev": "5-ee", "v": 1}))).await.unwrap();
    assert_eq!(put["rev"], "5-ee");
    let c = db.request("GET", "c", None).await.unwrap();
    assert_eq!(c["_rev"], "5-ee");
}

/// Two live branches: the winner is the same on every server, `_conflicts` lists
/// the other, `_find` and `_all_docs` show it when asked, and deleting the loser
/// ends the conflict.
#[tokio::test]
async fn live_conflicts_are_listed_and_resolved_by_deleting_the_loser() {
    if is_pouchdb().await {
        return;
    }
    let db = fresh_db("liveconflict").await;
    let docs = json!({"new_edits": false, "docs": [
        {"_id": "k", "_rev": "2-a1", "_revisions": {"start": 2, "ids": ["a1", "r0"]}, "type": "t", "v": "left"},
        {"_id": "k", "_rev": "2-f9", "_revisions": {"start": 2, "ids": ["f9", "r0"]}, "type": "t", "v": "right"},
    ]});
    db.request("POST", "_bulk_docs", Some(&crate::on_every_copy(docs).await)).await.unwrap();
    let k = db.request("GET", "k?conflicts=true", None).await.unwrap();
    assert_eq!((&k["_rev"], &k["v"], &k["_conflicts"]), (&json!("2-f9"), &json!("right"), &json!(["2-a1"])));
    let found =
        db.request("POST", "_find", Some(&json!({"selector": {"type": "t"}, "conflicts": true}))).await.unwrap();
    assert_eq!(found["docs"][0]["_conflicts"], json!(["2-a1"]), "{found}");
    let listed = db.request("GET", "_all_docs?include_docs=true&conflicts=true", None).await.unwrap();
    assert_eq!(listed["rows"][0]["doc"]["_conflicts"], json!(["2-a1"]));
    db.request("DELETE", &crate::on_every_copy_at("k?rev=2-a1").await, None).await.unwrap();
    let k = db.request("GET", "k?conflicts=true&deleted_conflicts=true", None).await.unwrap();
    assert!(k.get("_conflicts").is_none(), "{k}");
    assert_eq!(k["_deleted_conflicts"].as_array().unwrap().len(), 1);
    assert_eq!(k["_rev"], "2-f9");
}

/// Attachments as CouchDB keeps them: written inline (`data`), read as stubs
/// (`content_type`, `revpos`, `digest`, `length`), inline with `attachments=true`
/// unless older than `atts_since`, kept through an edit by a stub, refused as a
/// `missing_stub`, removed by `DELETE /db/id/name`; over HTTP, the bytes as they
/// are with `GET /db/id/name`, and `PUT /db/id/name`.
#[tokio::test]
async fn attachments_as_couchdb_keeps_them() {
    if is_pouchdb().await {
        return;
    }
    let db = fresh_db("attachments").await;
    // On a cluster every write here waits for all copies: the next request must find it.
    let put_d = crate::on_every_copy_at("d").await;
    let hello = json!({"content_type": "application/octet-stream", "data": "aGVsbG8="});
    let r1 = db.request("PUT", &put_d, Some(&json!({"v": 1, "_attachments": {"a.bin": hello}}))).await.unwrap();
    let rev1 = r1["rev"].as_str().unwrap().to_string();
    let stub = json!({
        "content_type": "application/octet-stream", "revpos": 1, "digest": "md5-XUFAKrxLKna5cZ2REBfFkg==",
        "length": 5, "stub": true,
    });
    let d = db.request("GET", "d", None).await.unwrap();
    assert_eq!(d["_attachments"], json!({"a.bin": stub}), "{d}");
    // An edit that keeps it names it by a stub: it keeps its revpos.
    let r2 = db
        .request("PUT", &put_d, Some(&json!({"_rev": rev1, "v": 2, "_attachments": {"a.bin": {"stub": true}}})))
        .await
        .unwrap();
    let rev2 = r2["rev"].as_str().unwrap().to_string();
    let inline = db.request("GET", "d?attachments=true", None).await.unwrap();
    assert_eq!(
        inline["_attachments"]["a.bin"],
        json!({"content_type": "application/octet-stream", "revpos": 1, "digest": "md5-XUFAKrxLKna5cZ2REBfFkg==", "data": "aGVsbG8="})
    );
    let since = format!("d?attachments=true&atts_since=%5B%22{rev1}%22%5D");
    let known = db.request("GET", &since, None).await.unwrap();
    assert_eq!(known["_attachments"]["a.bin"]["stub"], true, "the reader has revision 1 and so the attachment");
    // Its stub found nowhere: 412 missing_stub, nothing written.
    let stray = db.request("PUT", "e", Some(&json!({"_attachments": {"x.bin": {"stub": true}}}))).await;
    match stray {
        Err(Error::BadRequest { error, .. }) => assert_eq!(error, "missing_stub"),
        other => panic!("expected 412 missing_stub, got {other:?}"),
    }
    // Inside `_find`, `_all_docs` and `_changes`: stubs.
    let listed = db.request("GET", "_all_docs?include_docs=true", None).await.unwrap();
    assert_eq!(listed["rows"][0]["doc"]["_attachments"]["a.bin"]["stub"], true);
    let found = db.request("POST", "_find", Some(&json!({"selector": {"v": 2}}))).await.unwrap();
    assert_eq!(found["docs"][0]["_attachments"]["a.bin"]["length"], 5);
    // DELETE /db/id/name: a new revision without it.
    let r3 = db.request("DELETE", &format!("d/a.bin?rev={rev2}"), None).await.unwrap();
    assert!(r3["rev"].as_str().unwrap().starts_with("3-"));
    let d = db.request("GET", "d", None).await.unwrap();
    assert!(d.get("_attachments").is_none(), "{d}");
    // Over HTTP: the bytes as they are, typed.
    if crate::in_process() {
        return;
    }
    let base = format!("{}/{}", crate::server_url(), db.name());
    let url = reqwest::Url::parse(&base).unwrap();
    let (user, pass) = (url.username().to_string(), url.password().map(str::to_owned));
    let mut plain = url.clone();
    plain.set_username("").unwrap();
    plain.set_password(None).unwrap();
    let http = reqwest::Client::new();
    let bytes: Vec<u8> = (0..=255u8).collect();
    let put = http
        .put(format!("{plain}/f/raw.bin"))
        .basic_auth(&user, pass.as_deref())
        .header("content-type", "image/png")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let got = http.get(format!("{plain}/f/raw.bin")).basic_auth(&user, pass.as_deref()).send().await.unwrap();
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);
    let f = db.request("GET", "f", None).await.unwrap();
    assert_eq!(
        (f["_attachments"]["raw.bin"]["length"].as_u64(), f["_attachments"]["raw.bin"]["revpos"].as_u64()),
        (Some(256), Some(1))
    );
    let none = http.get(format!("{plain}/f/nothing.bin")).basic_auth(&user, pass.as_deref()).send().await.unwrap();
    assert_eq!(none.status(), 404);
}
