//! `_find`, `_explain` and json indexes, with CouchDB's rules for when an index
//! is usable, and the same answers (`no_usable_index`, the "no matching index"
//! warning, `execution_stats`).

use crate::collate::compare;
use crate::mango;
use crate::store::{ApiError, Db, IndexEntries};
use couch_semantics::path::field_value;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::sync::Arc;

/// A json index, as its design document describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonIndex {
    /// `_design/…`
    pub ddoc: String,
    pub name: String,
    pub fields: Vec<String>,
    pub partial: Option<Value>,
    /// A partitioned database's index serves queries of one partition, or
    /// (`"partitioned": false`) the whole database.
    pub partitioned: bool,
}

impl JsonIndex {
    fn def(&self) -> Value {
        let fields: Vec<Value> = self.fields.iter().map(|f| json!({ f.clone(): "asc" })).collect();
        let mut def = json!({ "fields": fields });
        if let Some(p) = &self.partial {
            def["partial_filter_selector"] = p.clone();
        }
        def
    }

    fn describe(&self) -> Value {
        json!({"ddoc": self.ddoc, "name": self.name, "type": "json", "partitioned": self.partitioned, "def": self.def()})
    }
}

fn special() -> Value {
    json!({"ddoc": null, "name": "_all_docs", "type": "special", "def": {"fields": [{"_id": "asc"}]}})
}

/// The json indexes of a database, from its `language: "query"` design documents.
pub fn json_indexes(db: &Db) -> Vec<JsonIndex> {
    let mut out = Vec::new();
    for (id, doc) in db.docs.range("_design/".to_string().."_design0".to_string()) {
        if doc.deleted || doc.body.get("language").and_then(Value::as_str) != Some("query") {
            continue;
        }
        let Some(views) = doc.body.get("views").and_then(Value::as_object) else { continue };
        for (name, v) in views {
            let def = &v["options"]["def"];
            let fields: Vec<String> =
                def["fields"].as_array().map(|fs| fs.iter().filter_map(field_name).collect()).unwrap_or_default();
            if fields.is_empty() {
                continue;
            }
            let partial =
                def.get("partial_filter_selector").filter(|p| p.as_object().is_some_and(|m| !m.is_empty())).cloned();
            // CouchDB keeps it as the design document's `options.partitioned`.
            let partitioned = doc.body.get("options").and_then(|o| o.get("partitioned")).and_then(Value::as_bool);
            let partitioned = partitioned.unwrap_or(db.is_partitioned());
            out.push(JsonIndex { ddoc: id.clone(), name: name.clone(), fields, partial, partitioned });
        }
    }
    out
}

/// A field of an index or sort definition: `"f"` or `{"f": "asc"}`.
fn field_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) if m.len() == 1 => m.keys().next().cloned(),
        _ => None,
    }
}

/// The entries of the json index `name` of design document `ddoc`, if there is one.
pub fn index_entries(db: &Db, ddoc: &str, name: &str) -> Option<IndexEntries> {
    let idx = json_indexes(db).into_iter().find(|i| i.ddoc == ddoc && i.name == name)?;
    Some(entries(db, &idx))
}

/// The index's entry for one document, if it has every field (and passes the
/// partial filter).
fn entry(idx: &JsonIndex, id: &str, doc: &crate::store::Doc) -> Option<(Vec<Value>, String)> {
    if doc.deleted || id.starts_with("_design/") {
        return None;
    }
    let key: Vec<Value> = idx.fields.iter().map(|f| field_key(id, &doc.body, f)).collect::<Option<_>>()?;
    if let Some(p) = &idx.partial {
        if !mango::matches(p, &doc.to_json(id)) {
            return None;
        }
    }
    Some((key, id.to_string()))
}

fn entry_order(a: &(Vec<Value>, String), b: &(Vec<Value>, String)) -> Ordering {
    compare_keys(&a.0, &b.0).then_with(|| a.1.cmp(&b.1))
}

