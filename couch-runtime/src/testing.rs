//! What `#[couch_sql::test]` runs around a test: a new database of its own,
//! fixtures, the program's planned indexes, and the database deleted afterwards,
//! also when the test panics or returns `Err`.

use crate::{Database, Error};
use std::future::Future;
use std::pin::Pin;

/// A test's settings, from the attribute.
#[doc(hidden)]
pub struct Options {
    /// The test's path (`module::name`), for the database's name.
    pub name: &'static str,
    /// `(path, contents)` of each fixture file, in order.
    pub fixtures: &'static [(&'static str, &'static str)],
    /// Ensure the planned indexes and views before the body runs.
    pub indexes: bool,
}

/// What a test body returns: `()` or a `Result`.
#[doc(hidden)]
pub trait Outcome {
    fn into_result(self) -> Result<(), String>;
}

impl Outcome for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Debug> Outcome for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| format!("the test returned Err: {e:?}"))
    }
}

/// A unique, valid database name from the test's path.
fn db_name(test: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut base: String =
        test.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    base.truncate(160);
    format!(
        "t_{base}_{}_{}_{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        couch_semantics::ids::random_u64() & 0xffff_ffff
    )
}

/// `COUCHDB_URL`'s server, or the embedded engine in memory when it is unset.
fn url_for(name: &str) -> String {
    match std::env::var("COUCHDB_URL") {
        Ok(server) if server.starts_with("mem:") => format!("mem://{name}"),
        Ok(server) if !server.is_empty() => format!("{}/{name}", server.trim_end_matches('/')),
        _ => format!("mem://{name}"),
    }
}

/// The documents of a fixture file: a JSON array, or `{"docs": [...]}`.
fn fixture_docs(path: &str, contents: &str) -> Result<Vec<serde_json::Value>, String> {
    let v: serde_json::Value = serde_json::from_str(contents).map_err(|e| format!("fixture {path}: not JSON: {e}"))?;
    match v {
        serde_json::Value::Array(docs) => Ok(docs),
        serde_json::Value::Object(mut m) => match m.remove("docs") {
            Some(serde_json::Value::Array(docs)) => Ok(docs),
            _ => Err(format!("fixture {path}: expected a JSON array of documents or {{\"docs\": [...]}}")),
        },
        _ => Err(format!("fixture {path}: expected a JSON array of documents or {{\"docs\": [...]}}")),
    }
}

/// Creates the test's database, loads the fixtures (one `_bulk_docs` per 1,000
/// documents), and ensures the planned indexes.
async fn prepare(opts: &Options) -> Result<Database, String> {
    let url = url_for(&db_name(opts.name));
    let db = Database::connect(&url).await.map_err(|e| format!("connecting to the test server: {e}"))?;
    db.create_if_missing().await.map_err(|e| format!("creating the test database: {e}"))?;
    let db = read_your_writes(db).await?;
    for (path, contents) in opts.fixtures {
        for chunk in fixture_docs(path, contents)?.chunks(1000) {
            let body = db.write_body(serde_json::json!({ "docs": chunk }));
            let body = serde_json::to_vec(&body).expect("JSON serializes");
            let answer = db
                .send(reqwest::Method::POST, "_bulk_docs", Some(body))
                .await
                .map_err(|e| format!("fixture {path}: {e}"))?;
            let results: Vec<serde_json::Value> =
                serde_json::from_slice(&answer).map_err(|e| format!("fixture {path}: {e}"))?;
            if let Some(refused) = results.iter().find(|r| r.get("error").is_some()) {
                return Err(format!(
                    "fixture {path}: the server refused document {}: {} ({})",
                    refused["id"], refused["error"], refused["reason"]
                ));
            }
        }
    }
    if opts.indexes {
        db.ensure_indexes().await.map_err(|e| format!("ensuring the planned indexes: {e}"))?;
    }
    Ok(db)
}

/// On a cluster (a database kept in `n > 1` copies), the handle writes to every
/// copy: a `_find` or `_changes` reads one copy per shard, and a test must read its
/// own writes whichever copy answers. One node (`n = 1`) and the engine keep the
/// server's default.
async fn read_your_writes(db: Database) -> Result<Database, String> {
    let info = db.request("GET", "", None).await.map_err(|e| format!("reading the test database: {e}"))?;
    match info["cluster"]["n"].as_u64().and_then(|n| u32::try_from(n).ok()) {
        Some(n) if n > 1 => Ok(db.with_write_quorum(n)),
        _ => Ok(db),
    }
}

/// Runs an async test body on a runtime of its own. A body that returns `Err`
/// (or a setup that fails) is the `Err` here, which the generated test turns into
/// a panic at the test's own line; a body that panics panics on.
#[doc(hidden)]
pub fn run_async<O: Outcome + Send + 'static>(
    opts: Options,
    body: impl FnOnce(Database) -> Pin<Box<dyn Future<Output = O> + Send>>,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime for the test");
    rt.block_on(async {
        let db = prepare(&opts).await?;
        let outcome = tokio::spawn(body(db.clone())).await;
        cleanup(&db).await;
        match outcome {
            Ok(o) => o.into_result(),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(format!("the test was cancelled: {e}")),
        }
    })
}

/// Runs a blocking test body (its `Database` owns a runtime; the setup runs on
/// another). Errors as [`run_async`].
#[doc(hidden)]
pub fn run_blocking<O: Outcome>(
    opts: Options,
    body: impl FnOnce(crate::blocking::Database) -> O,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime for the test");
    let db = rt.block_on(prepare(&opts))?;
    let blocking = crate::blocking::Database::from_async(db.clone()).map_err(|e| e.to_string())?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(blocking)));
    rt.block_on(cleanup(&db));
    match outcome {
        Ok(o) => o.into_result(),
        Err(p) => std::panic::resume_unwind(p),
    }
}

async fn cleanup(db: &Database) {
    match db.drop_database().await {
        Ok(()) | Err(Error::NotFound { .. }) => {}
        Err(e) => eprintln!("couch_sql::test: could not delete the test database {}: {e}", db.name()),
    }
}
