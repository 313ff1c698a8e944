//! The json indexes a read goes through: the policy for planned ones, which
//! exist (`GET /db/_index`), which one covers a read, and the choices this
//! process made, once per database and query shape.

use crate::client::Database;
use crate::error::{Error, Result};
use reqwest::Method;
use serde::Deserialize;
use std::sync::Arc;

/// When the indexes couch-sql plans for each query are created and used.
///
/// `couch_sql!` plans, at compile time, the json index that serves each query
/// (`type`, the fields compared with `=`, then one range field). With an index
/// the server reads the matching documents instead of every document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexPolicy {
    /// `Lazy` on Apache CouchDB, where a planned index turns a scan of every
    /// document into a short range read; `Never` on pouchdb-server, where it
    /// measured no faster than a scan (0.73× with 6,000 documents, 1.07× with
    /// 30,000, after a multi-second build: BENCHMARKS.md §7).
    #[default]
    Auto,
    /// A query creates its planned index on its first run (once per process
    /// and database) and names it in `use_index`.
    Lazy,
    /// Queries name their planned index in `use_index`; create them all at
    /// startup with [`Database::ensure_indexes`]. A missing index is skipped.
    Explicit,
    /// No planned indexes: queries run as written (ORDER BY still makes the
    /// index its sort needs).
    Never,
}

impl Database {
    /// When planned indexes are created and used (default [`IndexPolicy::Auto`]).
    pub fn with_index_policy(mut self, policy: IndexPolicy) -> Self {
        self.index_policy = policy;
        self
    }

    /// The policy in force, `Auto` resolved from what the server is.
    pub async fn index_policy(&self) -> Result<IndexPolicy> {
        Ok(match self.index_policy {
            IndexPolicy::Auto => {
                if self.profile().await?.planned_indexes {
                    IndexPolicy::Lazy
                } else {
                    IndexPolicy::Never
                }
            }
            p => p,
        })
    }

    /// Creates the json index on `fields` (named like the planned ones,
    /// `couchsql-type-…`) unless this process already did; `Ok(true)` if the
    /// server created it now.
    pub async fn create_index(&self, fields: &[String]) -> Result<bool> {
        self.ensure_index_reporting(fields, IndexScope::Database).await
    }

    /// Forgets which indexes this process made or chose (after one is dropped).
    pub(crate) fn forget_indexes(&self) {
        self.shared.chosen.lock().expect("index cache").clear();
    }

    /// `POST /db/_index` for `fields`; whether it was created now.
    pub(crate) async fn ensure_index_reporting(&self, fields: &[String], scope: IndexScope) -> Result<bool> {
        let name = scope.index_name(fields);
        let mut body = serde_json::json!({
            "index": { "fields": fields },
            "name": name,
            "ddoc": name,
            "type": "json",
        });
        if let Some(partitioned) = scope.partitioned() {
            body["partitioned"] = partitioned.into();
        }
        let bytes = self.post_index(body).await?;
        let created = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("result").and_then(|r| r.as_str()).map(|r| r == "created"))
            .unwrap_or(false);
        Ok(created)
    }

    /// `POST /db/_index` with the handle's write quorum (`"w"`): on a cluster an
    /// index made with `w = n` is listed by every copy at once.
    pub(crate) async fn post_index(&self, body: serde_json::Value) -> Result<bytes::Bytes> {
        self.send(Method::POST, "_index", Some(self.write_body(body).to_string().into_bytes())).await
    }

    /// The index chosen for `key` in this process, if one was.
    pub(crate) fn index_choice(&self, key: &str) -> Option<IndexChoice> {
        self.shared.chosen.lock().expect("index cache").get(&format!("{}\u{0}{key}", self.name)).cloned()
    }

    /// Forgets the index chosen for `key` (the next query chooses again).
    pub(crate) fn forget_choice(&self, key: &str) {
        self.shared.chosen.lock().expect("index cache").remove(&format!("{}\u{0}{key}", self.name));
    }

    /// The lock held while the index for `key` is chosen.
    pub(crate) fn index_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.shared.choosing.lock().expect("index locks");
        locks.entry(format!("{}\u{0}{key}", self.name)).or_default().clone()
    }

    /// Remembers the index chosen for `key`.
    pub(crate) fn choose_index(&self, key: &str, choice: IndexChoice) {
        self.shared.chosen.lock().expect("index cache").insert(format!("{}\u{0}{key}", self.name), choice);
    }
}

/// Which index a query reads through, decided once per process, database and query shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IndexChoice {
    /// Read through this index: `(design document, name)`, and the fields the
    /// selector must additionally require for the server to find it usable.
    Use { ddoc: String, name: String, require: Vec<String> },
    /// No index: the planned one could not be created (e.g. not a database admin).
    None,
    /// No index yet: the planned one is being built in the background.
    Building,
    /// No index covers the query and none is made yet: each run measures whether
    /// the planned one would pay (see `Pager::judge_planned_index`).
    Measure,
}

