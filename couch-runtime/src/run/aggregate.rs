//! Aggregate SELECTs: the matching documents are read page by page and folded
//! into one accumulator per group (memory O(groups), not O(rows)); HAVING,
//! ORDER BY and LIMIT/OFFSET then apply to the groups.

use super::{count, select_source, FindTemplate, Source, SqlText};
use crate::client::Database;
use crate::error::{Error, Result};
use crate::sort::compare_nullable;
use couch_semantics::collate::Collation;
use couch_translate::{AggCall, AggFunc, AggSlot, AggValue, AggView, Aggregate, Having, HavingTerm, Kind};
use reqwest::Method;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

/// A value as SQL sees it in a column of `kind`: NULL (`None`) when missing,
/// null, or of another kind.
fn sql_value(v: Option<&Value>, kind: Kind) -> Option<&Value> {
    let v = v.filter(|v| !v.is_null())?;
    let fits = match kind {
        // `3.0` is an integer, as JavaScript (and so the view path) reads it.
        Kind::Integer => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0),
        Kind::Float => v.is_number(),
        Kind::Text | Kind::DateTime => v.is_string(),
        Kind::Bool => v.is_boolean(),
        Kind::Object => v.is_object(),
        Kind::Array => v.is_array(),
        Kind::Json => true,
    };
    fits.then_some(v)
}

/// [`sql_value`], owned, with an integral float of an integer column as an integer
/// (`3.0` → `3`), as the view path returns it.
fn sql_owned(v: Option<&Value>, kind: Kind) -> Value {
    match sql_value(v, kind) {
        None => Value::Null,
        Some(Value::Number(n)) if kind == Kind::Integer && !(n.is_i64() || n.is_u64()) => {
            Value::from(n.as_f64().unwrap_or(0.0) as i64)
        }
        Some(v) => v.clone(),
    }
}

/// One aggregate's running state.
#[derive(Debug, Clone)]
enum Acc {
    Count(i64),
    /// Exact integer sum (i128 holds any sum of i64s a page can carry), and whether any value was seen.
    IntSum(i128, bool),
    FloatSum(f64, bool),
    /// Without a model: integers while every value is one, else a float.
    AnySum {
        int: i128,
        float: f64,
        all_int: bool,
        seen: bool,
    },
    Avg(f64, i64),
    Extreme(Option<Value>),
}

impl Acc {
    fn new(call: &AggCall) -> Acc {
        match call.func {
            AggFunc::CountAll | AggFunc::Count => Acc::Count(0),
            AggFunc::Sum if call.integer => Acc::IntSum(0, false),
            AggFunc::Sum if call.field.as_ref().is_some_and(|f| f.1 == Kind::Json) => {
                Acc::AnySum { int: 0, float: 0.0, all_int: true, seen: false }
            }
            AggFunc::Sum => Acc::FloatSum(0.0, false),
            AggFunc::Avg => Acc::Avg(0.0, 0),
            AggFunc::Min | AggFunc::Max => Acc::Extreme(None),
        }
    }

