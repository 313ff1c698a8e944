//! HTTP, through reqwest: one pooled client per handle (and its clones).

use super::{Credential, Reply, Request, Transport};
use crate::error::{Error, Result};
use crate::executor::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Why a node did not answer.
enum NodeError {
    /// No connection could be made: the request never left.
    Unreachable(Error),
    /// The connection failed or went silent after the request was sent.
    Lost(Error),
}

impl NodeError {
    fn into_error(self) -> Error {
        match self {
            NodeError::Unreachable(e) | NodeError::Lost(e) => e,
        }
    }
}

/// A server reached over HTTP: one node, or several nodes of one cluster.
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    /// Server roots without credentials, each ending in `/`: the node named by the
    /// handle's URL first, then the nodes to fail over to.
    pub(crate) nodes: Vec<String>,
    /// The node requests go to now: the next one after a node stops answering.
    pub(crate) current: AtomicUsize,
}

impl Http {
    pub(crate) fn new(client: reqwest::Client, nodes: Vec<String>) -> Http {
        Http { client, nodes, current: AtomicUsize::new(0) }
    }
}

impl Transport for Http {
    fn send<'a>(&'a self, req: Request<'a>) -> BoxFuture<'a, Result<Reply>> {
        Box::pin(self.send_to_a_node(req))
    }

    /// The first node: a replication's checkpoints name the database by it,
    /// whichever node answers.
    fn base(&self) -> &str {
        &self.nodes[0]
    }
}

impl Http {
    /// Sends to the current node. A node that cannot be connected to never saw the
    /// request, so it goes to the next node at once (whatever the method); a node
    /// lost mid-request is left for the next request (the handle's retries resend
    /// what is safe to resend) and its error returned.
    async fn send_to_a_node(&self, r: Request<'_>) -> Result<Reply> {
        let mut tried = 0;
        loop {
            let at = self.current.load(Ordering::Relaxed) % self.nodes.len();
            let outcome = self.send_once(&self.nodes[at], &r).await;
            let failed = match &outcome {
                Err(NodeError::Unreachable(_)) => true,
                Err(NodeError::Lost(_)) => false,
                Ok(_) => return outcome.map_err(NodeError::into_error),
            };
            if self.nodes.len() > 1 {
                // Another request may have moved on already: move once.
                let _ = self.current.compare_exchange(
                    at,
                    (at + 1) % self.nodes.len(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                tracing::debug!(node = at, "CouchDB node not answering; failing over to the next");
            }
            tried += 1;
            if !failed || tried >= self.nodes.len() {
                return outcome.map_err(NodeError::into_error);
            }
        }
    }

    async fn send_once(&self, base: &str, r: &Request<'_>) -> std::result::Result<Reply, NodeError> {
        let lost = |e: reqwest::Error| {
            if e.is_connect() {
                NodeError::Unreachable(Error::transport(e))
            } else {
                NodeError::Lost(Error::transport(e))
            }
        };
        let url = format!("{base}{}", r.path);
        let mut req = self.client.request(r.method.clone(), url).header("accept", "application/json");
        match &r.credential {
            None => {}
            Some(Credential::Basic(c)) => req = req.basic_auth(&c.user, Some(&c.password)),
            Some(Credential::Cookie(c)) => req = req.header("cookie", c),
        }
        if let Some(b) = &r.body {
            req = req.header("content-type", "application/json").body(b.clone());
        }
        if r.idle.is_some() {
            // A feed that waits for changes may wait long: silence is what ends it,
            // not the handle's request timeout.
            req = req.timeout(Duration::from_secs(365 * 24 * 3600));
        }
        let mut resp = match r.idle {
            None => req.send().await,
            Some(idle) => tokio::time::timeout(idle, req.send()).await.map_err(|_| NodeError::Lost(Error::Timeout))?,
        }
        .map_err(lost)?;
        let status = resp.status().as_u16();
        let session = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("AuthSession="))
            .map(|v| v.split(';').next().unwrap_or(v).to_string());
        let Some(idle) = r.idle else {
            return Ok(Reply { status, body: resp.bytes().await.map_err(lost)?, session });
        };
        // Read chunk by chunk: a server that goes silent for `idle` (no data, not
        // even a heartbeat newline) is given up on, as CouchDB's clients do.
        let mut body = Vec::new();
        while let Some(chunk) = tokio::time::timeout(idle, resp.chunk())
            .await
            .map_err(|_| NodeError::Lost(Error::Timeout))?
            .map_err(lost)?
        {
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { status, body: body.into(), session })
    }
}
