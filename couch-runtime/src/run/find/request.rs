//! A `_find` request: its body rendered once from the plan's template, page
//! after page; and, for a server that gets `$elemMatch` wrong, the exact selector
//! matched here.

use super::index::*;
use crate::error::{Error, Result};
use crate::indexes::{IndexChoice, IndexScope};
use crate::profile::ServerProfile;
use crate::run::{render_error, render_json};
use couch_semantics::Projection;
use couch_translate::{Compiled, Dialect, Select, Tmpl};
use serde_json::Value;
use std::sync::Arc;

/// The parts of a `_find` body that stay the same from page to page.
pub(crate) struct FindTemplate {
    pub(super) selector: Compiled,
    /// `,"fields":…,"sort":…`, rendered once.
    pub(super) tail: Arc<[u8]>,
    /// The tail without `fields`: whole documents, for a selector matched in the client.
    pub(super) tail_whole: Arc<[u8]>,
    pub(super) fields: Option<Arc<[String]>>,
    /// Fields of the json index the sort needs.
    pub(super) index: Option<Arc<[String]>>,
    /// The index planned for the query (when it does not sort on the server).
    pub(super) planned: Option<Arc<[String]>>,
    /// Fields every match has, and the model's non-`Option` fields (see [`Select`]).
    pub(super) required: Arc<[String]>,
    pub(super) not_null: Arc<[String]>,
    /// The selector or the projection names `_conflicts`; and the table's selector
    /// alone, for a server whose `_find` cannot read it (matched in the client).
    pub(super) conflicts: Option<Option<Tmpl>>,
    /// A partitioned table's partition, as the WHERE fixes it (see [`Partition`]).
    pub(super) partition: Option<couch_translate::Partition>,
}

