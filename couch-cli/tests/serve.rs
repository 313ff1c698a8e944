//! `couch-sql serve` as a server people rely on: it needs an admin, keeps every
//! acknowledged write through `kill -9`, refuses a second server on its directory,
//! and stays responsive under waiting feeds and slow queries. Each test starts its
//! own server process (any target: these need no test server).

mod common;
use common::{once, temp_dir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `admin:password`, as `Authorization: Basic`.
const ADMIN: &str = "Basic YWRtaW46cGFzc3dvcmQ=";

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str], admin: bool) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_couch-sql"));
    cmd.args(["serve", "--port", "0"]).args(args).env_remove("COUCH_SQL_ADMIN");
    if admin {
        cmd.env("COUCH_SQL_ADMIN", "admin:password");
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run couch-sql serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().trim_start_matches("http://").to_string();
    assert!(!addr.is_empty(), "serve printed no URL: {}", failure(&mut child));
    Server { child, addr }
}

fn failure(child: &mut Child) -> String {
    let mut err = String::new();
    let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
    err
}

/// One HTTP/1.1 request on its own connection: `(status, body)`.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(a) = auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    let body = body.unwrap_or("");
    head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(head.as_bytes())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let status = reply.get(9..12).and_then(|c| c.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // A chunked body (none of these tests asks for one) would need decoding.
    Ok((status, body.to_string()))
}

fn admin(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    request(addr, method, path, Some(ADMIN), body).unwrap()
}

#[test]
fn serve_needs_an_admin_unless_told_loudly_on_loopback() {
    if !once() {
        return;
    }
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_couch-sql"))
            .args(["serve", "--port", "0"])
            .args(args)
            .env_remove("COUCH_SQL_ADMIN")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--admin NAME:PASSWORD") && err.contains("--insecure-no-auth"), "{err}");
    let out = run(&["--insecure-no-auth", "--host", "0.0.0.0"]);
    assert!(!out.status.success(), "no admin party on the network");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-no-auth on 0.0.0.0"));
    let out = run(&["--admin", "nopassword"]);
    assert!(!out.status.success());

    // With an admin: no admin party, and the admin gets in.
    let server = serve(&[], true);
    let (status, body) = request(&server.addr, "PUT", "/probe", None, None).unwrap();
    assert_eq!(status, 401, "{body}");
    assert_eq!(admin(&server.addr, "PUT", "/probe", None).0, 201);
    assert_eq!(request(&server.addr, "GET", "/probe", None, None).unwrap().0, 401);
    assert_eq!(request(&server.addr, "GET", "/_up", None, None).unwrap().0, 200);
    drop(server);

    // --insecure-no-auth on loopback: said loudly, and then everyone is an admin.
    let mut server = serve(&["--insecure-no-auth"], false);
    assert_eq!(request(&server.addr, "PUT", "/probe", None, None).unwrap().0, 201);
    let _ = server.child.kill();
    assert!(failure(&mut server.child).contains("NO AUTHENTICATION"));
}

