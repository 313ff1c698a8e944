//! The engine over HTTP (`couch-sql serve`): any CouchDB client can use it.

use crate::{Engine, HttpReply};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A whole answer, or a changes feed written as it happens.
type Body = Either<Full<Bytes>, FeedBody>;

/// The body of a streamed changes feed: the chunks its task sends, as they come.
/// When the client hangs up, hyper drops it, and the task's next send fails.
pub struct FeedBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for FeedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// One request to the engine, off the async threads (it answers synchronously,
/// and a longpoll feed waits).
/// The headers of a request the engine reads.
struct Headers {
    auth: Option<String>,
    cookie: Option<String>,
    content_type: Option<String>,
    accept: Option<String>,
}

impl Headers {
    /// Credentials only (a changes feed's rounds).
    fn credentials(auth: &Option<String>, cookie: &Option<String>) -> Headers {
        Headers { auth: auth.clone(), cookie: cookie.clone(), content_type: None, accept: None }
    }
}

async fn call(engine: &Engine, method: &str, target: String, h: Headers, body: Bytes) -> HttpReply {
    // The engine works in memory, so more threads than cores buy nothing; each
    // thread's allocations, though, are memory kept (200 clients on 200 threads held
    // 1 GB). Requests beyond the limit wait their turn, as tasks.
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let slots = std::env::var("COUCH_SQL_ENGINE_THREADS").ok().and_then(|n| n.parse().ok());
        tokio::sync::Semaphore::new(slots.unwrap_or((cores * 4).max(8)))
    });
    let _slot = SLOTS.acquire().await;
    let (engine, method) = (engine.clone(), method.to_string());
    tokio::task::spawn_blocking(move || {
        let head = crate::Head { content_type: h.content_type.as_deref(), accept: h.accept.as_deref() };
        engine.handle_request(&method, &target, h.auth.as_deref(), h.cookie.as_deref(), head, &body)
    })
    .await
    .unwrap_or_else(|_| HttpReply {
        status: 500,
        headers: vec![],
        body: br#"{"error":"internal_server_error","reason":"the engine failed"}"#.to_vec(),
    })
}

fn response(status: u16, headers: Vec<(String, String)>, body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    // An attachment or a multipart body names its own type.
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) =
            (hyper::header::HeaderName::from_bytes(k.as_bytes()), hyper::header::HeaderValue::from_str(&v))
        {
            resp.headers_mut().insert(k, v);
        }
    }
    resp.headers_mut().insert("server", hyper::header::HeaderValue::from_static("CouchDB/3.4.3 (couch-sql embedded)"));
    resp
}

fn whole(reply: HttpReply) -> Response<Body> {
    response(reply.status, reply.headers, Either::Left(Full::new(Bytes::from(reply.body))))
}

/// What `couch-sql serve` accepts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest request body, in bytes (CouchDB's `max_http_request_size`, whose
    /// 4 GiB default is far more than a development server should hold in memory).
    /// A larger one is 413 `too_large`.
    pub max_request_bytes: usize,
    /// How long a connection may sit idle, or take to send a request's head, before
    /// it is closed (a client that stalls holds nothing for long).
    pub idle_timeout: std::time::Duration,
}

impl Default for Limits {
    /// 64 MiB per request; 30 s idle.
    fn default() -> Self {
        Limits { max_request_bytes: 64 << 20, idle_timeout: std::time::Duration::from_secs(30) }
    }
}

fn too_large() -> Response<Body> {
    let body = br#"{"error":"too_large","reason":"the request entity is too large"}"#.to_vec();
    whole(HttpReply { status: 413, headers: vec![], body })
}

async fn answer(engine: Engine, limits: Limits, req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    let method = req.method().as_str().to_string();
    let target = req.uri().path_and_query().map_or("/".to_string(), |p| p.as_str().to_string());
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (auth, cookie) = (header("authorization"), header("cookie"));
    let (content_type, accept) = (header("content-type"), header("accept"));
    // As CouchDB: a POST's body is JSON, said so (a web page cannot post a form to the server).
    if method == "POST" {
        let kind = header("content-type").unwrap_or_default();
        let kind = kind.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let session = target.split('?').next() == Some("/_session");
        if kind != "application/json" && !(session && kind == "application/x-www-form-urlencoded") {
            let reason = if session {
                "Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'"
            } else {
                "Content-Type must be application/json"
            };
            let body = serde_json::json!({"error": "bad_content_type", "reason": reason}).to_string();
            return Ok(whole(HttpReply { status: 415, headers: vec![], body: body.into_bytes() }));
        }
    }
    let declared = header("content-length").and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_request_bytes) {
        // Read and dropped (nothing is kept), so that the client, still sending, gets
        // the answer rather than a broken pipe; a body past 1 GiB is cut off.
        let mut body = req.into_body();
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > 1 << 30 {
                break;
            }
        }
        return Ok(too_large());
    }
    let body = match http_body_util::Limited::new(req.into_body(), limits.max_request_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Ok(too_large()),
        Err(e) => {
            let body = serde_json::json!({"error": "bad_request", "reason": e.to_string()}).to_string();
            return Ok(whole(HttpReply { status: 400, headers: vec![], body: body.into_bytes() }));
        }
    };
    if let Some(feed) = Feed::of(&target) {
        return Ok(feed.answer(engine, method, auth, cookie, body).await);
    }
    let h = Headers { auth, cookie, content_type, accept };
    Ok(whole(call(&engine, &method, target, h, body).await))
}

