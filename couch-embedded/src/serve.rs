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
async fn call(
    engine: &Engine,
    method: &str,
    target: String,
    auth: Option<String>,
    cookie: Option<String>,
    body: Bytes,
) -> HttpReply {
    let (engine, method) = (engine.clone(), method.to_string());
    tokio::task::spawn_blocking(move || engine.handle_http(&method, &target, auth.as_deref(), cookie.as_deref(), &body))
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
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) =
            (hyper::header::HeaderName::from_bytes(k.as_bytes()), hyper::header::HeaderValue::from_str(&v))
        {
            resp.headers_mut().insert(k, v);
        }
    }
    resp.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    resp.headers_mut().insert("server", hyper::header::HeaderValue::from_static("CouchDB/3.4.3 (couch-sql embedded)"));
    resp
}

fn whole(reply: HttpReply) -> Response<Body> {
    response(reply.status, reply.headers, Either::Left(Full::new(Bytes::from(reply.body))))
}

async fn answer(engine: Engine, req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    let method = req.method().as_str().to_string();
    let target = req.uri().path_and_query().map_or("/".to_string(), |p| p.as_str().to_string());
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (auth, cookie) = (header("authorization"), header("cookie"));
    let body = req.into_body().collect().await?.to_bytes();
    if let Some(feed) = Feed::of(&target) {
        return Ok(feed.answer(engine, method, auth, cookie, body).await);
    }
    Ok(whole(call(&engine, &method, target, auth, cookie, body).await))
}

/// A `_changes` request CouchDB answers as a stream: `feed=continuous`, or
/// `feed=longpoll` with a `heartbeat` (newlines while it waits, for as long as it takes).
/// The engine answers each round as a whole longpoll of at most one heartbeat; this
/// writes the rounds out as CouchDB does.
struct Feed {
    path: String,
    /// The other query parameters, passed on to each round.
    params: Vec<(String, String)>,
    continuous: bool,
    heartbeat: Option<u64>,
    timeout: u64,
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
        let heartbeat =
            take(&mut params, "heartbeat").map(|h| if h == "true" { 60_000 } else { h.parse().unwrap_or(60_000) });
        let continuous = feed == "continuous";
        let streamed = continuous || (feed == "longpoll" && heartbeat.is_some());
        if !streamed {
            return None; // answered whole by the engine
        }
        let timeout = take(&mut params, "timeout").and_then(|t| t.parse().ok()).unwrap_or(60_000);
        let limit = params.iter().find(|(k, _)| k == "limit").and_then(|(_, l)| l.parse().ok());
        let since = take(&mut params, "since").unwrap_or_else(|| "0".into());
        Some(Feed { path: path.to_string(), params, continuous, heartbeat, timeout, limit, since })
    }

    /// The next round's request: a longpoll from `since` that waits at most one heartbeat.
    fn round(&self, wait: u64) -> String {
        let mut t = format!(
            "{}?feed=longpoll&timeout={wait}&since={}",
            self.path,
            utf8_percent_encode(&self.since, NON_ALPHANUMERIC)
        );
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
        let wait = self.heartbeat.unwrap_or(self.timeout).max(1);
        let first = call(&engine, &method, self.round(wait), auth.clone(), cookie.clone(), body.clone()).await;
        let Some(mut page) = Page::of(&first) else { return whole(first) };
        if !self.continuous && !page.results.is_empty() {
            return whole(first); // a longpoll with changes to give: at once, whole
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let headers = first.headers.clone();
        tokio::spawn(async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(self.timeout);
            let mut sent = 0usize;
            if !self.continuous && tx.send(Bytes::from_static(b"{\"results\":[\n")).await.is_err() {
                return;
            }
            loop {
                if let Some(seq) = page.last_seq.take() {
                    self.since = seq;
                }
                if page.results.is_empty() {
                    if self.heartbeat.is_none() && std::time::Instant::now() >= deadline {
                        // A continuous feed without a heartbeat ends at its timeout.
                        let end = format!(
                            "{{\"last_seq\":{},\"pending\":0}}\n",
                            serde_json::Value::String(self.since.clone())
                        );
                        let _ = tx.send(Bytes::from(end)).await;
                        return;
                    }
                    if self.heartbeat.is_some() && tx.send(Bytes::from_static(b"\n")).await.is_err() {
                        return; // the client hung up
                    }
                } else if self.continuous {
                    for row in std::mem::take(&mut page.results) {
                        let mut line = serde_json::to_vec(&row).unwrap_or_default();
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
                    let rows: Vec<String> =
                        page.results.iter().map(|r| serde_json::to_string(r).unwrap_or_default()).collect();
                    let end = format!(
                        "{}\n],\n\"last_seq\":{},\"pending\":{}}}\n",
                        rows.join(",\n"),
                        serde_json::Value::String(self.since.clone()),
                        page.pending
                    );
                    let _ = tx.send(Bytes::from(end)).await;
                    return;
                }
                let next = call(&engine, &method, self.round(wait), auth.clone(), cookie.clone(), body.clone()).await;
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
        let mut v: serde_json::Value = serde_json::from_slice(&reply.body).ok()?;
        let results = match v.get_mut("results").map(serde_json::Value::take) {
            Some(serde_json::Value::Array(r)) => r,
            _ => Vec::new(),
        };
        let last_seq = v.get("last_seq").and_then(serde_json::Value::as_str).map(str::to_owned);
        let pending = v.get("pending").and_then(serde_json::Value::as_u64).unwrap_or(0);
        Some(Page { results, last_seq, pending })
    }
}

/// Serves `engine` on `addr` until the process ends; calls `ready` with the bound address.
pub async fn serve(engine: Engine, addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    ready(listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let engine = engine.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper::service::service_fn(move |req| answer(engine.clone(), req));
            // A client that hangs up mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, service).await;
        });
    }
}