/// Whether a selector template has `key` as an object key, at any depth.
fn names_key(t: &Tmpl, key: &str) -> bool {
    match t {
        Tmpl::Object(members) => members.iter().any(|(k, v)| k == key || names_key(v, key)),
        Tmpl::Array(items) => items.iter().any(|v| names_key(v, key)),
        _ => false,
    }
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
        // `_conflicts` is read only when asked for (a selector or a projection names it).
        let conflicts = names_key(selector, couch_translate::CONFLICTS)
            || fields.is_some_and(|f| f.iter().any(|x| x == couch_translate::CONFLICTS));
        if conflicts {
            tail.extend_from_slice(br#","conflicts":true"#);
        }
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
            conflicts: conflicts.then(|| sort.map(|s| s.key.selector(&s.table))),
            partition: None,
        }
    }

    /// The same template, of a partitioned table's statement.
    pub(crate) fn in_partition(mut self, partition: Option<&couch_translate::Partition>) -> Self {
        self.partition = partition.cloned();
        self
    }

    /// The template of a SELECT plan.
    pub(crate) fn of(plan: &Select) -> Self {
        FindTemplate::new(&plan.selector, plan.fields.as_deref(), Some(plan), plan.planned.as_deref())
            .in_partition(plan.partition.as_ref())
    }

    /// Renders the parts of the body that stay the same from page to page.
    pub(crate) fn request(&self, params: &[Value], profile: &ServerProfile) -> Result<FindRequest> {
        // Room for the parameters, so rendering never reallocates.
        let mut selector = Vec::with_capacity(self.selector.static_len() + 64);
        self.selector.render_in(params, profile.dialect, &mut selector).map_err(render_error)?;
        let (selector, client) = self.match_in_client(selector, params, profile)?;
        let (scope, partition) = (IndexScope::Database, None);
        Ok(FindRequest {
            scope,
            partition,
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
    /// The request for `db`: rendered for its server, and for a partitioned table
    /// in a partitioned database, sent to the partition the WHERE fixes.
    pub(crate) async fn request_for(&self, db: &crate::Database, params: &[Value]) -> Result<FindRequest> {
        let mut req = self.request(params, db.profile().await?)?;
        // A partitioned table in a partitioned database: to the partition the WHERE
        // fixes (partitioned indexes), else across all partitions (global indexes).
        if let Some(p) = &self.partition {
            if db.is_partitioned().await? {
                (req.scope, req.partition) = match crate::run::partition_value(p, params) {
                    Some(v) => (IndexScope::Partition, Some(v)),
                    None => (IndexScope::Global, None),
                };
            }
        }
        Ok(req)
    }

    /// On a server that gets `$elemMatch` wrong (pouchdb-server), a selector holding
    /// it is sent relaxed (a superset) and matched exactly here, with CouchDB's
    /// semantics; `fields` are then applied here too.
    pub(super) fn match_in_client(
        &self,
        rendered: Vec<u8>,
        params: &[Value],
        profile: &ServerProfile,
    ) -> Result<(Vec<u8>, Option<Arc<ClientMatch>>)> {
        // The exact match, done here: the selector as CouchDB reads it, then `fields`.
        let exact = |conflicts: bool| -> Result<Arc<ClientMatch>> {
            let selector = render_json(|out| self.selector.render_in(params, Dialect::embedded(), out))?;
            let fields = self.fields.as_deref().map(Projection::new);
            Ok(Arc::new(ClientMatch { selector, fields, conflicts }))
        };
        if let (Some(Some(table)), false) = (&self.conflicts, profile.find_conflicts) {
            // A server whose `_find` cannot read `_conflicts` (pouchdb-server): the
            // table's documents, their `_conflicts` read with `_all_docs`, matched here.
            let mut relaxed = Vec::new();
            table.render_in(&[], profile.dialect, &mut relaxed).map_err(render_error)?;
            return Ok((relaxed, Some(exact(true)?)));
        }
        let holds = |op: &[u8]| rendered.windows(op.len()).any(|w| w == op);
        if !profile.elem_match_in_client() || !(holds(b"\"$elemMatch\"") || holds(b"\"$allMatch\"")) {
            return Ok((rendered, None));
        }
        let as_sent: Value = serde_json::from_slice(&rendered).map_err(|e| Error::decode(None, None, e))?;
        let Some(relaxed) = couch_translate::relax::elem_match(&as_sent) else { return Ok((rendered, None)) };
        let client = exact(false)?;
        Ok((serde_json::to_vec(&relaxed).expect("JSON serializes"), Some(client)))
    }
}

/// The exact selector of a request whose server gets a relaxed one.
pub(crate) struct ClientMatch {
    /// Rendered for CouchDB's semantics (`couch_semantics::mango`).
    pub(super) selector: Value,
    /// The SELECT's `fields`, applied after matching.
    pub(super) fields: Option<Projection>,
    /// The documents' `_conflicts` are read (`_all_docs`) before matching.
    pub(super) conflicts: bool,
}

impl ClientMatch {
    /// A `_find` page with each document's `_conflicts` (read with `_all_docs`,
    /// which every server answers with them).
    pub(super) async fn with_conflicts(&self, db: &crate::Database, page: bytes::Bytes) -> Result<bytes::Bytes> {
        if !self.conflicts {
            return Ok(page);
        }
        let mut page: Value = serde_json::from_slice(&page)
            .map_err(|e| Error::decode(None, None, format!("malformed _find response: {e}")))?;
        let ids: Vec<Value> =
            page["docs"].as_array().into_iter().flatten().filter_map(|d| d.get("_id").cloned()).collect();
        if ids.is_empty() {
            return Ok(serde_json::to_vec(&page).expect("JSON serializes").into());
        }
        let body = serde_json::json!({ "keys": ids });
        let read = db.request("POST", "_all_docs?include_docs=true&conflicts=true", Some(&body)).await?;
        let mut conflicts = std::collections::HashMap::new();
        for row in read["rows"].as_array().into_iter().flatten() {
            if let (Some(id), Some(c)) = (row["id"].as_str(), row["doc"].get("_conflicts")) {
                conflicts.insert(id.to_string(), c.clone());
            }
        }
        for doc in page["docs"].as_array_mut().into_iter().flatten() {
            let c = doc.get("_id").and_then(Value::as_str).and_then(|id| conflicts.get(id)).cloned();
            if let (Some(c), Some(d)) = (c, doc.as_object_mut()) {
                d.insert("_conflicts".into(), c);
            }
        }
        Ok(serde_json::to_vec(&page).expect("JSON serializes").into())
    }

    /// The page with only the documents that match, after the first `skip_left`
    /// of them, projected; and how many documents the server sent.
    pub(super) fn filter(&self, page: &[u8], skip_left: &mut u64) -> Result<(bytes::Bytes, u64, Option<String>)> {
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

    pub(super) fn matches(&self, doc: &Value) -> bool {
        couch_semantics::mango::matches(&self.selector, doc)
    }

    pub(super) fn project(&self, doc: Value) -> Value {
        match &self.fields {
            Some(p) => p.apply(doc),
            None => doc,
        }
    }
}

/// A `_find` request, rendered except for its paging fields.
pub(crate) struct FindRequest {
    /// Which indexes it may read (a partitioned table's partition or all of them).
    pub(crate) scope: IndexScope,
    /// `_partition/{p}/_find` instead of `_find`.
    pub(crate) partition: Option<String>,
    /// The selector's JSON.
    pub(super) selector: Vec<u8>,
    /// `,"fields":…,"sort":…`.
    pub(super) tail: Arc<[u8]>,
    /// Fields of the json index the sort needs.
    pub(super) index: Option<Arc<[String]>>,
    /// The index planned for the query.
    pub(super) planned: Option<Arc<[String]>>,
    pub(super) required: Arc<[String]>,
    pub(super) not_null: Arc<[String]>,
    /// `,{"f":{"$exists":true}}…`: fields the chosen index needs the selector to require.
    pub(super) require: Vec<u8>,
    /// `,"use_index":[…]` when the request names its index.
    pub(super) use_index: Option<Vec<u8>>,
    /// Ask for `execution_stats`.
    pub(crate) stats: bool,
    /// The planned index no index covers yet: this read measures whether it pays
    /// (see `Pager::judge_planned_index`), with the choice's key.
    pub(super) judge: Option<(String, Arc<[String]>)>,
    /// The exact selector, when the server gets a relaxed one.
    pub(super) client: Option<Arc<ClientMatch>>,
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
    pub(super) fn page_body(&self, limit: u64, skip: u64, bookmark: Option<&str>, after: Option<&str>) -> Vec<u8> {
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

    pub(super) fn apply(&mut self, choice: &IndexChoice, name_it: bool) {
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
}
