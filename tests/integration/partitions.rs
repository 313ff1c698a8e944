//! Partitioned databases (CouchDB 3): a table's partition column makes its ids
//! `{partition}:{rest}`, and a query that fixes it reads one partition.

use couch_sql::{couch_sql, CouchRow, Database, Error};
use serde_json::json;

#[derive(CouchRow, Debug, Clone, PartialEq)]
#[couch(table = "tenant_orders", partition = "tenant")]
pub struct TenantOrder {
    #[couch(id)]
    pub id: Option<String>,
    pub tenant: String,
    pub n: i64,
    pub status: Option<String>,
}

/// A new partitioned database (an ordinary one on pouchdb-server, which has none).
async fn fresh_partitioned(tag: &str) -> Database {
    let probe = crate::fresh_db(tag).await;
    let db = probe.database(&format!("{}_p", probe.name())).unwrap();
    assert!(db.create_partitioned_if_missing().await.unwrap());
    db
}

#[tokio::test]
async fn a_partitioned_table_reads_and_writes_its_partitions() {
    let db = fresh_partitioned("partitions").await;
    let partitions = db.profile().await.unwrap().partitions;
    for (tenant, n) in [("acme", 3), ("acme", 1), ("acme", 2), ("globex", 5), ("globex", 4)] {
        couch_sql!("INSERT INTO tenant_orders (tenant, n) VALUES (?, ?)", tenant, n).execute(&db).await.unwrap();
    }
    // An id given without its partition gets it; with another partition it is refused.
    let named =
        couch_sql!("INSERT INTO tenant_orders (_id, tenant, n) VALUES ('x1', 'acme', 9)").execute(&db).await.unwrap();
    assert_eq!(named.ids().collect::<Vec<_>>(), ["acme:x1"]);
    let wrong =
        couch_sql!("INSERT INTO tenant_orders (_id, tenant, n) VALUES ('globex:x2', 'acme', 9)").execute(&db).await;
    assert!(matches!(wrong, Err(Error::Param(_))), "{wrong:?}");
    let bad = couch_sql!("INSERT INTO tenant_orders (tenant, n) VALUES ('_sys', 1)").execute(&db).await;
    assert!(matches!(bad, Err(Error::Param(_))), "{bad:?}");

    let all = couch_sql!("SELECT * FROM tenant_orders ORDER BY n").fetch_all(&db).await.unwrap();
    assert_eq!(all.iter().map(|o| o.n).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 9]);
    assert!(all.iter().all(|o| o.id.as_deref().unwrap().starts_with(&format!("{}:", o.tenant))), "{all:?}");

    let acme = couch_sql!("SELECT * FROM tenant_orders WHERE tenant = ? AND n < 5 ORDER BY n DESC", "acme")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(acme.iter().map(|o| o.n).collect::<Vec<_>>(), [3, 2, 1]);
    let none = couch_sql!("SELECT * FROM tenant_orders WHERE tenant = ?", "_nobody").fetch_all(&db).await.unwrap();
    assert!(none.is_empty());

    let shipped = couch_sql!("UPDATE tenant_orders SET status = 'shipped' WHERE tenant = 'globex' AND n >= 5")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(shipped.rows_affected(), 1);
    let gone = couch_sql!("DELETE FROM tenant_orders WHERE tenant = ? AND n = 9", "acme").execute(&db).await.unwrap();
    assert_eq!(gone.rows_affected(), 1);
    let globex =
        couch_sql!("SELECT * FROM tenant_orders WHERE tenant = 'globex' ORDER BY n").fetch_all(&db).await.unwrap();
    assert_eq!(
        globex.iter().map(|o| (o.n, o.status.clone())).collect::<Vec<_>>(),
        [(4, None), (5, Some("shipped".into()))]
    );
    let count = couch_sql!("SELECT COUNT(*) AS c FROM tenant_orders").fetch_one(&db).await.unwrap();
    assert_eq!(count.c, 5);
    // An aggregate of one partition reads a partitioned view of it (where there are partitions).
    let acme = couch_sql!("SELECT COUNT(*) AS c, SUM(n) AS s FROM tenant_orders WHERE tenant = ?", "acme")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!((acme.c, acme.s), (3, Some(6)));
    let by_status = couch_sql!(
        "SELECT status, COUNT(*) AS c FROM tenant_orders WHERE tenant = 'globex' GROUP BY status ORDER BY status"
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        by_status.iter().map(|r| (r.status.clone(), r.c)).collect::<Vec<_>>(),
        [(None, 1), (Some("shipped".into()), 1)]
    );

    if !partitions {
        return; // pouchdb-server: an ordinary database, every query global
    }
    let info = db.request("GET", "", None).await.unwrap();
    assert_eq!(info["props"]["partitioned"], true, "{info}");
    let acme_info = db.request("GET", "_partition/acme", None).await.unwrap();
    assert_eq!((acme_info["partition"].clone(), acme_info["doc_count"].clone()), (json!("acme"), json!(3)));
    let rows = db.request("GET", "_partition/globex/_all_docs", None).await.unwrap();
    let ids: Vec<&str> = rows["rows"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(ids.len() == 2 && ids.iter().all(|i| i.starts_with("globex:")), "{rows}");
    let found =
        db.request("POST", "_partition/acme/_find", Some(&json!({"selector": {"n": {"$gte": 0}}}))).await.unwrap();
    assert_eq!(found["docs"].as_array().unwrap().len(), 3, "{found}");
    // CouchDB's refusals, with its words.
    match db.request("PUT", "plain", Some(&json!({}))).await {
        Err(Error::BadRequest { error, reason }) => {
            assert_eq!((error.as_str(), reason.as_str()), ("illegal_docid", "Doc id must be of form partition:id"))
        }
        other => panic!("{other:?}"),
    }
    match db.request("GET", "_partition/_x", None).await {
        Err(Error::BadRequest { error, reason }) => assert_eq!(
            (error.as_str(), reason.as_str()),
            ("illegal_partition", "Partition must not start with an underscore")
        ),
        other => panic!("{other:?}"),
    }
    let plain = crate::fresh_db("not_partitioned").await;
    match plain.request("POST", "_partition/acme/_find", Some(&json!({"selector": {}}))).await {
        Err(Error::BadRequest { reason, .. }) => assert_eq!(reason, "database is not partitioned"),
        other => panic!("{other:?}"),
    }
    // A global sort reads a global index, a partition's sort a partitioned one.
    let indexes = db.request("GET", "_index", None).await.unwrap();
    let flags: Vec<bool> = indexes["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "json")
        .map(|i| i["partitioned"].as_bool().unwrap())
        .collect();
    assert!(flags.contains(&true) && flags.contains(&false), "{indexes}");
    // The views: global ones for the whole table, partitioned ones for a partition's aggregates.
    let ddocs = db
        .request("GET", "_all_docs?startkey=%22_design%2F%22&endkey=%22_design0%22&include_docs=true", None)
        .await
        .unwrap();
    let options: Vec<(String, serde_json::Value)> = ddocs["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["doc"]["language"] == "javascript")
        .map(|r| (r["id"].as_str().unwrap().to_string(), r["doc"]["options"]["partitioned"].clone()))
        .collect();
    assert!(options.iter().any(|(id, p)| id.ends_with("-partitioned") && *p == true), "{options:?}");
    assert!(options.iter().any(|(id, p)| !id.ends_with("-partitioned") && *p == false), "{options:?}");
}
