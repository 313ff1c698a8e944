//! SELECT: where its rows come from (pages, or sorted in memory), and decoding them.

use super::pager::*;
use super::request::*;
use crate::client::Database;
use crate::error::{Error, Result};
use crate::profile::ServerProfile;
use crate::rows::{decode_page, ExecutionStats};
use crate::run::{by_id, count, SqlText};
use crate::sort::compare_docs;
use couch_translate::{Projected, Select, Tmpl};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

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
    let req = tmpl.request_for(db, params).await?;
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
pub(super) fn window<T>(rows: Vec<T>, offset: u64, limit: Option<u64>) -> Vec<T> {
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
    let req = tmpl.request(params, ServerProfile::offline())?;
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
    let mut req = tmpl.request_for(db, params).await?;
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
pub(super) async fn select_with<T>(
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
    partition: Option<&couch_translate::Partition>,
    sql: &SqlText,
) -> Result<Vec<Map<String, Value>>> {
    let req =
        FindTemplate::new(selector, fields, None, planned).in_partition(partition).request_for(db, params).await?;
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
    let mut req = template.request_for(db, params).await?;
    req.prepare_index(db, true).await?;
    if req.use_index.is_some() {
        let mut ids = std::collections::HashSet::new();
        let mut bookmark: Option<String> = None;
        let through_index = loop {
            let body = req.page_body(PAGE, 0, bookmark.as_deref(), None);
            let page = match db.find(req.partition.as_deref(), body).await {
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
    let req = template.request_for(db, params).await?;
    let docs: Vec<Id> = Pager::new(db, req, None, 0, db.read_all_page_size().await?, sql).all().await?;
    Ok(docs.into_iter().map(|d| d.id).collect())
}
