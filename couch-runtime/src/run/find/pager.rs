//! Paging a `_find` read: bookmarks through a named index, keyset pages by `_id`
//! otherwise, a restart when the server changes plans, and the measurement that
//! decides whether a planned index pays.

use super::index::*;
use super::request::*;
use crate::client::Database;
use crate::error::{Error, Result};
use crate::indexes::IndexChoice;
use crate::rows::{decode_page, ExecutionStats};
use crate::run::SqlText;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// True the first time a query's SQL is seen here: server warnings are logged
/// once per query per process, not on every execution.
pub(super) fn first_warning(sql: &str) -> bool {
    static WARNED: std::sync::Mutex<Option<std::collections::HashSet<String>>> = std::sync::Mutex::new(None);
    let mut seen = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    seen.get_or_insert_with(Default::default).insert(sql.to_string())
}

pub(super) fn is_missing_index(e: &Error) -> bool {
    match e {
        Error::BadRequest { error, reason } => {
            error == "no_usable_index"
                || reason.contains("Cannot sort on field")
                || reason.contains("No index exists for this sort")
        }
        _ => false,
    }
}

/// How the pages of one statement follow each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Paging {
    /// Keyset: each page asks for the rows after the last `_id` read, in `_id`
    /// order. Every page is a query of its own, so it is right whichever index
    /// the server reads through, and costs O(page) on both servers (pouchdb-server
    /// has no bookmarks, and `skip` re-reads from the start: O(N²) for a table).
    Keyset { after: String },
    /// Through the index named in `use_index` (a sort, or a planned index),
    /// following the server's `bookmark` (or `skip` where there is none).
    Bookmark(Option<String>),
    /// One request reads it all (a LIMIT within one page, or pouchdb-server's
    /// read-everything page): no further pages, so nothing to keep.
    Single,
}

/// Reads rows page after page until `limit` rows (or all) are read.
///
/// Always sends an explicit `limit` (CouchDB stops at 25 otherwise), and stops
/// when a page comes back short: a bookmark alone does not mean more rows.
///
/// The pages of one statement come from one plan: a bookmark is only valid
/// for the index that made it, and CouchDB, handed one from another index,
/// repeats or skips rows. So a read through a named index that the server
/// stops using (it warns "… was not used", or refuses it) starts again as a
/// keyset read and drops the rows already delivered (their ids are kept).
pub(crate) struct Pager {
    pub(super) db: Database,
    pub(super) req: FindRequest,
    pub(super) limit: Option<u64>,
    pub(super) offset: u64,
    pub(super) page_size: u64,
    pub(super) fetched: u64,
    /// `None` until the first page chooses.
    pub(super) paging: Option<Paging>,
    /// Ids delivered by a bookmark read (to drop them if it must start again).
    pub(super) delivered: Option<std::collections::HashSet<String>>,
    pub(super) done: bool,
    pub(super) warned: bool,
    pub(super) sql: SqlText,
    /// The pages' `execution_stats`, summed (when the request asks for them).
    pub(crate) stats: Option<ExecutionStats>,
    /// With a selector matched in the client: documents the server sent (its
    /// `skip`), and matches still to skip for OFFSET.
    pub(super) raw_fetched: u64,
    pub(super) skip_left: u64,
}

impl Pager {
    pub(crate) fn new(
        db: &Database,
        req: FindRequest,
        limit: Option<u64>,
        offset: u64,
        page_size: usize,
        sql: &SqlText,
    ) -> Self {
        let skip_left = if req.client.is_some() { offset } else { 0 };
        Pager {
            db: db.clone(),
            raw_fetched: 0,
            skip_left,
            req,
            limit,
            offset,
            page_size: page_size.max(1) as u64,
            fetched: 0,
            paging: None,
            delivered: None,
            done: false,
            warned: false,
            sql: sql.clone(),
            stats: None,
        }
    }

    pub(super) fn body(&self, want: u64) -> Vec<u8> {
        // A selector matched in the client skips its OFFSET here, after matching.
        let client = self.req.client.is_some();
        let offset = if client { 0 } else { self.offset };
        match &self.paging {
            Some(Paging::Keyset { after }) => {
                let skip = if after.is_empty() { offset } else { 0 };
                self.req.page_body(want, skip, None, Some(after))
            }
            Some(Paging::Bookmark(bm)) => {
                let skip = if client { self.raw_fetched } else { self.offset + self.fetched };
                self.req.page_body(want, skip, bm.as_deref(), None)
            }
            // In `_id` order all the same: that makes both servers scan `_all_docs` rather than
            // read through an index that may cost them 3–6× per row (BENCHMARKS.md §9).
            Some(Paging::Single) => self.req.page_body(want, offset, None, Some("")),
            None => unreachable!("paging is chosen before the first body"),
        }
    }