/// A `_changes` request that waits: `feed=longpoll` (answered when a change comes,
/// or at its timeout; with a `heartbeat`, newlines while it waits, however long),
/// or `feed=continuous` (a line per change). Each round asks the engine for what is
/// new (`feed=normal`, which never blocks); between rounds the feed waits as a task
/// for a write, so waiting clients hold no thread: `/_up` answers beside 10,000 of them.
struct Feed {
    path: String,
    /// The other query parameters, passed on to each round.
    params: Vec<(String, String)>,
    continuous: bool,
    heartbeat: Option<std::time::Duration>,
    timeout: std::time::Duration,
    limit: Option<usize>,
    since: String,
}

impl Feed {
    fn of(target: &str) -> Option<Feed> {
        let (path, query) = target.split_once('?')?;
        if !path.trim_end_matches('/').ends_with("/_changes") {
            return None;
        }
        let mut params: Vec<(String, String)> = crate::query_params(query).into_iter().collect();
        let take = |params: &mut Vec<(String, String)>, key: &str| {
            params.iter().position(|(k, _)| k == key).map(|i| params.remove(i).1)
        };
        let feed = take(&mut params, "feed")?;
        if feed != "continuous" && feed != "longpoll" {
            return None; // answered whole by the engine
        }
        let heartbeat = match take(&mut params, "heartbeat") {
            None => None,
            Some(h) if h == "true" => Some(60_000),
            Some(h) => match h.parse::<u64>() {
                Ok(ms) if ms > 0 => Some(ms),
                _ => return None, // the engine answers CouchDB's 400
            },
        };
        let timeout = take(&mut params, "timeout").and_then(|t| t.parse().ok()).unwrap_or(60_000);
        let limit = params.iter().find(|(k, _)| k == "limit").and_then(|(_, l)| l.parse().ok());
        let since = take(&mut params, "since").unwrap_or_else(|| "0".into());
        Some(Feed {
            path: path.to_string(),
            params,
            continuous: feed == "continuous",
            heartbeat: heartbeat.map(std::time::Duration::from_millis),
            timeout: std::time::Duration::from_millis(timeout),
            limit,
            since,
        })
    }