/// The index's entries `(key, id)`, sorted by key then id. Kept per database
/// sequence: after a few writes the entries of the documents written are taken
/// out and put back in place (O(n) moves, O(k log n) comparisons); after many, or
/// after a design document changed, the index is built again.
fn entries(db: &Db, idx: &JsonIndex) -> IndexEntries {
    let cache_key = format!("{}\u{0}{}", idx.ddoc, idx.name);
    // Readers share the database; the cache has a lock of its own, held while an
    // index is brought up to date: one reader does it, the others wait and share the
    // result (200 readers each copying a stale index would hold 200 copies).
    let mut cache = db.index_cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((built_at, e)) = cache.remove(&cache_key) {
        if built_at == db.seq {
            cache.insert(cache_key, (built_at, e.clone()));
            return e;
        }
        let changed: Vec<String> = db.changes.range(built_at + 1..).map(|(_, id)| id.clone()).collect();
        let few = changed.len().saturating_mul(8) <= e.len().max(64);
        if few && !changed.iter().any(|id| id.starts_with("_design/")) {
            let old = e;
            let mut old = Arc::try_unwrap(old).unwrap_or_else(|shared| (*shared).clone());
            // A sorted list, not a hash set: comparing an id usually stops at its first bytes.
            let mut gone: Vec<&str> = changed.iter().map(String::as_str).collect();
            gone.sort_unstable();
            old.retain(|(_, id)| gone.binary_search(&id.as_str()).is_err());
            let mut fresh: Vec<(Vec<Value>, String)> =
                changed.iter().filter_map(|id| db.docs.get(id).and_then(|d| entry(idx, id, d))).collect();
            fresh.sort_by(entry_order);
            // Where each goes, by binary search (fresh is sorted, so the places are too);
            // then one pass of moves, without comparing.
            let places: Vec<usize> = fresh.iter().map(|f| old.partition_point(|e| entry_order(e, f).is_lt())).collect();
            let mut merged = Vec::with_capacity(old.len() + fresh.len());
            let mut fresh = fresh.into_iter().zip(places).peekable();
            for (i, e) in old.into_iter().enumerate() {
                while let Some((f, _)) = fresh.next_if(|(_, place)| *place <= i) {
                    merged.push(f);
                }
                merged.push(e);
            }
            merged.extend(fresh.map(|(f, _)| f));
            let merged = Arc::new(merged);
            cache.insert(cache_key, (db.seq, merged.clone()));
            return merged;
        }
    }
    let mut out: Vec<(Vec<Value>, String)> = db.docs.iter().filter_map(|(id, d)| entry(idx, id, d)).collect();
    out.sort_by(entry_order);
    let out = Arc::new(out);
    cache.insert(cache_key, (db.seq, out.clone()));
    out
}

fn field_key(id: &str, body: &Map<String, Value>, field: &str) -> Option<Value> {
    if field == "_id" {
        return Some(Value::String(id.to_string()));
    }
    field_value(body, field).cloned()
}

fn compare_keys(a: &[Value], b: &[Value]) -> Ordering {
    a.iter().zip(b).map(|(x, y)| compare(x, y)).find(|o| o.is_ne()).unwrap_or_else(|| a.len().cmp(&b.len()))
}

/// A parsed `_find` request.
struct Request {
    selector: Value,
    limit: usize,
    skip: usize,
    sort: Vec<String>,
    desc: bool,
    fields: Option<Vec<String>>,
    bookmark: Option<Bookmark>,
    use_index: Option<(String, Option<String>)>,
    stats: bool,
    /// `conflicts: true`: each document with its `_conflicts`.
    conflicts: bool,
    /// The partition queried (`/db/_partition/{p}/_find`): partitioned indexes only.
    partition: Option<String>,
}

