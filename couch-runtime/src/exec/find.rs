//! `_find`: request bodies, paging, and SELECT.

use super::{by_id, count, render_error, SqlText};
use crate::client::{covering, Database, IndexChoice, IndexPolicy};
use crate::error::{Error, Result};
use crate::profile::ServerProfile;
use crate::rows::{decode_page, ExecutionStats};
use crate::sort::compare_docs;
use couch_semantics::Projection;
use couch_translate::{Compiled, Dialect, Projected, Select, Tmpl};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The parts of a `_find` body that stay the same from page to page.
pub(crate) struct FindTemplate {
    selector: Compiled,
    /// `,"fields":…,"sort":…`, rendered once.
    tail: Arc<[u8]>,
    /// The tail without `fields`: whole documents, for a selector matched in the client.
    tail_whole: Arc<[u8]>,
    fields: Option<Arc<[String]>>,
    /// Fields of the json index the sort needs.
    index: Option<Arc<[String]>>,
    /// The index planned for the query (when it does not sort on the server).
    planned: Option<Arc<[String]>>,
    /// Fields every match has, and the model's non-`Option` fields (see [`Select`]).
    required: Arc<[String]>,
    not_null: Arc<[String]>,
}

impl FindTemplate {
    /// `sort` is used when the plan sorts on the server.
    pub(crate) fn new(
        selector: &Tmpl,
        fields: Option<&[String]>,
        sort: Option<&Select>,
        planned: Option<&[String]>,
    ) -> Self {
        let mut tail = Vec::new();
        if let Some(fields) = fields {
            tail.extend_from_slice(br#","fields":"#);
            serde_json::to_writer(&mut tail, fields).expect("writing JSON to memory");
        }
        let fields_len = tail.len();
        let mut index = None;
        if let Some(s) = sort.filter(|s| s.server_sort && !s.order_by.is_empty()) {
            let dir = if s.order_by[0].desc { "desc" } else { "asc" };
            // `type` (the table's discriminator) leads the sort: it is equal for every
            // row, and it makes the sort match the index ["type", keys…] on both
            // CouchDB and pouchdb-server. Id-prefixed tables have no such field.
            let mut sort: Vec<Value> = s.key.index_head().into_iter().map(|f| serde_json::json!({ f: dir })).collect();
            sort.extend(s.order_by.iter().map(|k| serde_json::json!({ k.field.clone() : dir })));
            tail.extend_from_slice(br#","sort":"#);
            serde_json::to_writer(&mut tail, &sort).expect("writing JSON to memory");
            index = s.index.as_ref().map(|i| i.clone().into());
        }
        let planned = if index.is_some() { None } else { planned.map(Into::into) };
        let (required, not_null) =
            sort.map_or((Arc::from([]), Arc::from([])), |s| (s.required.clone().into(), s.not_null.clone().into()));
        let tail_whole = tail[fields_len..].into();
        FindTemplate {
            selector: selector.compile(),
            tail: tail.into(),
            tail_whole,
            fields: fields.map(Into::into),
            index,
            planned,
            required,
            not_null,
        }
    }

    /// The template of a SELECT plan.
    pub(crate) fn of(plan: &Select) -> Self {
        FindTemplate::new(&plan.selector, plan.fields.as_deref(), Some(plan), plan.planned.as_deref())
    }

    /// Renders the parts of the body that stay the same from page to page.
    pub(crate) fn request(&self, params: &[Value], profile: &ServerProfile) -> Result<FindRequest> {
        // Room for the parameters, so rendering never reallocates.
        let mut selector = Vec::with_capacity(self.selector.static_len() + 64);
        self.selector.render_in(params, profile.dialect, &mut selector).map_err(render_error)?;
        let (selector, client) = self.match_in_client(selector, params, profile)?;
        Ok(FindRequest {
            selector,
            tail: if client.is_some() { self.tail_whole.clone() } else { self.tail.clone() },
            client,
            index: self.index.clone(),
            planned: self.planned.clone(),
            required: self.required.clone(),
            not_null: self.not_null.clone(),
            require: Vec::new(),
            use_index: None,
            stats: false,
            judge: None,
        })
    }
}

impl FindTemplate {
    /// On a server that gets `$elemMatch` wrong (pouchdb-server), a selector holding
    /// it is sent relaxed (a superset) and matched exactly here, with CouchDB's
    /// semantics; `fields` are then applied here too.
    fn match_in_client(
        &self,
        rendered: Vec<u8>,
        params: &[Value],
        profile: &ServerProfile,
    ) -> Result<(Vec<u8>, Option<Arc<ClientMatch>>)> {
        let holds = |op: &[u8]| rendered.windows(op.len()).any(|w| w == op);
        if !profile.elem_match_in_client() || !(holds(b"\"$elemMatch\"") || holds(b"\"$allMatch\"")) {
            return Ok((rendered, None));
        }
        let as_sent: Value = serde_json::from_slice(&rendered).map_err(|e| Error::decode(None, None, e))?;
        let Some(relaxed) = couch_translate::relax::elem_match(&as_sent) else { return Ok((rendered, None)) };
        let mut exact = Vec::new();
        self.selector.render_in(params, Dialect::embedded(), &mut exact).map_err(render_error)?;
        let selector = serde_json::from_slice(&exact).map_err(|e| Error::decode(None, None, e))?;
        let fields = self.fields.as_deref().map(Projection::new);
        let client = ClientMatch { selector, fields };
        Ok((serde_json::to_vec(&relaxed).expect("JSON serializes"), Some(Arc::new(client))))
    }
}

/// The exact selector of a request whose server gets a relaxed one.
pub(crate) struct ClientMatch {
    /// Rendered for CouchDB's semantics (`couch_semantics::mango`).
    selector: Value,
    /// The SELECT's `fields`, applied after matching.
    fields: Option<Projection>,
}

impl ClientMatch {
    /// The page with only the documents that match, after the first `skip_left`
    /// of them, projected; and how many documents the server sent.
    fn filter(&self, page: &[u8], skip_left: &mut u64) -> Result<(bytes::Bytes, u64, Option<String>)> {
        let mut page: Value = serde_json::from_slice(page)
            .map_err(|e| Error::decode(None, None, format!("malformed _find response: {e}")))?;
        let docs = match page.get_mut("docs").map(Value::take) {
            Some(Value::Array(d)) => d,
            _ => Vec::new(),
        };
        let sent = docs.len() as u64;
        let last_id = docs.last().and_then(|d| d.get("_id")).and_then(Value::as_str).map(str::to_owned);
        let mut kept = Vec::new();
        for doc in docs {
            if !self.matches(&doc) {
                continue;
            }
            if *skip_left > 0 {
                *skip_left -= 1;
                continue;
            }
            kept.push(self.project(doc));
        }
        page["docs"] = Value::Array(kept);
        Ok((serde_json::to_vec(&page).expect("JSON serializes").into(), sent, last_id))
    }

    fn matches(&self, doc: &Value) -> bool {
        couch_semantics::mango::matches(&self.selector, doc)
    }

    fn project(&self, doc: Value) -> Value {
        match &self.fields {
            Some(p) => p.apply(doc),
            None => doc,
        }
    }
}

/// A `_find` request, rendered except for its paging fields.
pub(crate) struct FindRequest {
    /// The selector's JSON.
    selector: Vec<u8>,
    /// `,"fields":…,"sort":…`.
    tail: Arc<[u8]>,
    /// Fields of the json index the sort needs.
    index: Option<Arc<[String]>>,
    /// The index planned for the query.
    planned: Option<Arc<[String]>>,
    required: Arc<[String]>,
    not_null: Arc<[String]>,
    /// `,{"f":{"$exists":true}}…`: fields the chosen index needs the selector to require.
    require: Vec<u8>,
    /// `,"use_index":[…]` when the request names its index.
    use_index: Option<Vec<u8>>,
    /// Ask for `execution_stats`.
    pub(crate) stats: bool,
    /// The planned index no index covers yet: this read measures whether it pays
    /// (see `Pager::judge_planned_index`), with the choice's key.
    judge: Option<(String, Arc<[String]>)>,
    /// The exact selector, when the server gets a relaxed one.
    client: Option<Arc<ClientMatch>>,
}

impl FindRequest {
    /// Fields of the json index the sort needs, if any.
    pub(crate) fn index(&self) -> Option<&[String]> {
        self.index.as_deref()
    }

    /// The complete body of one page.
    pub(crate) fn body(&self, limit: u64, skip: u64, bookmark: Option<&str>) -> Vec<u8> {
        self.page_body(limit, skip, bookmark, None)
    }

    /// The body of one page; with `after`, a keyset page: the rows whose `_id`
    /// follows `after` (`""`: from the start), in `_id` order.
    fn page_body(&self, limit: u64, skip: u64, bookmark: Option<&str>, after: Option<&str>) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.selector.len() + self.require.len() + self.tail.len() + 96);
        b.extend_from_slice(br#"{"selector":"#);
        if self.require.is_empty() && after.is_none() {
            b.extend_from_slice(&self.selector);
        } else {
            b.extend_from_slice(br#"{"$and":["#);
            b.extend_from_slice(&self.selector);
            b.extend_from_slice(&self.require);
            if let Some(after) = after {
                b.extend_from_slice(br#",{"_id":{"$gt":"#);
                serde_json::to_writer(&mut b, after).expect("writing JSON to memory");
                b.extend_from_slice(b"}}");
            }
            b.extend_from_slice(b"]}");
        }
        b.extend_from_slice(&self.tail);
        if after.is_some() {
            b.extend_from_slice(br#","sort":[{"_id":"asc"}]"#);
        }
        b.extend_from_slice(br#","limit":"#);
        serde_json::to_writer(&mut b, &limit).expect("writing JSON to memory");
        match bookmark {
            Some(bm) => {
                b.extend_from_slice(br#","bookmark":"#);
                serde_json::to_writer(&mut b, bm).expect("writing JSON to memory");
            }
            None if skip > 0 => {
                b.extend_from_slice(br#","skip":"#);
                serde_json::to_writer(&mut b, &skip).expect("writing JSON to memory");
            }
            None => {}
        }
        if let Some(fragment) = &self.use_index {
            b.extend_from_slice(fragment);
        }
        if self.stats {
            b.extend_from_slice(br#","execution_stats":true"#);
        }
        b.push(b'}');
        b
    }

    fn apply(&mut self, choice: &IndexChoice, name_it: bool) {
        self.require.clear();
        self.use_index = None;
        if let IndexChoice::Use { ddoc, name, require } = choice {
            for f in require {
                self.require.extend_from_slice(b",{");
                serde_json::to_writer(&mut self.require, f).expect("writing JSON to memory");
                self.require.extend_from_slice(br#":{"$exists":true}}"#);
            }
            if name_it {
                self.use_index = Some(use_index_fragment(ddoc, name));
            }
        }
    }

    /// Chooses the index the request reads through, as the database's policy says,
    /// before the first page. An existing index that serves the query (one the user
    /// made with CREATE INDEX, say) is used rather than a new one; with `create`
    /// false (EXPLAIN) no planned index is created (a sort's index still is: the
    /// server refuses the sort without it).
    pub(crate) async fn prepare_index(&mut self, db: &Database, create: bool) -> Result<()> {
        if let Some(index) = self.index.clone() {
            let key = format!("sort\u{0}{}\u{0}{}", index.join(","), self.required.join(","));
            let choose = async {
                let existing = db.json_indexes().await?;
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
                        if db.ensure_index_reporting(&index).await? && db.profile().await?.confirm_new_indexes {
                            // Pages must all read through it (see `planner_sees`).
                            planner_sees(db, &self.selector, &index, &self.tail).await?;
                        }
                        own_index(&index)
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
                let key = format!("plan\u{0}{}\u{0}{}", planned.join(","), self.required.join(","));
                let choose = async {
                    // Members who may not list indexes still get their rows.
                    let existing = db.json_indexes().await.unwrap_or_default();
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
            IndexPolicy::Explicit => self.apply(&own_index(&planned), true),
            IndexPolicy::Never | IndexPolicy::Auto => {}
        }
        Ok(())
    }

    /// After the server said the sort's index is missing (dropped behind our back):
    /// make ours again and read through it.
    async fn recreate_sort_index(&mut self, db: &Database) -> Result<()> {
        let Some(index) = self.index.clone() else { return Ok(()) };
        db.forget_indexes();
        db.ensure_index_reporting(&index).await?;
        let choice = own_index(&index);
        db.choose_index(&format!("sort\u{0}{}\u{0}{}", index.join(","), self.required.join(",")), choice.clone());
        self.apply(&choice, true);
        Ok(())
    }
}

/// The index chosen for `key` in this process, chosen now by `choose` if none was.
/// Single flight: one task chooses (and creates) it while the others wait for its
/// answer. `choose` may decline (`None`: nothing is decided or remembered).
async fn choose_once(
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
fn build_in_background(db: &Database, key: String, fields: Vec<String>, selector: Vec<u8>) {
    let db = db.clone();
    tokio::spawn(async move {
        let name = crate::index_name(&fields);
        let build = format!(
            "_design/{}/_view/{}?limit=1&reduce=false",
            crate::encode_segment(&name),
            crate::encode_segment(&name)
        );
        let ready = async {
            db.send(Method::GET, &build, None).await?;
            planner_sees(&db, &selector, &fields, b"").await
        };
        match ready.await {
            Ok(true) => db.choose_index(&key, own_index(&fields)),
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
async fn planner_sees(db: &Database, selector: &[u8], fields: &[String], tail: &[u8]) -> Result<bool> {
    let name = crate::index_name(fields);
    let mut probe = Vec::with_capacity(selector.len() + tail.len() + 96);
    probe.extend_from_slice(br#"{"selector":"#);
    probe.extend_from_slice(selector);
    probe.extend_from_slice(tail);
    probe.extend_from_slice(br#","limit":1"#);
    probe.extend_from_slice(&use_index_fragment(&name, &name));
    probe.push(b'}');
    for attempt in 0..50u64 {
        let used = match db.send(Method::POST, "_explain", Some(probe.clone())).await {
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
fn selective(examined: u64, returned: u64) -> bool {
    examined >= returned.saturating_mul(4).saturating_add(100)
}

/// The index couch-sql names after its fields (`couchsql-type-age`).
fn own_index(fields: &[String]) -> IndexChoice {
    let name = crate::index_name(fields);
    IndexChoice::Use { ddoc: name.clone(), name, require: vec![] }
}

fn use_index_fragment(ddoc: &str, name: &str) -> Vec<u8> {
    let mut fragment = br#","use_index":"#.to_vec();
    serde_json::to_writer(&mut fragment, &[ddoc, name]).expect("writing JSON to memory");
    fragment
}

/// True the first time a query's SQL is seen here: server warnings are logged
/// once per query per process, not on every execution.
fn first_warning(sql: &str) -> bool {
    static WARNED: std::sync::Mutex<Option<std::collections::HashSet<String>>> = std::sync::Mutex::new(None);
    let mut seen = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    seen.get_or_insert_with(Default::default).insert(sql.to_string())
}

fn is_missing_index(e: &Error) -> bool {
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
enum Paging {
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
    db: Database,
    req: FindRequest,
    limit: Option<u64>,
    offset: u64,
    page_size: u64,
    fetched: u64,
    /// `None` until the first page chooses.
    paging: Option<Paging>,
    /// Ids delivered by a bookmark read (to drop them if it must start again).
    delivered: Option<std::collections::HashSet<String>>,
    done: bool,
    warned: bool,
    sql: SqlText,
    /// The pages' `execution_stats`, summed (when the request asks for them).
    pub(crate) stats: Option<ExecutionStats>,
    /// With a selector matched in the client: documents the server sent (its
    /// `skip`), and matches still to skip for OFFSET.
    raw_fetched: u64,
    skip_left: u64,
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

    fn body(&self, want: u64) -> Vec<u8> {
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
    fn restart_as_keyset(&mut self, why: &dyn std::fmt::Display) {
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
    async fn planned_index_pays(&self, want: u64) -> bool {
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
    fn judge_planned_index(&mut self) {
        let Some((key, fields)) = self.req.judge.take() else { return };
        let (examined, returned) = match &self.stats {
            Some(st) => (Some(st.total_docs_examined), st.results_returned),
            None => (None, self.raw_fetched.max(self.fetched)),
        };
        let (db, selector) = (self.db.clone(), self.req.selector.clone());
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
            match db.ensure_index_reporting(&fields).await {
                Ok(_) => {
                    db.choose_index(&key, IndexChoice::Building);
                    build_in_background(&db, key, fields.to_vec(), selector);
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
            let bytes = match self.db.send(Method::POST, "_find", Some(body)).await {
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
fn page_ids(body: &[u8], all: bool) -> Result<Vec<String>> {
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

/// How a SELECT reads its rows.
pub(crate) enum Source {
    /// Page by page from `_find`, in the server's order.
    Pages(Box<Pager>),
    /// Already in memory: read by id, or every match read and sorted here
    /// with OFFSET/LIMIT applied.
    Sorted(Vec<Map<String, Value>>),
}

/// Plans a SELECT: resolves LIMIT/OFFSET, and reads everything up front when
/// the runtime has to sort. `cap` bounds the rows wanted (1 for `fetch_one`).
pub(crate) async fn select_source(
    db: &Database,
    plan: &Select,
    tmpl: &FindTemplate,
    params: &[Value],
    cap: Option<u64>,
    page_size: usize,
    sql: &SqlText,
) -> Result<Source> {
    let mut limit = count(plan.limit, params, "LIMIT")?;
    let offset = count(plan.offset, params, "OFFSET")?.unwrap_or(0);
    if let Some(cap) = cap {
        limit = Some(limit.map_or(cap, |l| l.min(cap)));
    }
    if let Some(ids) = &plan.by_id {
        let docs = by_id::docs(db, &plan.table, &plan.key, ids, params).await?;
        return Ok(Source::Sorted(window(docs, offset, limit)));
    }
    let profile = db.profile().await?;
    let req = tmpl.request(params, profile)?;
    if plan.server_sort || plan.order_by.is_empty() {
        return Ok(Source::Pages(Box::new(Pager::new(db, req, limit, offset, page_size, sql))));
    }
    // The server cannot sort this (nullable key or mixed directions): read every
    // matching document, sort here, then apply OFFSET and LIMIT.
    let mut docs: Vec<Map<String, Value>> = Pager::new(db, req, None, 0, page_size, sql).all().await?;
    let collation = profile.collation;
    docs.sort_by(|a, b| compare_docs(collation, a, b, &plan.order_by));
    Ok(Source::Sorted(window(docs, offset, limit)))
}

/// OFFSET and LIMIT, applied in memory.
fn window<T>(rows: Vec<T>, offset: u64, limit: Option<u64>) -> Vec<T> {
    rows.into_iter().skip(offset as usize).take(limit.map_or(usize::MAX, |l| l as usize)).collect()
}

/// The first `_find` body of a SELECT, as [`select_source`] would send it.
pub(crate) fn first_find_body(
    plan: &Select,
    tmpl: &FindTemplate,
    params: &[Value],
    page_size: usize,
) -> Result<Vec<u8>> {
    let limit = count(plan.limit, params, "LIMIT")?;
    let offset = count(plan.offset, params, "OFFSET")?.unwrap_or(0);
    let req = tmpl.request(params, &ServerProfile::offline())?;
    let want = limit.map_or(page_size as u64, |l| l.min(page_size as u64));
    Ok(req.body(want, offset, None))
}

/// Runs a SELECT's `_find` requests to the end with `execution_stats`, skipping
/// the rows; `None` when the server gives no statistics (pouchdb-server, lookups by id).
pub(crate) async fn execution_stats(
    db: &Database,
    plan: &Select,
    tmpl: &FindTemplate,
    params: &[Value],
    page_size: usize,
    sql: &SqlText,
) -> Result<Option<ExecutionStats>> {
    if plan.by_id.is_some() {
        return Ok(None);
    }
    let sorted_here = !plan.server_sort && !plan.order_by.is_empty();
    let limit = if sorted_here { None } else { count(plan.limit, params, "LIMIT")? };
    let offset = if sorted_here { 0 } else { count(plan.offset, params, "OFFSET")?.unwrap_or(0) };
    let mut req = tmpl.request(params, db.profile().await?)?;
    req.stats = true;
    let mut pager = Pager::new(db, req, limit, offset, page_size, sql);
    while pager.next_page::<serde::de::IgnoredAny>().await?.is_some() {}
    Ok(pager.stats)
}

/// Decodes a document held as a map (the runtime-sorted path).
pub(crate) fn decode_map<R: DeserializeOwned>(d: Map<String, Value>) -> Result<R> {
    let id = d.get("_id").and_then(Value::as_str).map(str::to_owned);
    serde_json::from_value::<R>(Value::Object(d)).map_err(|e| Error::decode(id, None, e))
}

/// The columns of a run-time SELECT, as the runtime makes rows of them: each
/// column's name and the path it reads, split into segments once per statement.
#[derive(Debug, Clone)]
pub(crate) struct RowColumns(Vec<(String, Vec<String>)>);

impl RowColumns {
    pub(crate) fn of(cols: &[Projected]) -> Self {
        RowColumns(cols.iter().map(|c| (c.name.clone(), couch_translate::path::segments(&c.field))).collect())
    }
}

/// Decodes a document as a row: as it is (a compiled query's row type reads the
/// document's fields itself), or, given the SELECT's columns (run-time SQL), first
/// made into the row those columns name: each column's value under its name
/// (`address.city` → `address_city`, or its alias), NULL where the path leads
/// nowhere, and nothing unselected.
pub(crate) fn decode_row<R: DeserializeOwned>(named: Option<&RowColumns>, d: Map<String, Value>) -> Result<R> {
    let Some(RowColumns(cols)) = named else { return decode_map(d) };
    let id = d.get("_id").and_then(Value::as_str).map(str::to_owned);
    let row: Map<String, Value> = cols
        .iter()
        .map(|(name, segs)| {
            let v = couch_semantics::path::walk(d.get(&segs[0]), segs[1..].iter().map(String::as_str));
            (name.clone(), v.cloned().unwrap_or(Value::Null))
        })
        .collect();
    serde_json::from_value::<R>(Value::Object(row)).map_err(|e| Error::decode(id, None, e))
}

/// Runs a SELECT to the end, decoding each row on its own: a document that
/// does not fit `R` is an `Err` in its place, and the others are still read.
pub(crate) async fn select_each<R: DeserializeOwned>(
    db: &Database,
    plan: &Select,
    tmpl: &FindTemplate,
    params: &[Value],
    page_size: usize,
    sql: &SqlText,
) -> Result<Vec<Result<R>>> {
    let each = |d| Ok(decode_map(d));
    select_with(db, plan, tmpl, params, None, page_size, sql, crate::rows::decode_page_each::<R>, each).await
}

/// Runs a SELECT to the end.
pub(crate) async fn select<R: DeserializeOwned>(
    db: &Database,
    plan: &Select,
    tmpl: &FindTemplate,
    params: &[Value],
    cap: Option<u64>,
    page_size: usize,
    sql: &SqlText,
) -> Result<Vec<R>> {
    select_with(db, plan, tmpl, params, cap, page_size, sql, decode_page::<R>, decode_map).await
}

/// Runs a SELECT to the end, decoding server pages with `page` and the
/// documents the runtime sorted (or read by id) with `doc`.
#[allow(clippy::too_many_arguments)]
async fn select_with<T>(
    db: &Database,
    plan: &Select,
    tmpl: &FindTemplate,
    params: &[Value],
    cap: Option<u64>,
    page_size: usize,
    sql: &SqlText,
    page: fn(&[u8]) -> Result<crate::rows::FindPage<T>>,
    doc: fn(Map<String, Value>) -> Result<T>,
) -> Result<Vec<T>> {
    match select_source(db, plan, tmpl, params, cap, page_size, sql).await? {
        Source::Pages(p) => (*p).all_with(page).await,
        Source::Sorted(docs) => docs.into_iter().map(doc).collect(),
    }
}

/// Every document matching `selector`, whole or with `fields`.
pub(crate) async fn matching(
    db: &Database,
    selector: &Tmpl,
    params: &[Value],
    fields: Option<&[String]>,
    planned: Option<&[String]>,
    sql: &SqlText,
) -> Result<Vec<Map<String, Value>>> {
    let req = FindTemplate::new(selector, fields, None, planned).request(params, db.profile().await?)?;
    Pager::new(db, req, None, 0, db.read_all_page_size().await?, sql).all().await
}

/// The `_id`s of every document matching `selector`, as a set (a live query's
/// starting point). Through the planned index when the policy chose one: only
/// `_id` is asked for, so CouchDB 3.4 answers from the index alone when it holds
/// every field the selector names (a covered read), and bookmark pages suffice,
/// since a repeated id changes no set. Otherwise a read like any other.
pub(crate) async fn matching_ids(
    db: &Database,
    selector: &Tmpl,
    params: &[Value],
    planned: Option<&[String]>,
    sql: &SqlText,
) -> Result<std::collections::HashSet<String>> {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "_id")]
        id: String,
    }
    const PAGE: u64 = 10_000;
    let fields = ["_id".to_string()];
    let template = FindTemplate::new(selector, Some(&fields), None, planned);
    let mut req = template.request(params, db.profile().await?)?;
    req.prepare_index(db, true).await?;
    if req.use_index.is_some() {
        let mut ids = std::collections::HashSet::new();
        let mut bookmark: Option<String> = None;
        let through_index = loop {
            let body = req.page_body(PAGE, 0, bookmark.as_deref(), None);
            let page = match db.send(Method::POST, "_find", Some(body)).await {
                Ok(bytes) => decode_page::<Id>(&bytes)?,
                // The index went away, or the server will not take it: read as any query does.
                Err(Error::BadRequest { .. } | Error::NotFound { .. }) => break false,
                Err(e) => return Err(e),
            };
            let n = page.docs.len() as u64;
            ids.extend(page.docs.into_iter().map(|d| d.id));
            if n < PAGE || page.bookmark.is_none() {
                break true;
            }
            bookmark = page.bookmark;
        };
        if through_index {
            return Ok(ids);
        }
    }
    let req = template.request(params, db.profile().await?)?;
    let docs: Vec<Id> = Pager::new(db, req, None, 0, db.read_all_page_size().await?, sql).all().await?;
    Ok(docs.into_iter().map(|d| d.id).collect())
}
