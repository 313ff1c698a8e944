//! HTTP, through reqwest: one pooled client per handle (and its clones).

use super::{Credential, Reply, Request, Transport};
use crate::error::{Error, Result};
use crate::executor::BoxFuture;
use std::time::Duration;

/// A server reached over HTTP.
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    /// Server root without credentials, ending in `/`.
    pub(crate) base: String,
}

impl Transport for Http {
    fn send<'a>(&'a self, req: Request<'a>) -> BoxFuture<'a, Result<Reply>> {
        Box::pin(self.send_once(req))
    }

    fn base(&self) -> &str {
        &self.base
    }
}

impl Http {
    async fn send_once(&self, r: Request<'_>) -> Result<Reply> {
        let url = format!("{}{}", self.base, r.path);
        let mut req = self.client.request(r.method.clone(), url).header("accept", "application/json");
        match r.credential {
            None => {}
            Some(Credential::Basic(c)) => req = req.basic_auth(&c.user, Some(&c.password)),
            Some(Credential::Cookie(c)) => req = req.header("cookie", c),
        }
        if let Some(b) = r.body {
            req = req.header("content-type", "application/json").body(b);
        }
        if r.idle.is_some() {
            // A feed that waits for changes may wait long: silence is what ends it,
            // not the handle's request timeout.
            req = req.timeout(Duration::from_secs(365 * 24 * 3600));
        }
        let mut resp = match r.idle {
            None => req.send().await,
            Some(idle) => tokio::time::timeout(idle, req.send()).await.map_err(|_| Error::Timeout)?,
        }
        .map_err(Error::transport)?;
        let status = resp.status().as_u16();
        let session = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("AuthSession="))
            .map(|v| v.split(';').next().unwrap_or(v).to_string());
        let Some(idle) = r.idle else {
            return Ok(Reply { status, body: resp.bytes().await.map_err(Error::transport)?, session });
        };
        // Read chunk by chunk: a server that goes silent for `idle` (no data, not
        // even a heartbeat newline) is given up on, as CouchDB's clients do.
        let mut body = Vec::new();
        while let Some(chunk) =
            tokio::time::timeout(idle, resp.chunk()).await.map_err(|_| Error::Timeout)?.map_err(Error::transport)?
        {
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { status, body: body.into(), session })
    }
}