fn parse(req: &Value) -> Result<Request, ApiError> {
    let selector = req
        .get("selector")
        .cloned()
        .ok_or_else(|| ApiError::new(400, "missing_required_key", "Missing required key: selector"))?;
    if !selector.is_object() {
        let reason = format!("Selector must be a JSON object, not: {}", crate::json::to_text(&selector));
        return Err(ApiError::new(400, "invalid_selector_json", reason));
    }
    mango::validate(&selector)?;
    let count = |k: &str, default: usize| -> Result<usize, ApiError> {
        match req.get(k) {
            None => Ok(default),
            Some(v) => v.as_u64().map(|n| n as usize).ok_or_else(|| {
                let reason = format!("{} is not an integer greater than or equal to zero", crate::json::to_text(v));
                ApiError::new(400, "invalid_non_neg_integer", reason)
            }),
        }
    };
    let mut sort = Vec::new();
    let mut dirs = Vec::new();
    for s in req.get("sort").and_then(Value::as_array).into_iter().flatten() {
        let (f, d) = match s {
            Value::String(f) => (f.clone(), "asc"),
            Value::Object(m) if m.len() == 1 => {
                let (f, d) = m.iter().next().expect("one");
                (f.clone(), d.as_str().unwrap_or("asc"))
            }
            _ => return Err(ApiError::bad_request("Invalid sort field")),
        };
        if d != "asc" && d != "desc" {
            return Err(ApiError::bad_request(format!("Invalid sort direction: {d}")));
        }
        sort.push(f);
        dirs.push(d == "desc");
    }
    if dirs.windows(2).any(|w| w[0] != w[1]) {
        return Err(ApiError::new(
            400,
            "unsupported_mixed_sort",
            "Sorts currently only support a single direction for all fields.",
        ));
    }
    let fields = req
        .get("fields")
        .and_then(Value::as_array)
        .map(|fs| fs.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect());
    let bookmark = match req.get("bookmark").and_then(Value::as_str) {
        None | Some("nil") => None,
        Some(b) => Some(decode_bookmark(b).ok_or_else(|| {
            ApiError::new(
                400,
                "invalid_bookmark",
                format!("Invalid bookmark value: {}", crate::json::to_text(&json!(b))),
            )
        })?),
    };
    let use_index = match req.get("use_index") {
        Some(Value::String(s)) if !s.is_empty() => Some(split_ddoc(s, None)),
        Some(Value::Array(a)) => match a.as_slice() {
            [Value::String(d)] => Some(split_ddoc(d, None)),
            [Value::String(d), Value::String(n)] => Some(split_ddoc(d, Some(n.clone()))),
            [] => None,
            _ => return Err(ApiError::bad_request("Invalid use_index value")),
        },
        _ => None,
    };
    Ok(Request {
        selector,
        limit: count("limit", 25)?,
        skip: count("skip", 0)?,
        sort,
        desc: dirs.first().copied().unwrap_or(false),
        fields,
        bookmark,
        use_index,
        stats: req.get("execution_stats") == Some(&Value::Bool(true)),
        conflicts: req.get("conflicts") == Some(&Value::Bool(true)),
        partition: req.get("partition").and_then(Value::as_str).map(str::to_string),
    })
}

fn split_ddoc(d: &str, name: Option<String>) -> (String, Option<String>) {
    let d = d.strip_prefix("_design/").unwrap_or(d);
    match (d.split_once('/'), name) {
        (Some((ddoc, n)), None) => (format!("_design/{ddoc}"), Some(n.to_string())),
        (_, name) => (format!("_design/{d}"), name),
    }
}

/// Where the next page starts.
enum Bookmark {
    /// After this many rows.
    Offset(usize),
    /// After this row of the index.
    After(Position),
}

/// A bookmark for the rows after `pos`: hex of `[key, id]`, opaque to clients.
fn encode_bookmark(pos: &Position) -> String {
    let json = serde_json::to_string(&json!([pos.0, pos.1])).expect("JSON serializes");
    let hex: String = json.bytes().map(|b| format!("{b:02x}")).collect();
    format!("k{hex}")
}

fn decode_bookmark(b: &str) -> Option<Bookmark> {
    if let Some(n) = b.strip_prefix('o') {
        return usize::from_str_radix(n, 16).ok().map(Bookmark::Offset);
    }
    let hex = b.strip_prefix('k')?;
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
    let v: Value = serde_json::from_slice(&bytes?).ok()?;
    let id = v.get(1)?.as_str()?.to_string();
    Some(Bookmark::After((v.get(0)?.clone(), id)))
}

/// Whether CouchDB would use `idx` for this selector and sort (`mango_idx_view:is_usable`).
fn usable(idx: &JsonIndex, required: &[String], sort: &[String]) -> bool {
    let all_required = idx.fields.iter().all(|f| required.contains(f) || sort.contains(f));
    all_required && (sort.is_empty() || idx.fields.starts_with(sort))
}

