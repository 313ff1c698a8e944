//! PouchDB's own replicator (node: pouchdb-core with its replication and
//! http/memory adapters, PouchDB 7.3.1 as pouchdb-server 4.2.0 ships it) against
//! `couch-sql serve`: push 10,000 documents with edits, deletions and conflict
//! branches, pull them into a new PouchDB, sync offline edits both ways and
//! resolve the conflict, live sync — every step compared side by side by
//! `testserver/pouchdb-replicates.js`. Runs in the suite's pouchdb-server run,
//! where node and the modules are installed.

mod common;

#[test]
fn pouchdbs_replicator_pushes_pulls_and_syncs_with_serve() {
    if std::env::var("COUCH_SQL_SERVER").unwrap_or_default() != "pouchdb" {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testserver");
    let serve = common::serve();
    let out = std::process::Command::new("node")
        .arg(root.join("pouchdb-replicates.js"))
        .args([serve.url.as_str(), "10000"])
        .output()
        .expect("run node");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert_eq!(report["ok"], true);
    assert!(report["pushed"].as_u64() >= Some(10_000), "{report}");
    eprintln!("PouchDB against serve: {report}");
}