    /// The rest of the statement as a keyset read from the start, dropping the
    /// rows a read through another plan already delivered.
    pub(super) fn restart_as_keyset(&mut self, why: &dyn std::fmt::Display) {
        tracing::warn!(sql = %self.sql, reason = %why, "the server changed plans in the middle of a read; reading again by _id, skipping the rows already returned");
        self.req.use_index = None;
        self.paging = Some(Paging::Keyset { after: String::new() });
        self.delivered.get_or_insert_with(Default::default);
    }

    /// Whether reading through the planned index beats scanning the database.
    ///
    /// Through a json index CouchDB reads each matching row's document on its
    /// own, about 3.4 times the cost of a document of a scan (BENCHMARKS.md §9:
    /// 10,000 rows of 10,000 in 2.0 s against 0.6 s). So for a read that may be
    /// large (no LIMIT, or a large one), the index's `_count` reduce tells how
    /// many entries fall in the query's key range (`_explain`'s `mrargs`), in two
    /// small requests; the index is used when they are under a third of the
    /// database's documents. A LIMIT of at most 1,000 rows always uses it: the
    /// read stops early. Any doubt (an error) keeps the index.
    pub(super) async fn planned_index_pays(&self, want: u64) -> bool {
        const READ_COST: u64 = 3;
        if self.limit.is_some_and(|l| l + self.offset <= 1_000) {
            return true;
        }
        if !self.db.profile().await.is_ok_and(|p| p.estimates_index_reads) {
            // pouchdb-server reads through a json index about six times slower per row than
            // it scans (BENCHMARKS.md §9), and cannot count a key range: large reads scan.
            return false;
        }
        let estimate = async {
            let body = self.req.page_body(want, self.offset, None, None);
            let explain: Value = serde_json::from_slice(&self.db.send(Method::POST, "_explain", Some(body)).await?)
                .map_err(|e| Error::decode(None, None, e))?;
            let (Some(ddoc), Some(name), Some(args)) = (
                explain.pointer("/index/ddoc").and_then(Value::as_str),
                explain.pointer("/index/name").and_then(Value::as_str),
                explain.get("mrargs"),
            ) else {
                return Ok(None);
            };
            // `_explain` writes the open end of a range as "<MAX>": any object sorts after it.
            let bound = |k: &str| {
                let mut v = args.get(k).cloned().unwrap_or(Value::Null);
                if let Some(items) = v.as_array_mut() {
                    for i in items.iter_mut().filter(|i| i.as_str() == Some("<MAX>")) {
                        *i = Value::Object(Default::default());
                    }
                }
                serde_json::to_string(&v).unwrap_or_default()
            };
            let ddoc = ddoc.trim_start_matches("_design/");
            let path = format!(
                "_design/{}/_view/{}?reduce=true&start_key={}&end_key={}&inclusive_end={}",
                crate::encode_segment(ddoc),
                crate::encode_segment(name),
                crate::encode_segment(&bound("start_key")),
                crate::encode_segment(&bound("end_key")),
                args.get("inclusive_end").and_then(Value::as_bool).unwrap_or(true),
            );
            let counted: Value = serde_json::from_slice(&self.db.send(Method::GET, &path, None).await?)
                .map_err(|e| Error::decode(None, None, e))?;
            let in_range = counted.pointer("/rows/0/value").and_then(Value::as_u64).unwrap_or(0);
            let info: Value = serde_json::from_slice(&self.db.send(Method::GET, "", None).await?)
                .map_err(|e| Error::decode(None, None, e))?;
            let docs = info.get("doc_count").and_then(Value::as_u64);
            Ok::<_, Error>(docs.map(|docs| in_range * READ_COST <= docs))
        };
        match estimate.await {
            Ok(Some(pays)) => {
                if !pays {
                    tracing::debug!(sql = %self.sql, "the planned index matches too much of the database: scanning instead");
                }
                pays
            }
            _ => true,
        }
    }