/// How many leading index columns the selector narrows (equalities, then one range).
fn narrowed(idx: &JsonIndex, sel: &Value) -> usize {
    let mut n = 0;
    for f in &idx.fields {
        let conds = mango::field_conditions(sel, f);
        if conds.iter().any(|(op, _)| op == "$eq") {
            n += 1;
        } else {
            if conds.iter().any(|(op, _)| matches!(op.as_str(), "$gt" | "$gte" | "$lt" | "$lte" | "$beginsWith")) {
                n += 1;
            }
            break;
        }
    }
    n
}

enum Chosen {
    Special,
    Json(JsonIndex),
}

/// The index a query reads through, and a warning if it is not the asked one.
fn choose(db: &Db, r: &Request) -> Result<(Chosen, Option<String>), ApiError> {
    let required = mango::required_fields(&r.selector);
    // A query of one partition reads partitioned indexes, a global one global ones.
    let indexes: Vec<JsonIndex> =
        json_indexes(db).into_iter().filter(|i| i.partitioned == r.partition.is_some()).collect();
    let mut warning = None;
    if let Some((ddoc, name)) = &r.use_index {
        let named = indexes.iter().find(|i| i.ddoc == *ddoc && name.as_ref().is_none_or(|n| *n == i.name));
        match named {
            Some(i) if usable(i, &required, &r.sort) => return Ok((Chosen::Json(i.clone()), None)),
            _ => {
                let shown = ddoc.strip_prefix("_design/").unwrap_or(ddoc);
                warning = Some(match name {
                    Some(n) => {
                        format!("{shown}, {n} was not used because it does not contain a valid index for this query.")
                    }
                    None => format!("{shown} was not used because it does not contain a valid index for this query."),
                });
            }
        }
    }
    let best = indexes.iter().filter(|i| usable(i, &required, &r.sort)).max_by(|a, b| {
        narrowed(a, &r.selector)
            .cmp(&narrowed(b, &r.selector))
            .then_with(|| b.fields.len().cmp(&a.fields.len()))
            .then_with(|| b.name.cmp(&a.name))
    });
    match best {
        Some(i) => Ok((Chosen::Json(i.clone()), warning)),
        None if r.sort.is_empty() => Ok((Chosen::Special, warning)),
        // `_all_docs` serves a sort by `_id` when the selector constrains `_id` (mango_idx_special).
        None if r.sort == ["_id"] && required.iter().any(|f| f == "_id") => Ok((Chosen::Special, warning)),
        None => Err(ApiError::new(
            400,
            "no_usable_index",
            match (db.is_partitioned(), &r.partition) {
                (false, _) => "No index exists for this sort, try indexing by the sort fields.",
                (true, None) => "No global index exists for this sort, try indexing by the sort fields.",
                (true, Some(_)) => "No partitioned index exists for this sort, try indexing by the sort fields.",
            },
        )),
    }
}

/// The bounds a selector puts on one field: `(value, inclusive)` each.
type Bounds = (Option<(Value, bool)>, Option<(Value, bool)>);

fn bounds(sel: &Value, field: &str) -> Bounds {
    let (mut lo, mut hi): Bounds = (None, None);
    let tighter = |cur: &Option<(Value, bool)>, v: &Value, lower: bool| {
        cur.as_ref().is_none_or(|(c, _)| {
            let o = compare(v, c);
            if lower {
                o == Ordering::Greater
            } else {
                o == Ordering::Less
            }
        })
    };
    for (op, v) in mango::field_conditions(sel, field) {
        match op.as_str() {
            "$eq" => {
                lo = Some((v.clone(), true));
                hi = Some((v, true));
            }
            "$gt" | "$gte" if tighter(&lo, &v, true) => lo = Some((v, op == "$gte")),
            "$lt" | "$lte" if tighter(&hi, &v, false) => hi = Some((v, op == "$lte")),
            "$beginsWith" => {
                if let Some(p) = v.as_str() {
                    lo = Some((v.clone(), true));
                    hi = Some((Value::String(format!("{p}\u{10FFFF}")), true));
                }
            }
            _ => {}
        }
    }
    (lo, hi)
}