    /// The next round's request: what changed after `since`, at once.
    fn round(&self) -> String {
        let mut t = format!("{}?feed=normal&since={}", self.path, utf8_percent_encode(&self.since, NON_ALPHANUMERIC));
        for (k, v) in &self.params {
            t.push_str(&format!(
                "&{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            ));
        }
        t
    }

    async fn answer(
        mut self,
        engine: Engine,
        method: String,
        auth: Option<String>,
        cookie: Option<String>,
        body: Bytes,
    ) -> Response<Body> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut seen = engine.written.count();
        let mut reply = call(&engine, &method, self.round(), Headers::credentials(&auth, &cookie), body.clone()).await;
        let Some(mut page) = Page::of(&reply) else { return whole(reply) };
        if !self.continuous && self.heartbeat.is_none() {
            // A longpoll without heartbeats: one whole answer, when there is something
            // to say or at the timeout.
            while page.results.is_empty() && tokio::time::Instant::now() < deadline {
                if let Some(seq) = page.last_seq.take() {
                    self.since = seq; // `since=now` is a sequence from the first round on
                }
                let _ = tokio::time::timeout_at(deadline, engine.written.after(seen)).await;
                seen = engine.written.count();
                reply = call(&engine, &method, self.round(), Headers::credentials(&auth, &cookie), body.clone()).await;
                match Page::of(&reply) {
                    Some(p) => page = p,
                    None => break,
                }
            }
            return whole(reply);
        }
        if !self.continuous && !page.results.is_empty() {
            return whole(reply); // a longpoll with changes to give: at once, whole
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let headers = reply.headers.clone();
        tokio::spawn(async move {
            let mut sent = 0usize;
            if !self.continuous && tx.send(Bytes::from_static(b"{\"results\":[\n")).await.is_err() {
                return;
            }
            let mut next_beat = self.heartbeat.map(|h| tokio::time::Instant::now() + h);
            loop {
                if let Some(seq) = page.last_seq.take() {
                    self.since = seq;
                }
                if page.results.is_empty() {
                    let now = tokio::time::Instant::now();
                    if self.heartbeat.is_none() && now >= deadline {
                        // A continuous feed without a heartbeat ends at its timeout.
                        let end = format!(
                            "{{\"last_seq\":{},\"pending\":0}}\n",
                            serde_json::Value::String(self.since.clone())
                        );
                        let _ = tx.send(Bytes::from(end)).await;
                        return;
                    }
                    if let (Some(beat), Some(every)) = (next_beat, self.heartbeat) {
                        if now >= beat {
                            if tx.send(Bytes::from_static(b"\n")).await.is_err() {
                                return; // the client hung up
                            }
                            next_beat = Some(now + every);
                        }
                    }
                    // Wait for a write, the next heartbeat or the end; or the client leaving.
                    let until = next_beat.unwrap_or(deadline);
                    tokio::select! {
                        _ = tokio::time::timeout_at(until, engine.written.after(seen)) => {}
                        _ = tx.closed() => return,
                    }
                } else if self.continuous {
                    for row in std::mem::take(&mut page.results) {
                        let mut line = crate::json::to_vec(&row);
                        line.push(b'\n');
                        if tx.send(Bytes::from(line)).await.is_err() {
                            return;
                        }
                        sent += 1;
                        if self.limit.is_some_and(|l| sent >= l) {
                            let end = format!(
                                "{{\"last_seq\":{},\"pending\":{}}}\n",
                                serde_json::Value::String(self.since.clone()),
                                page.pending
                            );
                            let _ = tx.send(Bytes::from(end)).await;
                            return;
                        }
                    }
                } else {
                    let rows: Vec<String> = page
                        .results
                        .iter()
                        .map(|r| String::from_utf8_lossy(&crate::json::to_vec(r)).into_owned())
                        .collect();
                    let end = format!(
                        "{}\n],\n\"last_seq\":{},\"pending\":{}}}\n",
                        rows.join(",\n"),
                        serde_json::Value::String(self.since.clone()),
                        page.pending
                    );
                    let _ = tx.send(Bytes::from(end)).await;
                    return;
                }
                seen = engine.written.count();
                let next =
                    call(&engine, &method, self.round(), Headers::credentials(&auth, &cookie), body.clone()).await;
                match Page::of(&next) {
                    Some(p) => page = p,
                    None => return, // the database went away mid-feed: end the stream
                }
            }
        });
        response(200, headers, Either::Right(FeedBody(rx)))
    }
}

/// One round's answer: its results and last sequence (`None` for an error answer).
struct Page {
    results: Vec<serde_json::Value>,
    last_seq: Option<String>,
    /// Changes after `last_seq` (CouchDB's `pending`).
    pending: u64,
}

impl Page {
    fn of(reply: &HttpReply) -> Option<Page> {
        if reply.status != 200 {
            return None;
        }
        let mut v = crate::json::parse(&reply.body).ok()?;
        let results = match v.get_mut("results").map(serde_json::Value::take) {
            Some(serde_json::Value::Array(r)) => r,
            _ => Vec::new(),
        };
        let last_seq = v.get("last_seq").and_then(serde_json::Value::as_str).map(str::to_owned);
        let pending = v.get("pending").and_then(serde_json::Value::as_u64).unwrap_or(0);
        Some(Page { results, last_seq, pending })
    }
}

/// Serves `engine` on `addr` until the process ends, with the default [`Limits`];
/// calls `ready` with the bound address.
pub async fn serve(engine: Engine, addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    serve_with(engine, addr, Limits::default(), ready).await
}

/// [`serve`], with these limits.
pub async fn serve_with(
    engine: Engine,
    addr: SocketAddr,
    limits: Limits,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    ready(listener.local_addr()?);
    loop {
        // An accept that fails (out of file descriptors, a connection reset before it
        // was taken) ends no server: wait a moment, then take the next one.
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("couch-sql serve: accepting a connection failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper::service::service_fn(move |req| answer(engine.clone(), limits, req));
            // A client that hangs up mid-request is its own business.
            // A client that sends half a request head and stalls is cut after 30 s.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.idle_timeout)
                .keep_alive(true)
                .serve_connection(io, service)
                .await;
        });
    }
}
