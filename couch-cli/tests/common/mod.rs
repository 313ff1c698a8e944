//! What the tests that judge `couch-sql serve` with replicators no one here
//! wrote share: a server of their own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `couch-sql serve` process with the admin `admin:password`, killed when dropped.
pub struct Serve {
    child: Child,
    /// `http://admin:password@127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `couch-sql serve` in memory on a free port.
pub fn serve() -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_couch-sql"))
        .args(["serve", "--port", "0"])
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
