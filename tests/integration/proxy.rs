//! A loopback TCP proxy in front of the test server, for tests that need to cut
//! the connection (stop it, start it again on the same port) or to see which
//! requests a statement sends (it records each request line).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Proxy {
    pub port: u16,
    accept: tokio::task::JoinHandle<()>,
    /// `METHOD /path` of every request seen, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    /// Connections opened before this number go silent (see [`Proxy::stall`]).
    stall_before: Arc<AtomicU64>,
    opened: Arc<AtomicU64>,
    /// Connections open now (client side still connected).
    active: Arc<AtomicU64>,
}

impl Proxy {
    pub async fn start(port: u16) -> Proxy {
        let upstream = crate::server_url();
        let upstream = upstream.split_once("://").unwrap().1;
        let upstream = upstream.split_once('@').map_or(upstream, |(_, h)| h).to_string();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind the proxy port");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let (stall_before, opened) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (stall, count) = (stall_before.clone(), opened.clone());
        let active = Arc::new(AtomicU64::new(0));
        let live = active.clone();
        let accept = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, seen) = (upstream.clone(), seen.clone());
                let number = count.fetch_add(1, Ordering::SeqCst);
                let stall = stall.clone();
                let live = live.clone();
                live.fetch_add(1, Ordering::SeqCst);
                conns.spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                        live.fetch_sub(1, Ordering::SeqCst);
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => {
                                    live.fetch_sub(1, Ordering::SeqCst); // the client hung up
                                    break;
                                }
                                Ok(n) => n,
                            };
                            record(&buf[..n], &seen);
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = sw.shutdown().await;
                    };
                    let down = async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match sr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if number < stall.load(Ordering::SeqCst) {
                                // Stalled: the connection stays open and says nothing more.
                                std::future::pending::<()>().await;
                            }
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Proxy { port, accept, requests, stall_before, opened, active }
    }

    /// How many client connections are open now.
    pub fn open_connections(&self) -> u64 {
        self.active.load(Ordering::SeqCst)
    }

    /// Every connection open now goes silent, as a half-dead network path does:
    /// it stays open and nothing the server sends arrives. New connections work.
    pub fn stall(&self) {
        self.stall_before.store(self.opened.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// The proxy's URL for `database`, with the test server's credentials.
    pub fn url(&self, database: &str) -> String {
        let server = crate::server_url();
        let (scheme, rest) = server.split_once("://").unwrap();
        let creds = rest.split_once('@').map(|(c, _)| format!("{c}@")).unwrap_or_default();
        format!("{scheme}://{creds}127.0.0.1:{}/{database}", self.port)
    }

    /// How many requests seen so far are `METHOD path` (path relative to the server root).
    pub fn count(&self, method: &str, path: &str) -> usize {
        let want = format!("{method} /{path}");
        self.requests.lock().unwrap().iter().filter(|r| **r == want).count()
    }

    /// Closes the listener and every connection through it (dropping the task drops them).
    pub async fn stop(self) -> u16 {
        self.accept.abort();
        let _ = self.accept.await;
        self.port
    }
}

/// Records the request lines in a chunk of client bytes (requests start a chunk
/// or follow a previous one; the tests' bodies are JSON and never look like one).
fn record(chunk: &[u8], seen: &Mutex<Vec<String>>) {
    let text = String::from_utf8_lossy(chunk);
    for line in text.split("\r\n") {
        for method in ["GET", "HEAD", "POST", "PUT", "DELETE"] {
            if let Some(rest) = line.strip_prefix(method).and_then(|r| r.strip_prefix(' ')) {
                if let Some((path, _)) = rest.rsplit_once(" HTTP/") {
                    let path = path.split('?').next().unwrap_or(path);
                    seen.lock().unwrap().push(format!("{method} {path}"));
                }
            }
        }
    }
}
