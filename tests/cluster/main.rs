//! Faults on a real 3-node CouchDB 3.4.3 cluster (q=2, n=3): nodes killed with
//! `kill -9` and revived while couch-sql reads, writes and watches.
//!
//! Run by `COUCH_SQL_SERVER=cluster scripts/with-server.sh cargo test --workspace`,
//! which starts the cluster and says where it is (`COUCH_SQL_CLUSTER_URLS`,
//! `COUCH_SQL_CLUSTER_DIR`, `COUCHDB_CLUSTER_SH`). Elsewhere every test here says it
//! has no cluster and passes: the rest of the suite runs on every server.
//!
//! The tests kill nodes, so they run one at a time, and each revives what it
//! killed, even when it fails.

mod faults;

use std::sync::Mutex;

/// The cluster under test.
pub struct Cluster {
    script: String,
    dir: String,
    /// Node URLs with credentials, node 1 first.
    pub urls: Vec<String>,
}

impl Cluster {
    /// The cluster from the environment, if the suite runs on one.
    pub fn from_env() -> Option<Cluster> {
        let urls: Vec<String> =
            std::env::var("COUCH_SQL_CLUSTER_URLS").ok()?.split_whitespace().map(str::to_string).collect();
        let dir = std::env::var("COUCH_SQL_CLUSTER_DIR").ok()?;
        let script = std::env::var("COUCHDB_CLUSTER_SH").ok()?;
        (urls.len() >= 3).then_some(Cluster { script, dir, urls })
    }

    fn run(&self, verb: &str, node: usize) {
        let status = std::process::Command::new(&self.script)
            .args([verb, &node.to_string(), &self.dir])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run cluster.sh");
        assert!(status.success(), "cluster.sh {verb} {node} failed");
    }

    /// Kills node `node` (1-based) with `kill -9`; it is revived when the guard drops.
    pub fn kill(&self, node: usize) -> Down<'_> {
        self.run("kill", node);
        Down { cluster: self, node, up: false }
    }

    /// A database URL on node `node`.
    pub fn db_url(&self, node: usize, name: &str) -> String {
        format!("{}/{name}", self.urls[node - 1])
    }

    /// The server URLs of the nodes after `node`, to fail over to.
    pub fn others(&self, node: usize) -> Vec<String> {
        (1..=self.urls.len()).filter(|n| *n != node).map(|n| self.urls[n - 1].clone()).collect()
    }
}

/// A killed node; revived on drop (a failing test leaves the cluster whole).
pub struct Down<'a> {
    cluster: &'a Cluster,
    node: usize,
    up: bool,
}

impl Down<'_> {
    /// Starts the node again on its data and waits until it answers.
    pub fn revive(mut self) {
        self.up = true;
        self.cluster.run("revive", self.node);
    }
}

impl Drop for Down<'_> {
    fn drop(&mut self) {
        if !self.up {
            self.cluster.run("revive", self.node);
        }
    }
}

/// Runs one fault test: alone (they kill nodes), on a runtime of its own.
pub fn on_cluster<F, Fut>(test: F)
where
    F: FnOnce(Cluster) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    static SERIAL: Mutex<()> = Mutex::new(());
    let Some(cluster) = Cluster::from_env() else {
        eprintln!("no cluster (COUCH_SQL_SERVER=cluster scripts/with-server.sh starts one): skipped");
        return;
    };
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(test(cluster));
}

/// A new database's name.
pub fn fresh_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("c_{tag}_{}_{nanos}", std::process::id())
}

/// Waits until `check` holds (a cluster's copies converge), or fails after `secs`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(()) => return,
            Err(e) if std::time::Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
}