    /// At the end of a read that ran without its planned index (none covers it
    /// yet): makes the index, in the background, when the read showed it would pay
    /// (the server examined many more documents than it returned), so the query's
    /// next run reads through it; otherwise decides nothing (a later run, with other
    /// parameters, may be selective). Where the server gives no `execution_stats`
    /// (pouchdb-server), the database's document count stands in for the documents
    /// examined.
    pub(super) fn judge_planned_index(&mut self) {
        let Some((key, fields)) = self.req.judge.take() else { return };
        let (examined, returned) = match &self.stats {
            Some(st) => (Some(st.total_docs_examined), st.results_returned),
            None => (None, self.raw_fetched.max(self.fetched)),
        };
        let (db, selector) = (self.db.clone(), self.req.selector.clone());
        let (scope, partition) = (self.req.scope, self.req.partition.clone());
        tokio::spawn(async move {
            let examined = match examined {
                Some(n) => n,
                None => match db.request("GET", "", None).await {
                    Ok(info) => info.get("doc_count").and_then(Value::as_u64).unwrap_or(0),
                    Err(_) => return,
                },
            };
            if !selective(examined, returned) {
                tracing::debug!(examined, returned, index = %crate::index_name(&fields), "not selective: the planned index is not made");
                return;
            }
            let _chooser = db.index_lock(&key);
            let _chooser = _chooser.lock().await;
            if db.index_choice(&key).is_some_and(|c| c != IndexChoice::Measure) {
                return; // another read decided already
            }
            match db.ensure_index_reporting(&fields, scope).await {
                Ok(_) => {
                    db.choose_index(&key, IndexChoice::Building);
                    build_in_background(&db, key, fields.to_vec(), selector, scope, partition);
                }
                // A planned index only speeds the query up: a user who may not create
                // indexes (design documents need a database admin) still gets the rows.
                Err(e) if e.is_refusal() => {
                    tracing::warn!(error = %e, index = %crate::index_name(&fields), "could not create the planned index; queries run without it");
                    db.choose_index(&key, IndexChoice::None);
                }
                Err(e) => tracing::debug!(error = %e, "making the planned index failed; the next query looks again"),
            }
        });
    }

    /// The next page of rows, or `None` when every row has been read.
    pub(crate) async fn next_page<T: DeserializeOwned>(&mut self) -> Result<Option<Vec<T>>> {
        self.next_page_with(decode_page::<T>).await
    }

