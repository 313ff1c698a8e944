//! What the tests that start `couch-sql serve` processes of their own share.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `couch-sql serve` process with the admin `admin:password`, killed when dropped.
pub struct Serve {
    child: Child,
    /// `http://admin:password@127.0.0.1:PORT`.
    pub url: String,
}

impl Serve {
    /// `kill -9`: the process ends at once, mid-request.
    #[allow(dead_code)]
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The port it listens on.
    #[allow(dead_code)]
    pub fn port(&self) -> String {
        self.url.rsplit(':').next().unwrap_or_default().to_string()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `couch-sql serve` in memory on a free port.
#[allow(dead_code)] // not every test crate starts one this way
pub fn serve() -> Serve {
    serve_with(&["--port", "0"])
}

/// Starts `couch-sql serve` with these arguments (`--port`, `--dir`).
pub fn serve_with(args: &[&str]) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_couch-sql"))
        .arg("serve")
        .args(args)
        .env("COUCH_SQL_ADMIN", "admin:password")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run couch-sql serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().trim_start_matches("http://").to_string();
    Serve { child, url: format!("http://admin:password@{addr}") }
}

/// Tests that start servers of their own run once, in the suite's run on `couch-sql
/// serve` (the README's), not again in its runs on `mem://`, pouchdb-server and CouchDB.
#[allow(dead_code)]
pub fn once() -> bool {
    let url = std::env::var("COUCHDB_URL").unwrap_or_default();
    let server = std::env::var("COUCH_SQL_SERVER").unwrap_or_default();
    !url.starts_with("mem:") && (server.is_empty() || server == "embedded")
}

/// A fresh directory path (nothing there yet) for `serve --dir`.
#[allow(dead_code)]
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let dir = std::env::temp_dir().join(format!("couch-sql-serve-{tag}-{}-{nanos}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