/// The slice of a sorted index the selector's leading equalities and range select.
fn index_range(entries: &[(Vec<Value>, String)], idx: &JsonIndex, sel: &Value) -> (usize, usize, Value, Value) {
    let mut prefix: Vec<Value> = Vec::new();
    let mut range: Bounds = (None, None);
    for f in &idx.fields {
        let (lo, hi) = bounds(sel, f);
        match (&lo, &hi) {
            (Some((a, true)), Some((b, true))) if compare(a, b) == Ordering::Equal => prefix.push(a.clone()),
            _ => {
                range = (lo, hi);
                break;
            }
        }
    }
    let n = prefix.len();
    let cmp_at = |key: &[Value], with: &Value| compare(&key[n], with);
    let start = entries.partition_point(|(k, _)| {
        let o = compare_keys(&k[..n], &prefix);
        o == Ordering::Less
            || o == Ordering::Equal
                && k.len() > n
                && match &range.0 {
                    Some((v, true)) => cmp_at(k, v) == Ordering::Less,
                    Some((v, false)) => cmp_at(k, v) != Ordering::Greater,
                    None => false,
                }
    });
    let end = entries.partition_point(|(k, _)| {
        let o = compare_keys(&k[..n], &prefix);
        o == Ordering::Less
            || o == Ordering::Equal
                && (k.len() == n
                    || match &range.1 {
                        Some((v, true)) => cmp_at(k, v) != Ordering::Greater,
                        Some((v, false)) => cmp_at(k, v) == Ordering::Less,
                        None => true,
                    })
    });
    let mut start_key = prefix.clone();
    start_key.extend(range.0.map(|(v, _)| v));
    let mut end_key = prefix;
    end_key.push(range.1.map_or(json!({}), |(v, _)| v));
    (start, end.max(start), Value::Array(start_key), Value::Array(end_key))
}

/// Where a page ends: the index key and id of its last row (what a bookmark holds).
type Position = (Value, String);

/// A document a query will read: where its json index entry is (its key is copied
/// only if it matches), its id, revision and body.
type Candidate = (Option<usize>, String, String, Arc<Map<String, Value>>);

/// Where a query's read is: the ids still to read (the primary index), or the
/// entries still to read of the json index it took at its start.
enum Cursor {
    Ids { lower: std::ops::Bound<String>, upper: std::ops::Bound<String>, desc: bool, done: bool },
    Index { entries: IndexEntries, start: usize, end: usize, desc: bool },
}

/// The read of a query from after `after` (or the start).
fn cursor(db: &Db, r: &Request, chosen: &Chosen, after: Option<&Position>) -> Cursor {
    use std::ops::Bound;
    match chosen {
        Chosen::Special => {
            let (lo, hi) = bounds(&r.selector, "_id");
            let bound = |b: Option<(Value, bool)>| match b {
                Some((Value::String(s), true)) => Bound::Included(s),
                Some((Value::String(s), false)) => Bound::Excluded(s),
                _ => Bound::Unbounded,
            };
            let (mut lower, mut upper) = (bound(lo), bound(hi));
            // Resume after the bookmark's id, in the direction of the read.
            if let Some((_, id)) = after {
                if r.desc {
                    upper = Bound::Excluded(id.clone());
                } else {
                    lower = Bound::Excluded(id.clone());
                }
            }
            let done = match (&lower, &upper) {
                (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                    a > b || a == b && !(matches!(lower, Bound::Included(_)) && matches!(upper, Bound::Included(_)))
                }
                _ => false,
            };
            Cursor::Ids { lower, upper, desc: r.desc, done }
        }
        Chosen::Json(idx) => {
            let entries = entries(db, idx);
            let (mut start, mut end, _, _) = index_range(&entries, idx, &r.selector);
            if let Some((Value::Array(key), id)) = after {
                let before = |e: &(Vec<Value>, String)| compare_keys(&e.0, key).then_with(|| e.1.cmp(id));
                if r.desc {
                    end = end.min(entries.partition_point(|e| before(e) == Ordering::Less));
                } else {
                    start = start.max(entries.partition_point(|e| before(e) != Ordering::Greater));
                }
            }
            Cursor::Index { entries, start, end: end.max(start), desc: r.desc }
        }
    }
}

