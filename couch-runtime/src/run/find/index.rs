//! Which index a read goes through: chosen once per process, database and query
//! shape, made when the policy says so, and confirmed before queries name it.

use super::request::*;
use crate::client::Database;
use crate::error::{Error, Result};
use crate::indexes::{covering, IndexChoice, IndexPolicy, IndexScope};
use reqwest::Method;
use serde_json::Value;

impl FindRequest {
    /// Chooses the index the request reads through, as the database's policy says,
    /// before the first page. An existing index that serves the query (one the user
    /// made with CREATE INDEX, say) is used rather than a new one; with `create`
    /// false (EXPLAIN) no planned index is created (a sort's index still is: the
    /// server refuses the sort without it).
    pub(crate) async fn prepare_index(&mut self, db: &Database, create: bool) -> Result<()> {
        if let Some(index) = self.index.clone() {
            let key = self.scope.key(format!("sort\u{0}{}\u{0}{}", index.join(","), self.required.join(",")));
            let scope = self.scope;
            let choose = async {
                let existing = scope.usable(db.json_indexes().await?);
                let allowed = |f: &str| self.required.iter().chain(self.not_null.iter()).any(|r| r == f);
                Ok(Some(match covering(&existing, &index, allowed) {
                    Some(i) => IndexChoice::Use {
                        ddoc: i.ddoc.clone(),
                        name: i.name.clone(),
                        require: i.fields[index.len()..]
                            .iter()
                            .filter(|f| !self.required.contains(f))
                            .cloned()
                            .collect(),
                    },
                    // Without its index the server refuses the sort: made even for EXPLAIN.
                    None => {
                        if db.ensure_index_reporting(&index, scope).await? && db.profile().await?.confirm_new_indexes {
                            // Pages must all read through it (see `planner_sees`).
                            planner_sees(db, &self.selector, &index, &self.tail, scope, self.partition.as_deref())
                                .await?;
                        }
                        own_index(&index, scope)
                    }
                }))
            };
            let choice = choose_once(db, &key, choose).await?.unwrap_or(IndexChoice::None);
            // Named, so every page reads through the same index (see `Pager`).
            self.apply(&choice, true);
            return Ok(());
        }
        let Some(planned) = self.planned.clone() else { return Ok(()) };
        match db.index_policy().await? {
            IndexPolicy::Lazy => {
                let key = self.scope.key(format!("plan\u{0}{}\u{0}{}", planned.join(","), self.required.join(",")));
                let scope = self.scope;
                let choose = async {
                    // Members who may not list indexes still get their rows.
                    let existing = scope.usable(db.json_indexes().await.unwrap_or_default());
                    Ok(match covering(&existing, &planned, |f| self.required.iter().any(|r| r == f)) {
                        Some(i) => {
                            Some(IndexChoice::Use { ddoc: i.ddoc.clone(), name: i.name.clone(), require: vec![] })
                        }
                        None if !create => None,
                        // Not made yet: a query that reads most of its table gains nothing
                        // from an index, and building one would compete with it. Each run
                        // measures how selective the query is (see `judge_planned_index`).
                        None => Some(IndexChoice::Measure),
                    })
                };
                let Some(choice) = choose_once(db, &key, choose).await? else { return Ok(()) };
                if choice == IndexChoice::Measure {
                    if create {
                        self.stats = true;
                        self.judge = Some((key, planned));
                    }
                    return Ok(());
                }
                self.apply(&choice, true);
            }
            IndexPolicy::Explicit => self.apply(&own_index(&planned, self.scope), true),
            IndexPolicy::Never | IndexPolicy::Auto => {}
        }
        Ok(())
    }

    /// After the server said the sort's index is missing (dropped behind our back):
    /// make ours again and read through it.
    pub(super) async fn recreate_sort_index(&mut self, db: &Database) -> Result<()> {
        let Some(index) = self.index.clone() else { return Ok(()) };
        db.forget_indexes();
        db.ensure_index_reporting(&index, self.scope).await?;
        let choice = own_index(&index, self.scope);
        let key = self.scope.key(format!("sort\u{0}{}\u{0}{}", index.join(","), self.required.join(",")));
        db.choose_index(&key, choice.clone());
        self.apply(&choice, true);
        Ok(())
    }
}

