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