impl Cursor {
    /// The next `n` documents of the read, taken under the database's read lock:
    /// ids and shared bodies, nothing copied, so that matching runs with the lock
    /// let go. Empty at the end.
    fn next(&mut self, db: &Db, n: usize) -> Vec<Candidate> {
        use std::ops::Bound;
        let mut out = Vec::with_capacity(n);
        let mut take = |at: Option<usize>, id: &String, doc: &crate::store::Doc| {
            if !doc.deleted && !id.starts_with("_design/") {
                out.push((at, id.clone(), doc.rev(), doc.body.clone()));
            }
        };
        match self {
            Cursor::Ids { done: true, .. } => {}
            Cursor::Ids { lower, upper, desc, done } => {
                let range = db.docs.range::<String, _>((lower.clone(), upper.clone()));
                let iter: Box<dyn Iterator<Item = (&String, &crate::store::Doc)>> =
                    if *desc { Box::new(range.rev()) } else { Box::new(range) };
                let mut last = None;
                for (read, (id, doc)) in iter.take(n).enumerate() {
                    take(None, id, doc);
                    last = Some((read, id.clone()));
                }
                match last {
                    Some((read, id)) if read + 1 == n => {
                        if *desc {
                            *upper = Bound::Excluded(id);
                        } else {
                            *lower = Bound::Excluded(id);
                        }
                    }
                    _ => *done = true,
                }
            }
            Cursor::Index { entries, start, end, desc } => {
                let k = n.min(*end - *start);
                let range = if *desc { *end - k..*end } else { *start..*start + k };
                let mut each = |at: usize| {
                    let id = &entries[at].1;
                    if let Some(doc) = db.docs.get(id) {
                        take(Some(at), id, doc);
                    }
                };
                if *desc {
                    range.rev().for_each(&mut each);
                    *end -= k;
                } else {
                    range.for_each(&mut each);
                    *start += k;
                }
            }
        }
        out
    }

    /// The index key of a candidate (`null` on the primary index).
    fn key(&self, at: Option<usize>) -> Value {
        match (self, at) {
            (Cursor::Index { entries, .. }, Some(at)) => Value::Array(entries[at].0.clone()),
            _ => Value::Null,
        }
    }

    fn at_end(&self) -> bool {
        match self {
            Cursor::Ids { done, .. } => *done,
            Cursor::Index { start, end, .. } => start >= end,
        }
    }
}

/// Matches a query's documents, a batch at a time, with no lock held while
/// matching: the first `max` matching documents with their positions, and the
/// stats. A long query (a slow `$regex`) holds up no reader and no writer; a
/// short one (a LIMIT) reads little more than it returns.
fn scan(db: &std::sync::RwLock<Db>, r: &Request, mut cursor: Cursor, max: usize) -> (Vec<(Position, Value)>, usize) {
    let mut examined = 0;
    let mut out = Vec::new();
    // `_rev` is given to the matcher only when the selector can look at it.
    let reads_rev = names_field(&r.selector, "_rev");
    let mut batch = 64;
    while out.len() < max && !cursor.at_end() {
        let (candidates, conflicts) = {
            let db = db.read().unwrap_or_else(|e| e.into_inner());
            let candidates = cursor.next(&db, batch);
            // `conflicts: true`: each document with its `_conflicts`, which the
            // selector may test, as CouchDB opens documents for such a query.
            let conflicts: Vec<Option<Value>> = match r.conflicts {
                true => {
                    candidates.iter().map(|(_, id, _, _)| db.docs.get(id.as_str()).and_then(conflicts_of)).collect()
                }
                false => Vec::new(),
            };
            (candidates, conflicts)
        };
        batch = (batch * 4).min(4096);
        for (i, (at, id, rev, mut body)) in candidates.into_iter().enumerate() {
            if out.len() >= max {
                break;
            }
            if let Some(Some(c)) = conflicts.get(i) {
                std::sync::Arc::make_mut(&mut body).insert("_conflicts".into(), c.clone());
            }
            examined += 1;
            let (id, rev) = (Value::String(id), Value::String(rev));
            if mango::matches_doc(&r.selector, &id, reads_rev.then_some(&rev), &body) {
                let mut row = Map::with_capacity(body.len() + 2);
                row.insert("_id".into(), id.clone());
                row.insert("_rev".into(), rev);
                row.extend(body.iter().map(|(k, v)| (k.clone(), v.clone())));
                let Value::String(id) = id else { unreachable!("made a string above") };
                out.push(((cursor.key(at), id), Value::Object(row)));
            }
        }
    }
    (out, examined)
}