/// The index chosen for `key` in this process, chosen now by `choose` if none was.
/// Single flight: one task chooses (and creates) it while the others wait for its
/// answer. `choose` may decline (`None`: nothing is decided or remembered).
pub(super) async fn choose_once(
    db: &Database,
    key: &str,
    choose: impl std::future::Future<Output = Result<Option<IndexChoice>>>,
) -> Result<Option<IndexChoice>> {
    let lock = db.index_lock(key);
    let _chooser = lock.lock().await;
    if let Some(c) = db.index_choice(key) {
        return Ok(Some(c));
    }
    let choice = choose.await?;
    if let Some(c) = &choice {
        db.choose_index(key, c.clone());
    }
    Ok(choice)
}

/// Builds a planned index just created, then lets queries name it.
///
/// A view query on the index makes CouchDB build it (and waits for the build);
/// then `_explain` must name it, because CouchDB's planner can miss an index for
/// a moment after `POST /_index` and answer from another one — and a bookmark of
/// one index sent to another repeats or skips rows. If either step fails, the
/// choice is forgotten: the next query finds the index and uses it.
pub(super) fn build_in_background(
    db: &Database,
    key: String,
    fields: Vec<String>,
    selector: Vec<u8>,
    scope: IndexScope,
    partition: Option<String>,
) {
    let db = db.clone();
    tokio::spawn(async move {
        let name = scope.index_name(&fields);
        let view = format!("_design/{}/_view/{}", crate::encode_segment(&name), crate::encode_segment(&name));
        let build = match &partition {
            Some(p) => format!("_partition/{}/{view}?limit=1&reduce=false", crate::encode_segment(p)),
            None => format!("{view}?limit=1&reduce=false"),
        };
        let ready = async {
            db.send(Method::GET, &build, None).await?;
            planner_sees(&db, &selector, &fields, b"", scope, partition.as_deref()).await
        };
        match ready.await {
            Ok(true) => db.choose_index(&key, own_index(&fields, scope)),
            Ok(false) => db.forget_choice(&key),
            Err(e) => {
                tracing::debug!(error = %e, index = %name, "building the planned index failed; the next query looks again");
                db.forget_choice(&key);
            }
        }
    });
}

/// Waits (up to about 6 s) until `_explain` of `selector` (with `tail`: `,"sort":…`)
/// names our index on `fields`; whether it did. CouchDB's planner can miss an
/// index for a moment after `POST /_index`.
pub(super) async fn planner_sees(
    db: &Database,
    selector: &[u8],
    fields: &[String],
    tail: &[u8],
    scope: IndexScope,
    partition: Option<&str>,
) -> Result<bool> {
    let name = scope.index_name(fields);
    let explain = match partition {
        Some(p) => format!("_partition/{}/_explain", crate::encode_segment(p)),
        None => "_explain".to_string(),
    };
    let mut probe = Vec::with_capacity(selector.len() + tail.len() + 96);
    probe.extend_from_slice(br#"{"selector":"#);
    probe.extend_from_slice(selector);
    probe.extend_from_slice(tail);
    probe.extend_from_slice(br#","limit":1"#);
    probe.extend_from_slice(&use_index_fragment(&name, &name));
    probe.push(b'}');
    for attempt in 0..50u64 {
        let used = match db.send(Method::POST, &explain, Some(probe.clone())).await {
            Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.pointer("/index/name").and_then(Value::as_str).map(|n| n == name)),
            // A sort the planner cannot serve yet: `no_usable_index`.
            Err(Error::BadRequest { .. }) => Some(false),
            Err(e) => return Err(e),
        };
        if used != Some(false) {
            return Ok(true); // in use, or a server whose `_explain` says otherwise
        }
        tokio::time::sleep(std::time::Duration::from_millis(5 + attempt * 5)).await;
    }
    Ok(false)
}

/// Whether a read that examined `examined` documents to return `returned` rows
/// would gain from an index: it read at least four documents per row (and a
/// hundred more), so an index read (about three times a scan's cost per row,
/// BENCHMARKS.md §9) is cheaper.
pub(super) fn selective(examined: u64, returned: u64) -> bool {
    examined >= returned.saturating_mul(4).saturating_add(100)
}

/// The index couch-sql names after its fields (`couchsql-type-age`).
pub(super) fn own_index(fields: &[String], scope: IndexScope) -> IndexChoice {
    let name = scope.index_name(fields);
    IndexChoice::Use { ddoc: name.clone(), name, require: vec![] }
}

pub(super) fn use_index_fragment(ddoc: &str, name: &str) -> Vec<u8> {
    let mut fragment = br#","use_index":"#.to_vec();
    serde_json::to_writer(&mut fragment, &[ddoc, name]).expect("writing JSON to memory");
    fragment
}