/// A write the server acknowledged survives `kill -9`: rounds of a writer posting
/// batches, killed at a random moment, restarted on the same directory; every
/// acknowledged document is there (0 lost), and the database opens every time.
/// `KILL_ROUNDS` sets the rounds (default 6).
#[test]
fn acknowledged_writes_survive_kill_9() {
    if !once() {
        return;
    }
    let rounds: usize = std::env::var("KILL_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(6);
    let dir = temp_dir("kill");
    let dir_arg = dir.to_str().unwrap().to_string();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    for round in 0..=rounds {
        let mut server = serve(&["--dir", &dir_arg], true);
        if round == 0 {
            assert_eq!(admin(&server.addr, "PUT", "/kept", None).0, 201);
        }
        // Everything acknowledged before is there.
        let (status, info) = admin(&server.addr, "GET", "/kept", None);
        assert_eq!(status, 200, "round {round}: the database opens: {info}");
        let keys = serde_json::json!({ "keys": acknowledged }).to_string();
        let (status, all) = admin(&server.addr, "POST", "/kept/_all_docs", Some(&keys));
        assert_eq!(status, 200);
        let all: serde_json::Value = serde_json::from_str(&all).unwrap();
        let lost: Vec<&serde_json::Value> = all["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.get("error").is_some() || r["value"]["deleted"] == true)
            .collect();
        assert!(lost.is_empty(), "round {round}: {} acknowledged documents lost: {lost:?}", lost.len());
        if round == rounds {
            break;
        }
        // A writer, killed with the server at a random moment between 50 and 400 ms.
        let addr = server.addr.clone();
        let writer = std::thread::spawn(move || {
            let mut acked = Vec::new();
            for batch in 0.. {
                let ids: Vec<String> = (0..20).map(|i| format!("r{round}-b{batch}-{i}")).collect();
                let docs: Vec<serde_json::Value> =
                    ids.iter().map(|id| serde_json::json!({"_id": id, "n": batch})).collect();
                let body = serde_json::json!({ "docs": docs }).to_string();
                match request(&addr, "POST", "/kept/_bulk_docs", Some(ADMIN), Some(&body)) {
                    Ok((201, reply)) => {
                        let results: serde_json::Value = serde_json::from_str(&reply).unwrap_or_default();
                        for r in results.as_array().into_iter().flatten() {
                            if r["ok"] == true {
                                acked.push(r["id"].as_str().unwrap().to_string());
                            }
                        }
                    }
                    _ => return acked, // the server is gone; an unanswered batch is not acknowledged
                }
            }
            acked
        });
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        std::thread::sleep(Duration::from_millis(50 + (seed >> 33) % 350));
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        acknowledged.extend(writer.join().unwrap());
    }
    eprintln!("{} acknowledged documents over {rounds} kills, 0 lost", acknowledged.len());
    assert!(acknowledged.len() > rounds * 20, "the writer wrote: {}", acknowledged.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two processes on one directory: the second server is refused with a clear
/// error, and a process that opens the database in place meets the file's lock
/// (an error, never a second writer).
#[test]
fn a_second_process_on_the_same_directory_is_refused() {
    if !once() {
        return;
    }
    let dir = temp_dir("lock");
    let dir_arg = dir.to_str().unwrap().to_string();
    let first = serve(&["--dir", &dir_arg], true);
    assert_eq!(admin(&first.addr, "PUT", "/shared", None).0, 201);
    assert_eq!(admin(&first.addr, "PUT", "/shared/a", Some(r#"{"n": 1}"#)).0, 201);
    let second = Command::new(env!("CARGO_BIN_EXE_couch-sql"))
        .args(["serve", "--port", "0", "--dir", &dir_arg])
        .env("COUCH_SQL_ADMIN", "admin:password")
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("locked") && err.contains("another couch-sql serve"), "{err}");
    // `couch-sql query file://…` from another process, while the server runs.
    let url = format!("file://{dir_arg}/shared");
    let out = Command::new(env!("CARGO_BIN_EXE_couch-sql"))
        .args(["query", "--url", &url, "SELECT * FROM t"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("lock") || err.contains("already open"), "{err}");
    // The first server is unharmed.
    assert_eq!(admin(&first.addr, "GET", "/shared/a", None).0, 200);
    drop(first);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A longpoll that waits up to 10 minutes for the next change of `feeds`.
fn longpoll(close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "GET /feeds/_changes?feed=longpoll&since=now&timeout=600000 HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\n{connection}\r\n"
    )
}

/// 600 clients waiting on longpoll feeds (more than the 512 threads tokio would
/// lend them) hold no thread: `/_up`, reads and writes are answered at once, the
/// waiting feeds get the write, and the server answers after they leave.
#[test]
fn waiting_feeds_hold_no_thread() {
    if !once() {
        return;
    }
    let server = serve(&[], true);
    assert_eq!(admin(&server.addr, "PUT", "/feeds", None).0, 201);
    let mut waiting = Vec::new();
    for _ in 0..600 {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.write_all(longpoll(true).as_bytes()).unwrap();
        waiting.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    assert_eq!(request(&server.addr, "GET", "/_up", None, None).unwrap().0, 200);
    assert_eq!(admin(&server.addr, "PUT", "/feeds/wake", Some("{}")).0, 201);
    assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());
    // Every waiting feed gets the change.
    for (i, mut s) in waiting.into_iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.contains(r#""id":"wake""#), "feed {i}: {reply}");
    }
    // And 600 that leave without waiting for an answer leave nothing held.
    for _ in 0..600 {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.write_all(longpoll(false).as_bytes()).unwrap();
    }
    assert_eq!(request(&server.addr, "GET", "/_up", None, None).unwrap().0, 200);
}

/// A slow `_find` (a backtracking `$regex` over every document) holds up neither a
/// read nor a write of the same database while it runs.
#[test]
fn a_slow_query_blocks_neither_reads_nor_writes() {
    if !once() {
        return;
    }
    let server = serve(&[], true);
    assert_eq!(admin(&server.addr, "PUT", "/slow", None).0, 201);
    let docs: Vec<serde_json::Value> =
        (0..20).map(|i| serde_json::json!({"_id": format!("d{i:04}"), "s": "a".repeat(28)})).collect();
    let body = serde_json::json!({ "docs": docs }).to_string();
    assert_eq!(admin(&server.addr, "POST", "/slow/_bulk_docs", Some(&body)).0, 201);
    let addr = server.addr.clone();
    let slow = std::thread::spawn(move || {
        let started = Instant::now();
        let q = r#"{"selector": {"s": {"$regex": "(a|aa)+\\1b"}}, "limit": 1000}"#;
        let (status, body) = admin(&addr, "POST", "/slow/_find", Some(q));
        assert_eq!(status, 200, "{body}");
        started.elapsed()
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(admin(&server.addr, "GET", "/slow/d0001", None).0, 200);
    assert_eq!(admin(&server.addr, "PUT", "/slow/new", Some(r#"{"s": "b"}"#)).0, 201);
    assert_eq!(admin(&server.addr, "POST", "/slow/_find", Some(r#"{"selector": {"_id": "new"}}"#)).0, 200);
    let others = started.elapsed();
    let query = slow.join().unwrap();
    assert!(query > Duration::from_millis(800), "the query must be slow for this test to mean anything: {query:?}");
    eprintln!("a read, a write and a quick query took {others:?} beside a query of {query:?}");
    assert!(others < query / 3, "a read and a write took {others:?} beside a query of {query:?}");
}

/// A connection that sits idle, or sends half a request head and stalls, is closed
/// after `--idle-timeout` (30 s by default), and the server goes on.
#[test]
fn stalled_and_idle_connections_are_closed() {
    if !once() {
        return;
    }
    let server = serve(&["--idle-timeout", "1"], true);
    let idle = TcpStream::connect(&server.addr).unwrap();
    let mut half = TcpStream::connect(&server.addr).unwrap();
    half.write_all(b"GET /_up HTTP/1.1\r\nHost: x\r\n").unwrap(); // and never the blank line
    for (name, mut s) in [("idle", idle), ("half-sent", half)] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        let closed = s.read_to_end(&mut rest).is_ok();
        assert!(closed, "{name}: still open after {:?}", started.elapsed());
        assert!(started.elapsed() < Duration::from_secs(5), "{name}: closed after {:?}", started.elapsed());
    }
    assert_eq!(request(&server.addr, "GET", "/_up", None, None).unwrap().0, 200);
}