/// A document's `_conflicts` (its live losing revisions), if it has any.
fn conflicts_of(d: &crate::store::Doc) -> Option<Value> {
    let live = d.losing_revs(false);
    (!live.is_empty()).then_some(Value::Array(live))
}

/// Whether a selector names `field` anywhere (as a key, at any depth).
fn names_field(selector: &Value, field: &str) -> bool {
    match selector {
        Value::Object(m) => m.iter().any(|(k, v)| k == field || names_field(v, field)),
        Value::Array(a) => a.iter().any(|v| names_field(v, field)),
        _ => false,
    }
}

/// `POST /db/_find`.
///
/// The documents to read are taken under the database's read lock; they are
/// matched after it is let go.
pub fn find(db: &std::sync::RwLock<Db>, req: &Value) -> Result<Value, ApiError> {
    let started = std::time::Instant::now();
    let r = parse(req)?;
    let (from, after) = match &r.bookmark {
        Some(Bookmark::Offset(n)) => (*n, None),
        Some(Bookmark::After(pos)) => (0, Some(pos)),
        None => (r.skip, None),
    };
    let (chosen, mut warning, cursor) = {
        let db = db.read().unwrap_or_else(|e| e.into_inner());
        let (chosen, warning) = choose(&db, &r)?;
        let cursor = cursor(&db, &r, &chosen, after);
        (chosen, warning, cursor)
    };
    let (matched, examined) = scan(db, &r, cursor, from.saturating_add(r.limit));
    let keys = examined;
    let page: Vec<(Position, Value)> = matched.into_iter().skip(from).take(r.limit).collect();
    let bookmark = match (page.last(), after) {
        (Some((pos, _)), _) => encode_bookmark(pos),
        (None, Some(pos)) => encode_bookmark(pos),
        (None, None) => "nil".to_string(),
    };
    let projection = r.fields.as_deref().map(couch_semantics::Projection::new);
    let docs: Vec<Value> = page
        .into_iter()
        .map(|(_, d)| match &projection {
            Some(p) => p.apply(d),
            None => d,
        })
        .collect();
    if matches!(chosen, Chosen::Special) && warning.is_none() {
        warning = Some("No matching index found, create an index to optimize query time.".into());
    }
    let mut out = json!({
        "docs": docs,
        "bookmark": bookmark,
    });
    if let Some(w) = warning {
        out["warning"] = Value::String(w);
    }
    if r.stats {
        out["execution_stats"] = json!({
            "total_keys_examined": keys,
            "total_docs_examined": examined,
            "total_quorum_docs_examined": 0,
            "results_returned": out["docs"].as_array().map_or(0, Vec::len),
            "execution_time_ms": started.elapsed().as_secs_f64() * 1000.0,
        });
    }
    Ok(out)
}

/// `POST /db/_explain`.
pub fn explain(db: &Db, dbname: &str, req: &Value) -> Result<Value, ApiError> {
    let r = parse(req)?;
    let (chosen, _) = choose(db, &r)?;
    let (index, start_key, end_key) = match &chosen {
        Chosen::Special => {
            let (lo, hi) = bounds(&r.selector, "_id");
            (special(), lo.map_or(Value::Null, |(v, _)| v), hi.map_or(json!("\u{10FFFF}"), |(v, _)| v))
        }
        Chosen::Json(idx) => {
            let entries = entries(db, idx);
            let (_, _, s, e) = index_range(&entries, idx, &r.selector);
            (idx.describe(), s, e)
        }
    };
    Ok(json!({
        "dbname": dbname,
        "index": index,
        "partitioned": false,
        "selector": r.selector,
        "opts": {
            "use_index": r.use_index.iter().map(|(d, n)| json!([d, n])).collect::<Vec<_>>(),
            "bookmark": "nil",
            "limit": r.limit,
            "skip": r.skip,
            "sort": r.sort.iter().map(|f| json!({ f.clone(): if r.desc { "desc" } else { "asc" } })).collect::<Vec<_>>(),
            "fields": r.fields.clone().map_or(json!("all_fields"), |f| json!(f)),
            "r": 1,
            "conflicts": false,
        },
        "limit": r.limit,
        "skip": r.skip,
        "fields": r.fields.map_or(json!("all_fields"), |f| json!(f)),
        "mrargs": {
            "start_key": start_key,
            "end_key": end_key,
            "direction": if r.desc { "rev" } else { "fwd" },
            "include_docs": true,
            "reduce": false,
        },
        "covering": false,
    }))
}

