//! `mem://` and `file://`: couch-sql's engine, answering in this process.

use super::{Reply, Request, Transport};
use crate::error::{Error, Result};
use crate::executor::BoxFuture;
use std::sync::Mutex;
use std::time::Duration;

/// The longest wait of one request to the engine: its wait holds a blocking
/// thread, which a dropped watch cannot interrupt (and a runtime shutting down
/// waits for).
const LONGEST_WAIT: Duration = Duration::from_millis(500);

/// The engine, in process: the same requests as over HTTP, without a socket.
pub(crate) struct InProcess {
    engine: couch_embedded::Engine,
    /// `mem:///`, or `file://` and the directory: where the databases are.
    base: String,
}

impl InProcess {
    /// The engine every `mem://` handle of this process shares (as pouchdb's memory
    /// adapter does): two handles on `mem://shop` see the same documents.
    pub(crate) fn memory() -> InProcess {
        static ENGINE: std::sync::LazyLock<couch_embedded::Engine> =
            std::sync::LazyLock::new(couch_embedded::Engine::new);
        InProcess { engine: ENGINE.clone(), base: "mem:///".into() }
    }

    /// The engine of the directory `dir` (`file://` databases), one per directory per process.
    pub(crate) fn directory(dir: &std::path::Path) -> Result<InProcess> {
        static ENGINES: Mutex<Option<std::collections::HashMap<std::path::PathBuf, couch_embedded::Engine>>> =
            Mutex::new(None);
        let mut engines = ENGINES.lock().unwrap_or_else(|e| e.into_inner());
        let engines = engines.get_or_insert_with(Default::default);
        let base = format!("file://{}/", dir.display());
        if let Some(e) = engines.get(dir) {
            return Ok(InProcess { engine: e.clone(), base });
        }
        let engine = couch_embedded::Engine::open(dir)
            .map_err(|e| Error::Invalid { what: "database directory", message: e.to_string() })?;
        engines.insert(dir.to_path_buf(), engine.clone());
        Ok(InProcess { engine, base })
    }
}

impl Transport for InProcess {
    fn send<'a>(&'a self, r: Request<'a>) -> BoxFuture<'a, Result<Reply>> {
        let (engine, method, target) = (self.engine.clone(), r.method.as_str().to_string(), format!("/{}", r.path));
        let body = r.body.unwrap_or_default();
        Box::pin(async move {
            // The engine answers synchronously: off the async worker threads.
            // JSON, as the HTTP transport asks (`open_revs` would be multipart otherwise).
            let head =
                couch_embedded::Head { accept: Some("application/json"), content_type: Some("application/json") };
            let reply =
                tokio::task::spawn_blocking(move || engine.handle_request(&method, &target, None, None, head, &body))
                    .await
                    .map_err(|e| Error::Invalid { what: "embedded engine", message: e.to_string() })?;
            Ok(Reply { status: reply.status, body: reply.body.into(), session: None })
        })
    }

    fn base(&self) -> &str {
        &self.base
    }

    fn longest_wait(&self) -> Option<Duration> {
        Some(LONGEST_WAIT)
    }
}