    fn add(&mut self, call: &AggCall, doc: &Map<String, Value>, collation: Collation) -> Result<()> {
        let v = match &call.field {
            None => {
                if let Acc::Count(n) = self {
                    *n += 1;
                }
                return Ok(());
            }
            Some((field, kind)) => match sql_value(couch_semantics::path::field_value(doc, field), *kind) {
                Some(v) => v,
                None => return Ok(()), // aggregates skip NULL
            },
        };
        match self {
            Acc::Count(n) => *n += 1,
            Acc::IntSum(s, seen) => {
                let x = v
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| v.as_u64().map(i128::from))
                    .or_else(|| v.as_f64().filter(|f| f.is_finite() && f.fract() == 0.0).map(|f| f as i128));
                // A number that is not an integer is NULL in an integer column (skipped).
                if let Some(x) = x {
                    *s += x;
                    *seen = true;
                }
            }
            Acc::AnySum { int, float, all_int, seen } => {
                if let Some(x) = v.as_f64() {
                    *float += x;
                    *seen = true;
                    match v.as_i64() {
                        Some(i) => *int += i128::from(i),
                        None => *all_int = false,
                    }
                }
            }
            Acc::FloatSum(s, seen) => {
                if let Some(x) = v.as_f64() {
                    *s += x;
                    *seen = true;
                }
            }
            Acc::Avg(s, n) => {
                if let Some(x) = v.as_f64() {
                    *s += x;
                    *n += 1;
                }
            }
            Acc::Extreme(best) => {
                let better = match best {
                    None => true,
                    Some(b) => {
                        let o = collation.compare(v, b);
                        if call.func == AggFunc::Min {
                            o == Ordering::Less
                        } else {
                            o == Ordering::Greater
                        }
                    }
                };
                if better {
                    let kind = call.field.as_ref().map_or(Kind::Json, |f| f.1);
                    *best = Some(sql_owned(Some(v), kind));
                }
            }
        }
        Ok(())
    }

    fn finish(self, name: &str) -> Result<Value> {
        Ok(match self {
            Acc::Count(n) => Value::from(n),
            Acc::IntSum(_, false)
            | Acc::FloatSum(_, false)
            | Acc::AnySum { seen: false, .. }
            | Acc::Avg(_, 0)
            | Acc::Extreme(None) => Value::Null,
            Acc::AnySum { int, all_int: true, .. } if i64::try_from(int).is_ok() => Value::from(int as i64),
            Acc::AnySum { float, .. } => serde_json::Number::from_f64(float).map_or(Value::Null, Value::Number),
            Acc::IntSum(s, true) => Value::from(i64::try_from(s).map_err(|_| Error::Invalid {
                what: "aggregate",
                message: format!("{name}: the sum {s} does not fit in an i64"),
            })?),
            Acc::FloatSum(s, true) => serde_json::Number::from_f64(s).map_or(Value::Null, Value::Number),
            Acc::Avg(s, n) => serde_json::Number::from_f64(s / n as f64).map_or(Value::Null, Value::Number),
            Acc::Extreme(Some(v)) => v,
        })
    }
}

/// `None` for SQL's NULL.
fn non_null(v: &Value) -> Option<&Value> {
    (!v.is_null()).then_some(v)
}

/// A group's values: its key, then its aggregates.
struct GroupRow {
    key: Vec<Value>,
    aggs: Vec<Value>,
}

impl GroupRow {
    fn get(&self, v: AggValue) -> &Value {
        match v {
            AggValue::Group(i) => &self.key[i],
            AggValue::Agg(i) => &self.aggs[i],
        }
    }
}

/// Folds documents into groups.
struct Folder<'p> {
    plan: &'p Aggregate,
    /// The server's order: MIN and MAX of strings agree with its sorts.
    collation: Collation,
    groups: HashMap<Vec<Value>, Vec<Acc>>,
    /// Groups in first-seen order, so results without ORDER BY are stable.
    order: Vec<Vec<Value>>,
}

impl<'p> Folder<'p> {
    fn new(plan: &'p Aggregate, collation: Collation) -> Self {
        Folder { plan, collation, groups: HashMap::new(), order: Vec::new() }
    }