/// `GET /db/_index`.
pub fn list_indexes(db: &Db) -> Value {
    let mut indexes = vec![special()];
    indexes.extend(json_indexes(db).iter().map(JsonIndex::describe));
    json!({ "total_rows": indexes.len(), "indexes": indexes })
}

/// `POST /db/_index`: `(created, ddoc id, name)`.
pub fn create_index(db: &mut Db, req: &Value) -> Result<Value, ApiError> {
    if req.get("type").and_then(Value::as_str).is_some_and(|t| t != "json") {
        return Err(ApiError::bad_request("the embedded engine has json indexes only"));
    }
    let index = req.get("index").ok_or_else(|| ApiError::bad_request("Missing required key: index"))?;
    let fields: Vec<String> = index
        .get("fields")
        .and_then(Value::as_array)
        .map(|fs| fs.iter().filter_map(field_name).collect())
        .unwrap_or_default();
    if fields.is_empty() {
        return Err(ApiError::bad_request("Index definition must include fields"));
    }
    let def = json!({ "fields": fields.iter().map(|f| json!({ f.clone(): "asc" })).collect::<Vec<_>>() });
    let hash = {
        let text = def.to_string();
        let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        format!("{h:016x}")
    };
    let name = req.get("name").and_then(Value::as_str).map_or_else(|| hash.clone(), str::to_owned);
    let ddoc = req.get("ddoc").and_then(Value::as_str).map_or_else(
        || format!("_design/{hash}"),
        |d| {
            if d.starts_with("_design/") {
                d.to_string()
            } else {
                format!("_design/{d}")
            }
        },
    );
    let mut def = def;
    if let Some(p) = index.get("partial_filter_selector").or_else(|| req.get("partial_filter_selector")) {
        def["partial_filter_selector"] = p.clone();
    }
    let view = json!({ "map": { "fields": def["fields"].clone() }, "reduce": "_count", "options": { "def": def } });
    let existing = db.get(&ddoc).ok().map(|d| ((*d.body).clone(), d.rev()));
    let (mut body, rev) = existing.unwrap_or_else(|| (Map::new(), String::new()));
    let same =
        body.get("views").and_then(|v| v.get(&name)).is_some_and(|v| v["options"]["def"] == view["options"]["def"]);
    if same {
        return Ok(json!({ "result": "exists", "id": ddoc, "name": name }));
    }
    body.insert("language".into(), json!("query"));
    if db.is_partitioned() {
        let partitioned = req.get("partitioned").and_then(Value::as_bool).unwrap_or(true);
        body.insert("options".into(), json!({ "partitioned": partitioned }));
    }
    let views = body.entry("views").or_insert_with(|| json!({}));
    views[&name] = view;
    if !rev.is_empty() {
        body.insert("_rev".into(), json!(rev));
    }
    db.write(&ddoc, body)?;
    Ok(json!({ "result": "created", "id": ddoc, "name": name }))
}

/// `DELETE /db/_index/{ddoc}/json/{name}`.
pub fn delete_index(db: &mut Db, ddoc: &str, name: &str) -> Result<Value, ApiError> {
    let id = if ddoc.starts_with("_design/") { ddoc.to_string() } else { format!("_design/{ddoc}") };
    let doc = db.get(&id).map_err(|_| ApiError::not_found("Index not found"))?;
    let mut body = (*doc.body).clone();
    let rev = doc.rev();
    let removed = body.get_mut("views").and_then(Value::as_object_mut).and_then(|v| v.remove(name));
    if removed.is_none() {
        return Err(ApiError::not_found("Index not found"));
    }
    body.insert("_rev".into(), json!(rev));
    if body["views"].as_object().is_some_and(|v| v.is_empty()) {
        body.insert("_deleted".into(), json!(true));
    }
    db.write(&id, body)?;
    Ok(json!({ "ok": true }))
}
