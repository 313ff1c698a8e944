//! The requests a plan sends, described without sending them (`couch-sql translate`).

use super::by_id;
use super::find::{first_find_body, FindTemplate};
use crate::client::encode_segment;
use crate::error::{Error, Result};
use couch_translate::{Plan, Select, TableKey, Tmpl};
use serde_json::Value;

/// One HTTP request of a statement.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSketch {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// Path below the server root, e.g. `/shop/_find`.
    pub path: String,
    /// The JSON body, if the request has one.
    pub body: Option<Value>,
    /// What the runtime does around it (paging, index creation, sorting).
    pub note: Option<String>,
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

fn find(db: &str, plan: &Select, params: &[Value], page_size: usize) -> Result<Vec<RequestSketch>> {
    if let Some(ids) = &plan.by_id {
        let ids = by_id::resolve(ids, params)?;
        return Ok(match ids.as_slice() {
            [id] => vec![RequestSketch {
                method: "GET",
                path: format!("/{db}/{}", encode_segment(id)),
                body: None,
                note: Some(format!("kept only if it is a document {}", plan.key.describe(&plan.table))),
            }],
            _ => vec![RequestSketch {
                method: "POST",
                path: format!("/{db}/_all_docs?include_docs=true"),
                body: Some(serde_json::json!({ "keys": ids })),
                note: Some(format!("keeps the documents {}", plan.key.describe(&plan.table))),
            }],
        });
    }
    let tmpl = FindTemplate::of(plan);
    let mut out = Vec::new();
    if let Some(index) = tmpl.request(params, crate::profile::ServerProfile::offline())?.index() {
        out.push(RequestSketch {
            method: "POST",
            path: format!("/{db}/_index"),
            body: Some(
                serde_json::json!({"index": {"fields": index}, "type": "json", "name": crate::index_name(index)}),
            ),
            note: Some("once per process and database, unless an index already covers the sort".into()),
        });
    }
    let note = if !plan.server_sort && !plan.order_by.is_empty() {
        "repeated with `bookmark` (or `skip`) until a page comes back short; the ORDER BY is finished in the client, \
         then OFFSET/LIMIT are applied"
    } else {
        "repeated with `bookmark` (or `skip`) until a page comes back short or LIMIT rows are read"
    };
    out.push(RequestSketch {
        method: "POST",
        path: format!("/{db}/_find"),
        body: Some(json(&first_find_body(plan, &tmpl, params, page_size)?)),
        note: Some(note.into()),
    });
    Ok(out)
}

fn read_then_write(
    db: &str,
    table: &str,
    key: &TableKey,
    selector: &Tmpl,
    by_id: &Option<Vec<Tmpl>>,
    params: &[Value],
    what: &str,
) -> Result<Vec<RequestSketch>> {
    let read = Select::read(table, key, selector, by_id, &None);
    let mut out = find(db, &read, params, crate::DEFAULT_PAGE_SIZE)?;
    out.push(RequestSketch {
        method: "POST",
        path: format!("/{db}/_bulk_docs"),
        body: None,
        note: Some(format!("{what}, with its `_rev`, in batches; conflicts are re-read and retried")),
    });
    Ok(out)
}

/// The requests `plan` sends with `params` bound.
pub fn sketch(plan: &Plan, params: &[Value], db: &str, page_size: usize) -> Result<Vec<RequestSketch>> {
    let db = encode_segment(db);
    match plan {
        Plan::Select(s) => find(&db, s, params, page_size),
        Plan::Aggregate(a) if a.view.is_some() => {
            let v = a.view.as_ref().expect("matched");
            let mut out = vec![RequestSketch {
                method: "PUT",
                path: format!("/{db}/_design/{}", encode_segment(&v.ddoc)),
                body: Some(serde_json::json!({ "language": "javascript", "views": v.views, "couchsql": v.spec })),
                note: Some(
                    "the view path (the WHERE is equalities on columns): once per process and database, if missing"
                        .into(),
                ),
            }];
            let views = std::iter::once("sums".to_string()).chain(
                (0..v.slots.iter().filter(|s| matches!(s, couch_translate::AggSlot::Stats { .. })).count())
                    .map(|i| format!("stats{i}")),
            );
            for name in views {
                out.push(RequestSketch {
                    method: "GET",
                    path: format!("/{db}/_design/{}/_view/{name}?group_level=…", encode_segment(&v.ddoc)),
                    body: None,
                    note: Some("one row per group, reduced by CouchDB; HAVING, ORDER BY and LIMIT apply here".into()),
                });
            }
            Ok(out)
        }
        Plan::Aggregate(a) => {
            let mut out = find(&db, &a.read, params, page_size)?;
            if let Some(last) = out.last_mut() {
                last.note = Some(
                    "the streaming path (no model to read values by their kind, a WHERE beyond `col = value` ANDs, or \
                     MIN/MAX of text): read page by page, each document folded into its group's COUNT/SUM/AVG/MIN/MAX \
                     here, then HAVING, ORDER BY and LIMIT/OFFSET apply to the groups"
                        .into(),
                );
            }
            Ok(out)
        }
        Plan::Insert(i) => {
            let docs: Vec<Value> =
                i.rows.iter().map(|r| r.to_value(params).map_err(super::render_error)).collect::<Result<_>>()?;
            Ok(vec![RequestSketch {
                method: "POST",
                path: format!("/{db}/_bulk_docs"),
                body: Some(serde_json::json!({ "docs": docs })),
                note: Some("each document without `_id` gets a client-generated one".into()),
            }])
        }
        Plan::Update(u) => read_then_write(
            &db,
            &u.table,
            &u.key,
            &u.selector,
            &u.by_id,
            params,
            "writes each matching document back, changed",
        ),
        Plan::Delete(d) => read_then_write(
            &db,
            &d.table,
            &d.key,
            &d.selector,
            &d.by_id,
            params,
            "writes `_deleted: true` for each matching document",
        ),
        Plan::CreateIndex(i) => Ok(vec![RequestSketch {
            method: "POST",
            path: format!("/{db}/_index"),
            body: Some(
                serde_json::json!({"index": {"fields": i.fields}, "name": i.name, "ddoc": i.name, "type": "json"}),
            ),
            note: None,
        }]),
        Plan::DropIndex(i) => Ok(vec![RequestSketch {
            method: "DELETE",
            path: format!("/{db}/_index/{}/json/{}", encode_segment(&i.name), encode_segment(&i.name)),
            body: None,
            note: Some("after GET /{db}/_index finds the index's design document".into()),
        }]),
        Plan::Explain(s) => {
            let tmpl = FindTemplate::of(s);
            Ok(vec![RequestSketch {
                method: "POST",
                path: format!("/{db}/_explain"),
                body: Some(json(&first_find_body(s, &tmpl, params, page_size)?)),
                note: None,
            }])
        }
    }
    .map_err(|e: Error| e)
}