    fn add(&mut self, doc: &Map<String, Value>) -> Result<()> {
        let key: Vec<Value> = self
            .plan
            .groups
            .iter()
            .map(|g| sql_owned(couch_semantics::path::field_value(doc, &g.field), g.kind))
            .collect();
        if !self.groups.contains_key(&key) {
            self.order.push(key.clone());
            self.groups.insert(key.clone(), self.plan.aggs.iter().map(Acc::new).collect());
        }
        let accs = self.groups.get_mut(&key).expect("inserted above");
        for (acc, call) in accs.iter_mut().zip(&self.plan.aggs) {
            acc.add(call, doc, self.collation)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<GroupRow>> {
        if self.order.is_empty() {
            return empty(self.plan);
        }
        let names: Vec<String> = self.plan.aggs.iter().map(describe).collect();
        let mut out = Vec::with_capacity(self.order.len());
        for key in self.order {
            let accs = self.groups.remove(&key).expect("every key has accumulators");
            let aggs = accs.into_iter().zip(&names).map(|(a, n)| a.finish(n)).collect::<Result<_>>()?;
            out.push(GroupRow { key, aggs });
        }
        Ok(out)
    }
}

/// The rows over no documents: none with GROUP BY; without it one, where COUNT is 0 and the rest NULL.
fn empty(plan: &Aggregate) -> Result<Vec<GroupRow>> {
    if plan.grouped {
        return Ok(vec![]);
    }
    let aggs = plan.aggs.iter().map(|a| Acc::new(a).finish(&describe(a))).collect::<Result<_>>()?;
    Ok(vec![GroupRow { key: vec![], aggs }])
}

fn describe(call: &AggCall) -> String {
    let f = format!("{:?}", call.func).to_uppercase();
    match &call.field {
        Some((field, _)) => format!("{f}({field})"),
        None => "COUNT(*)".into(),
    }
}

/// SQL's three-valued HAVING.
fn having(h: &Having, row: &GroupRow, params: &[Value], collation: Collation) -> Result<Option<bool>> {
    let term = |t: &HavingTerm| -> Result<Value> {
        Ok(match t {
            HavingTerm::Value(v) => row.get(*v).clone(),
            HavingTerm::Const(c) => c.to_value(params).map_err(super::render_error)?,
        })
    };
    Ok(match h {
        Having::And(a, b) => match (having(a, row, params, collation)?, having(b, row, params, collation)?) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Having::Or(a, b) => match (having(a, row, params, collation)?, having(b, row, params, collation)?) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Having::Not(a) => having(a, row, params, collation)?.map(|b| !b),
        Having::IsNull(t, negated) => Some(term(t)?.is_null() != *negated),
        Having::Cmp(op, a, b) => {
            let (a, b) = (term(a)?, term(b)?);
            if a.is_null() || b.is_null() {
                None
            } else {
                let o = collation.compare(&a, &b);
                Some(match op.as_str() {
                    "=" => o == Ordering::Equal,
                    "<>" => o != Ordering::Equal,
                    "<" => o == Ordering::Less,
                    "<=" => o != Ordering::Greater,
                    ">" => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                })
            }
        }
    })
}

/// The streaming path: every matching document read page by page and folded into its group.
async fn stream(
    db: &Database,
    plan: &Aggregate,
    tmpl: &FindTemplate,
    params: &[Value],
    page_size: usize,
    sql: &SqlText,
) -> Result<Vec<GroupRow>> {
    let mut folder = Folder::new(plan, db.profile().await?.collation);
    match select_source(db, &plan.read, tmpl, params, None, page_size, sql).await? {
        Source::Sorted(docs) => {
            for d in &docs {
                folder.add(d)?;
            }
        }
        Source::Pages(mut pager) => {
            while let Some(docs) = pager.next_page_with(crate::rows::decode_page::<Map<String, Value>>).await? {
                for d in &docs {
                    folder.add(d)?;
                }
            }
        }
    }
    folder.finish()
}

/// Creates the view's design document if it does not exist; whether it was created now.
/// With `partitioned`, a partitioned design document (`_partition/{p}/…` reads it);
/// otherwise a global one.
pub(crate) async fn create_view(db: &Database, view: &AggView, partitioned: bool) -> Result<bool> {
    let path = format!("_design/{}", crate::encode_segment(&view.ddoc));
    match db.send(Method::GET, &path, None).await {
        Ok(_) => Ok(false),
        Err(Error::NotFound { .. }) => {
            // Global: in a partitioned database a design document is partitioned unless
            // it says not, and a partitioned view answers only per partition.
            let body = serde_json::json!({
                "language": "javascript", "views": view.views, "couchsql": view.spec,
                "options": { "partitioned": partitioned },
            });
            let put = match db.quorum.write {
                Some(w) => format!("{path}?w={w}"),
                None => path,
            };
            match db.send(Method::PUT, &put, Some(body.to_string().into_bytes())).await {
                Ok(_) => Ok(true),
                Err(Error::Conflict { .. }) => Ok(false), // a concurrent creator wrote the same content
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Makes sure the view's design document exists, unless this process already did;
/// `false` when it cannot be used: the server refuses to create it (design
/// documents need a database admin), or under [`IndexPolicy::Explicit`](crate::IndexPolicy)
/// it was not made by `ensure_indexes`.
async fn ensure_view(db: &Database, view: &AggView, partition: Option<&str>) -> Result<bool> {
    let key = format!("view\u{0}{}", view.ddoc);
    if let Some(c) = db.index_choice(&key) {
        return Ok(c != crate::indexes::IndexChoice::None);
    }
    let made = if db.index_policy == crate::IndexPolicy::Explicit {
        let path = format!("_design/{}", crate::encode_segment(&view.ddoc));
        match db.send(Method::GET, &path, None).await {
            Ok(_) => Ok(()),
            Err(Error::NotFound { reason }) => Err(Error::Forbidden { reason }),
            Err(e) => Err(e),
        }
    } else {
        create_view(db, view, partition.is_some()).await.map(|_| ())
    };
    let ok = match made {
        Ok(()) => true,
        Err(e) if e.is_refusal() => {
            tracing::warn!(error = %e, ddoc = %view.ddoc, "could not create the aggregate's view; aggregating in the client");
            false
        }
        Err(e) => return Err(e),
    };
    let choice = if ok {
        crate::indexes::IndexChoice::Use { ddoc: view.ddoc.clone(), name: view.ddoc.clone(), require: vec![] }
    } else {
        crate::indexes::IndexChoice::None
    };
    db.choose_index(&key, choice);
    Ok(ok)
}

#[derive(serde::Deserialize)]
struct ViewRows {
    rows: Vec<ViewRow>,
}

#[derive(serde::Deserialize)]
struct ViewRow {
    #[serde(default)]
    key: Value,
    value: Value,
}

/// The key range of the WHERE: the equalities' values, then the range column's
/// bounds (`{}` sorts after every scalar, so `[v, {}]` is just after all keys `[v, …]`).
struct Keys {
    start: Vec<Value>,
    end: Vec<Value>,
    inclusive_end: bool,
}

impl Keys {
    fn of(prefix: &[Value], range: Option<&[Option<(Value, bool)>; 2]>) -> Keys {
        let after = || serde_json::json!({});
        let (mut start, mut end) = (prefix.to_vec(), prefix.to_vec());
        let mut inclusive_end = true;
        match range {
            None => end.push(after()),
            Some([lower, upper]) => {
                match lower {
                    Some((v, true)) => start.push(v.clone()),
                    Some((v, false)) => start.extend([v.clone(), after()]),
                    // NULL (and wrong-typed) values are emitted as null: never in a range.
                    None => start.extend([Value::Null, after()]),
                }
                match upper {
                    Some((v, true)) => end.extend([v.clone(), after()]),
                    Some((v, false)) => {
                        end.push(v.clone());
                        inclusive_end = false;
                    }
                    None => end.push(after()),
                }
            }
        }
        Keys { start, end, inclusive_end }
    }
}

/// One reduced view, grouped at `level`, within `keys`.
async fn query_view(
    db: &Database,
    view: &AggView,
    partition: Option<&str>,
    name: &str,
    keys: &Keys,
    level: usize,
) -> Result<Vec<ViewRow>> {
    let mut q = if level == 0 { "group=false".to_string() } else { format!("group_level={level}") };
    if !keys.start.is_empty() {
        let enc = |v: &[Value]| crate::encode_segment(&Value::Array(v.to_vec()).to_string());
        q.push_str(&format!("&startkey={}&endkey={}", enc(&keys.start), enc(&keys.end)));
        if !keys.inclusive_end {
            q.push_str("&inclusive_end=false");
        }
    }
    let mut path = format!("_design/{}/_view/{name}?{q}", crate::encode_segment(&view.ddoc));
    if let Some(p) = partition {
        path = format!("_partition/{}/{path}", crate::encode_segment(p));
    }
    let bytes = db.send(Method::GET, &path, None).await?;
    let rows: ViewRows = serde_json::from_slice(&bytes)
        .map_err(|e| Error::decode(None, None, format!("malformed view response: {e}")))?;
    Ok(rows.rows)
}

/// The view path: the groups as CouchDB's reduces computed them. `None` when the
/// view cannot be made here (the streaming path answers instead).
async fn from_view(db: &Database, plan: &Aggregate, view: &AggView, params: &[Value]) -> Result<Option<Vec<GroupRow>>> {
    let value = |t: &couch_translate::Tmpl| t.to_value(params).map_err(super::render_error);
    let prefix: Vec<Value> = view.prefix.iter().map(value).collect::<Result<_>>()?;
    let range = match &view.range {
        None => None,
        Some(r) => {
            let bound = |b: &Option<(couch_translate::Tmpl, bool)>| -> Result<Option<(Value, bool)>> {
                b.as_ref().map(|(t, inclusive)| Ok((value(t)?, *inclusive))).transpose()
            };
            Some([bound(&r.lower)?, bound(&r.upper)?])
        }
    };
    // A comparison with NULL is never true: no documents.
    let null_bound = range.iter().flatten().flatten().any(|(v, _)| v.is_null());
    if prefix.iter().any(Value::is_null) || null_bound {
        return empty(plan).map(Some);
    }
    // A partitioned table's aggregate over one partition reads a partitioned view of it.
    let partition = match &plan.read.partition {
        Some(p) if db.is_partitioned().await? => super::partition_value(p, params),
        _ => None,
    };
    let partitioned_view;
    let view = match &partition {
        Some(_) => {
            partitioned_view = AggView { ddoc: format!("{}-partitioned", view.ddoc), ..view.clone() };
            &partitioned_view
        }
        None => view,
    };
    let partition = partition.as_deref();
    if !ensure_view(db, view, partition).await? {
        return Ok(None);
    }
    let keys = Keys::of(&prefix, range.as_ref());
    // The range column's values are keys too: its rows are folded into their groups here.
    let skip = prefix.len() + usize::from(range.is_some());
    let g = if plan.grouped { plan.groups.len() } else { 0 };
    let level = skip + g;
    let group_key = |row: &ViewRow| -> Vec<Value> {
        match &row.key {
            Value::Array(k) => k.iter().skip(skip).take(g).cloned().collect(),
            _ => vec![],
        }
    };
    let sum_rows = match query_view(db, view, partition, "sums", &keys, level).await {
        Err(Error::NotFound { .. }) => {
            // Deleted since this process made it: make it again.
            db.forget_choice(&format!("view\u{0}{}", view.ddoc));
            ensure_view(db, view, partition).await?;
            query_view(db, view, partition, "sums", &keys, level).await?
        }
        r => r?,
    };
    let mut sums: Vec<(Vec<Value>, Vec<f64>, Vec<Value>)> = Vec::new();
    for row in &sum_rows {
        let key = group_key(row);
        let values = row.value.as_array().cloned().unwrap_or_default();
        match sums.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, floats, exact)) => {
                for (i, v) in values.iter().enumerate() {
                    floats[i] += v.as_f64().unwrap_or(0.0);
                    exact[i] = match (exact[i].as_i64(), v.as_i64()) {
                        (Some(a), Some(b)) => a.checked_add(b).map_or(Value::Null, Value::from),
                        _ => Value::Null,
                    };
                }
            }
            None => sums.push((key, values.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect(), values)),
        }
    }
    let mut stats: Vec<HashMap<Vec<Value>, (Value, Value)>> = Vec::new();
    let views = view.slots.iter().filter_map(|s| if let AggSlot::Stats { view, .. } = s { Some(*view) } else { None });
    for i in 0..views.max().map_or(0, |m| m + 1) {
        let mut by_group: HashMap<Vec<Value>, (Value, Value)> = HashMap::new();
        for r in query_view(db, view, partition, &format!("stats{i}"), &keys, level).await? {
            let (min, max) = (
                r.value.get("min").cloned().unwrap_or(Value::Null),
                r.value.get("max").cloned().unwrap_or(Value::Null),
            );
            let e = by_group.entry(group_key(&r)).or_insert_with(|| (min.clone(), max.clone()));
            if Collation::Icu.compare(&min, &e.0) == Ordering::Less {
                e.0 = min;
            }
            if Collation::Icu.compare(&max, &e.1) == Ordering::Greater {
                e.1 = max;
            }
        }
        stats.push(by_group);
    }
    let mut out = Vec::with_capacity(sums.len());
    for (key, floats, exact) in &sums {
        let key = key.clone();
        // Sums of integers stay exact when the server's are (CouchDB's are).
        let num = |i: usize| match exact.get(i) {
            Some(v) if v.is_i64() => v.clone(),
            _ => floats.get(i).and_then(|f| serde_json::Number::from_f64(*f)).map_or(Value::Null, Value::Number),
        };
        let count = |i: usize| num(i).as_f64().unwrap_or(0.0);
        let mut aggs = Vec::with_capacity(view.slots.len());
        for (slot, call) in view.slots.iter().zip(&plan.aggs) {
            aggs.push(match slot {
                AggSlot::Count(i) => Value::from(count(*i) as i64),
                AggSlot::Sum { count: c, .. } | AggSlot::Avg { count: c, .. } if count(*c) == 0.0 => Value::Null,
                AggSlot::Sum { sum, integer: true, .. } => {
                    let s = num(*sum);
                    let exact = s
                        .as_i64()
                        .or_else(|| s.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.3e18).map(|f| f as i64));
                    Value::from(exact.ok_or_else(|| Error::Invalid {
                        what: "aggregate",
                        message: format!("{}: the sum {s} does not fit in an i64", describe(call)),
                    })?)
                }
                AggSlot::Sum { sum, .. } => num(*sum),
                AggSlot::Avg { count: c, sum } => {
                    serde_json::Number::from_f64(num(*sum).as_f64().unwrap_or(0.0) / count(*c))
                        .map_or(Value::Null, Value::Number)
                }
                AggSlot::Stats { view: v, max } => stats[*v]
                    .get(&key)
                    .map(|(lo, hi)| if *max { hi.clone() } else { lo.clone() })
                    .unwrap_or(Value::Null),
            });
        }
        out.push(GroupRow { key, aggs });
    }
    if out.is_empty() {
        return empty(plan).map(Some);
    }
    Ok(Some(out))
}

/// Runs an aggregate plan: one JSON object per result row, keyed by the row's field names.
pub(crate) async fn aggregate(
    db: &Database,
    plan: &Aggregate,
    tmpl: &FindTemplate,
    params: &[Value],
    page_size: usize,
    sql: &SqlText,
) -> Result<Vec<Map<String, Value>>> {
    let groups = match &plan.view {
        Some(view) if db.index_policy != crate::IndexPolicy::Never => match from_view(db, plan, view, params).await? {
            Some(groups) => groups,
            None => stream(db, plan, tmpl, params, page_size, sql).await?,
        },
        _ => stream(db, plan, tmpl, params, page_size, sql).await?,
    };
    let collation = db.profile().await?.collation;
    let mut rows = Vec::new();
    for row in groups {
        let keep = match &plan.having {
            None => true,
            Some(h) => having(h, &row, params, collation)? == Some(true),
        };
        if keep {
            rows.push(row);
        }
    }
    if !plan.order_by.is_empty() {
        rows.sort_by(|a, b| {
            plan.order_by
                .iter()
                .map(|k| {
                    compare_nullable(collation, non_null(a.get(k.by)), non_null(b.get(k.by)), k.desc, k.nulls_first)
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
    }
    let offset = count(plan.offset, params, "OFFSET")?.unwrap_or(0);
    let limit = count(plan.limit, params, "LIMIT")?;
    let rows = rows.into_iter().skip(usize::try_from(offset).unwrap_or(usize::MAX));
    let rows: Vec<GroupRow> = match limit {
        Some(l) => rows.take(usize::try_from(l).unwrap_or(usize::MAX)).collect(),
        None => rows.collect(),
    };
    Ok(rows
        .into_iter()
        .map(|r| plan.output.iter().map(|o| (o.name.clone(), r.get(o.value).clone())).collect())
        .collect())
}