/// Which queries an index serves, in a partitioned database (CouchDB 3): a query
/// of one partition reads only partitioned indexes, a global one only global ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum IndexScope {
    /// A table of an ordinary database: the server's default.
    #[default]
    Database,
    /// A partitioned table, queried across its partitions (`"partitioned": false`).
    Global,
    /// A partitioned table, queried in one partition (`"partitioned": true`).
    Partition,
}

impl IndexScope {
    /// The `partitioned` flag an index of this scope is made with.
    pub(crate) fn partitioned(self) -> Option<bool> {
        match self {
            IndexScope::Database => None,
            IndexScope::Global => Some(false),
            IndexScope::Partition => Some(true),
        }
    }

    /// couch-sql's name of its index on `fields` in this scope.
    pub(crate) fn index_name(self, fields: &[String]) -> String {
        let name = index_name(fields);
        match self {
            IndexScope::Database | IndexScope::Global => name,
            IndexScope::Partition => name.replacen("couchsql", "couchsql-partitioned", 1),
        }
    }

    /// A key of the index-choice cache, distinct per scope.
    pub(crate) fn key(self, key: String) -> String {
        match self {
            IndexScope::Database => key,
            other => format!("{other:?}\u{0}{key}"),
        }
    }

    /// The indexes among `all` that this scope's queries can read.
    pub(crate) fn usable(self, all: Vec<JsonIndex>) -> Vec<JsonIndex> {
        let want = self.partitioned().unwrap_or(false);
        all.into_iter().filter(|i| i.partitioned.unwrap_or(false) == want).collect()
    }
}

/// A json index of a database, as `GET /db/_index` lists it.
#[derive(Debug, Clone)]
pub(crate) struct JsonIndex {
    pub(crate) ddoc: String,
    pub(crate) name: String,
    /// The indexed fields, when every one is ascending (others never serve our queries).
    pub(crate) fields: Vec<String>,
    /// A partitioned database's index says whether it is partitioned.
    pub(crate) partitioned: Option<bool>,
}

/// The index among `indexes` that serves a read needing `want` as its leading
/// fields: the one on exactly `want` if it exists, else the shortest one whose
/// further fields are all `allowed` (CouchDB uses a json index only when the
/// selector requires every field it holds).
pub(crate) fn covering<'i>(
    indexes: &'i [JsonIndex],
    want: &[String],
    allowed: impl Fn(&str) -> bool,
) -> Option<&'i JsonIndex> {
    let starts = |i: &&JsonIndex| i.fields.len() >= want.len() && i.fields[..want.len()] == *want;
    indexes.iter().filter(starts).find(|i| i.fields.len() == want.len()).or_else(|| {
        indexes
            .iter()
            .filter(starts)
            .filter(|i| i.fields[want.len()..].iter().all(|f| allowed(f)))
            .min_by_key(|i| i.fields.len())
    })
}

impl Database {
    /// The json indexes of the database (`GET /db/_index`).
    pub(crate) async fn json_indexes(&self) -> Result<Vec<JsonIndex>> {
        #[derive(Deserialize)]
        struct List {
            indexes: Vec<Index>,
        }
        #[derive(Deserialize)]
        struct Index {
            #[serde(default)]
            ddoc: Option<String>,
            name: String,
            #[serde(rename = "type")]
            kind: String,
            def: Def,
            #[serde(default)]
            partitioned: Option<bool>,
        }
        #[derive(Deserialize)]
        struct Def {
            fields: Vec<serde_json::Map<String, serde_json::Value>>,
        }
        let bytes = self.send(Method::GET, "_index", None).await?;
        let list: List = serde_json::from_slice(&bytes).map_err(|e| Error::decode(None, None, e))?;
        Ok(list
            .indexes
            .into_iter()
            .filter(|i| i.kind == "json")
            .filter_map(|i| {
                let fields: Option<Vec<String>> = i
                    .def
                    .fields
                    .iter()
                    .map(|f| match f.iter().next() {
                        Some((k, d)) if f.len() == 1 && d.as_str() == Some("asc") => Some(k.clone()),
                        _ => None,
                    })
                    .collect();
                let ddoc = i.ddoc?.trim_start_matches("_design/").to_string();
                Some(JsonIndex { ddoc, name: i.name, fields: fields?, partitioned: i.partitioned })
            })
            .collect())
    }
}

/// The deterministic name of the index on `fields`, e.g. `couchsql-type-age`.
pub fn index_name(fields: &[String]) -> String {
    let mut name = String::from("couchsql");
    for f in fields {
        name.push('-');
        name.extend(f.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
    }
    name
}
