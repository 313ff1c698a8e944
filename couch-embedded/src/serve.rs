//! The engine over HTTP (`couch-sql serve`): any CouchDB client can use it.

use crate::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use std::net::SocketAddr;

async fn answer(engine: Engine, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = req.method().as_str().to_string();
    let target = req.uri().path_and_query().map_or("/".to_string(), |p| p.as_str().to_string());
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (authorization, cookie) = (header("authorization"), header("cookie"));
    let body = req.into_body().collect().await?.to_bytes();
    // The engine answers synchronously (and a longpoll feed waits): off the async threads.
    let reply = tokio::task::spawn_blocking(move || {
        engine.handle_http(&method, &target, authorization.as_deref(), cookie.as_deref(), &body)
    })
    .await
    .unwrap_or_else(|_| crate::HttpReply {
        status: 500,
        headers: vec![],
        body: br#"{"error":"internal_server_error","reason":"the engine failed"}"#.to_vec(),
    });
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) =
            (hyper::header::HeaderName::from_bytes(k.as_bytes()), hyper::header::HeaderValue::from_str(&v))
        {
            resp.headers_mut().insert(k, v);
        }
    }
    resp.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    resp.headers_mut().insert("server", hyper::header::HeaderValue::from_static("CouchDB/3.4.3 (couch-sql embedded)"));
    Ok(resp)
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