    /// The next page, decoded by `decode` (strictly, or row by row).
    pub(crate) async fn next_page_with<T>(
        &mut self,
        decode: fn(&[u8]) -> Result<crate::rows::FindPage<T>>,
    ) -> Result<Option<Vec<T>>> {
        loop {
            let left = self.limit.map(|l| l.saturating_sub(self.fetched));
            // Matching in the client, a page of the server's holds fewer rows than it sends.
            let want = if self.req.client.is_some() {
                left.map_or(self.page_size, |l| if l == 0 { 0 } else { self.page_size })
            } else {
                left.map_or(self.page_size, |l| l.min(self.page_size))
            };
            if self.done || want == 0 {
                self.done = true;
                self.judge_planned_index();
                return Ok(None);
            }
            if self.paging.is_none() {
                self.req.prepare_index(&self.db, true).await?;
                if self.req.use_index.is_some() && self.req.index.is_none() && !self.planned_index_pays(want).await {
                    self.req.use_index = None;
                }
                let one_request = (self.limit.is_some_and(|l| l <= self.page_size) && self.req.client.is_none())
                    || self.page_size >= crate::profile::EVERYTHING as u64;
                self.paging = Some(if self.req.use_index.is_some() || self.req.index.is_some() {
                    Paging::Bookmark(None)
                } else if one_request {
                    Paging::Single
                } else {
                    Paging::Keyset { after: String::new() }
                });
            }
            let body = self.body(want);
            let bytes = match self.db.find(self.req.partition.as_deref(), body).await {
                Err(e) if self.req.index.is_some() && is_missing_index(&e) => {
                    // The sort's index was deleted behind our back: make it again and go on
                    // with `skip` (the sort fixes the order; the old bookmark is the old index's).
                    self.req.recreate_sort_index(&self.db).await?;
                    self.paging = Some(Paging::Bookmark(None));
                    continue;
                }
                Err(e) if self.req.use_index.is_some() && self.req.index.is_none() => {
                    // The planned index is missing or unusable here: run the query as written.
                    tracing::warn!(sql = %self.sql, error = %e, "the planned index was not used");
                    self.restart_as_keyset(&e);
                    continue;
                }
                other => other?,
            };
            // With a selector matched in the client: what the server sent, and its last id.
            let mut sent = None;
            let bytes = match &self.req.client {
                Some(client) => {
                    let bytes = client.with_conflicts(&self.db, bytes).await?;
                    let (kept, n, last) = client.filter(&bytes, &mut self.skip_left)?;
                    self.raw_fetched += n;
                    sent = Some((n, last));
                    kept
                }
                None => bytes,
            };
            let page = decode(&bytes)?;
            if let Some(w) = &page.warning {
                if !self.warned {
                    self.warned = true;
                    if first_warning(&self.sql) {
                        tracing::warn!(sql = %self.sql, warning = %w, "CouchDB warning");
                    }
                }
                // The named index was not used: a bookmark of this page belongs to another plan.
                if self.req.use_index.is_some() && self.req.index.is_none() && w.contains("was not used") {
                    self.restart_as_keyset(w);
                    continue;
                }
            }
            if let Some(st) = &page.execution_stats {
                self.stats.get_or_insert_with(Default::default).add(st);
            }
            let n = sent.as_ref().map_or(page.docs.len() as u64, |(n, _)| *n);
            tracing::debug!(sql = %self.sql, rows = n, "couchdb _find page");
            if n < want {
                self.done = true;
            }
            let mut docs = page.docs;
            match self.paging.as_mut().expect("chosen above") {
                Paging::Keyset { after } => {
                    let ids = page_ids(&bytes, self.delivered.is_some())?;
                    // The next page starts after the last document the server sent.
                    if let Some(last) = sent.as_ref().map_or(ids.last().cloned(), |(_, last)| last.clone()) {
                        *after = last;
                    }
                    if let Some(seen) = &self.delivered {
                        let mut ids = ids.iter();
                        docs.retain(|_| ids.next().is_none_or(|id| !seen.contains(id)));
                    }
                }
                Paging::Single => self.done = true,
                Paging::Bookmark(bm) => {
                    *bm = page.bookmark.filter(|b| !b.is_empty() && b != "nil");
                    if self.req.index.is_none() {
                        let seen = self.delivered.get_or_insert_with(Default::default);
                        seen.extend(page_ids(&bytes, true)?);
                    }
                }
            }
            if let Some(left) = left.filter(|l| self.req.client.is_some() && docs.len() as u64 >= *l) {
                docs.truncate(left as usize); // the LIMIT, counted in matches
                self.done = true;
            }
            self.fetched += docs.len() as u64;
            if self.done {
                self.judge_planned_index();
            }
            return Ok(Some(docs));
        }
    }

    pub(crate) async fn all<T: DeserializeOwned>(self) -> Result<Vec<T>> {
        self.all_with(decode_page::<T>).await
    }

    pub(crate) async fn all_with<T>(mut self, decode: fn(&[u8]) -> Result<crate::rows::FindPage<T>>) -> Result<Vec<T>> {
        let mut out = Vec::new();
        while let Some(page) = self.next_page_with(decode).await? {
            if out.is_empty() {
                out = page;
            } else {
                out.extend(page);
            }
        }
        Ok(out)
    }
}

/// The `_id`s of a `_find` page's documents, in order (`all` false: only the
/// last one). A second, allocation-light pass over the page: the rows are
/// decoded straight into their type, which need not hold the id.
pub(super) fn page_ids(body: &[u8], all: bool) -> Result<Vec<String>> {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct Docs(bool);
    impl<'de> DeserializeSeed<'de> for Docs {
        type Value = Vec<String>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Vec<String>, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Docs {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of documents")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Vec<String>, A::Error> {
            #[derive(serde::Deserialize)]
            struct Id {
                #[serde(rename = "_id")]
                id: String,
            }
            let mut out = Vec::new();
            while let Some(d) = seq.next_element::<Id>()? {
                if !self.0 {
                    out.clear();
                }
                out.push(d.id);
            }
            Ok(out)
        }
    }
    struct Page(bool);
    impl<'de> Visitor<'de> for Page {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a _find response")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Vec<String>, A::Error> {
            let mut ids = Vec::new();
            while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if k == "docs" {
                    ids = map.next_value_seed(Docs(self.0))?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(ids)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde::Deserializer::deserialize_map(&mut de, Page(all))
        .map_err(|e| Error::decode(None, None, format!("a _find document without an _id: {e}")))
}
