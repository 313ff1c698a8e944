//! INSERT, UPDATE and DELETE through `_bulk_docs`.

use super::{by_id, find::matching, render_error, SqlText};
use crate::client::Database;
use crate::error::{Error, Result};
use crate::outcome::{DocOutcome, ExecuteResult};
use couch_semantics::ids::{new_id, random_u64};
use couch_translate::{Arith, ArithOp, Delete, Insert, Partition, Plan, SetValue, TableKey, Tmpl, Update};
use reqwest::Method;
use serde_json::{Map, Number, Value};
use std::time::{Duration, Instant};

#[derive(serde::Deserialize)]
struct BulkResult {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    rev: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    /// Stored below the write quorum (the answer was 202).
    #[serde(default)]
    accepted: bool,
}

/// Sends documents (JSON texts) with `_bulk_docs`, `write_batch` per request.
/// `_bulk_docs` is not atomic: each document's outcome is kept, in order.
pub(crate) async fn bulk_write(db: &Database, docs: Vec<Vec<u8>>, ids: Vec<String>) -> Result<ExecuteResult> {
    let mut outcomes = Vec::with_capacity(docs.len());
    let mut ids = ids.into_iter();
    for chunk in docs.chunks(db.write_batch) {
        let mut body = Vec::with_capacity(chunk.iter().map(Vec::len).sum::<usize>() + chunk.len() + 16);
        body.push(b'{');
        if let Some(w) = db.quorum.write {
            body.extend_from_slice(format!(r#""w":{w},"#).as_bytes());
        }
        body.extend_from_slice(br#""docs":["#);
        for (i, d) in chunk.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(d);
        }
        body.extend_from_slice(b"]}");
        let bytes = db.send(Method::POST, "_bulk_docs", Some(body)).await?;
        let results: Vec<BulkResult> = serde_json::from_slice(&bytes)
            .map_err(|e| Error::decode(None, None, format!("malformed _bulk_docs response: {e}")))?;
        if results.len() != chunk.len() {
            return Err(Error::decode(
                None,
                None,
                format!("_bulk_docs answered {} results for {} documents", results.len(), chunk.len()),
            ));
        }
        for r in results {
            let sent_id = ids.next().unwrap_or_default();
            outcomes.push(DocOutcome {
                id: r.id.unwrap_or(sent_id),
                rev: r.rev,
                error: r.error.map(|error| (error, r.reason.unwrap_or_default())),
                accepted: r.accepted,
            });
        }
    }
    Ok(ExecuteResult::new(outcomes))
}

/// Documents ready for `_bulk_docs`, and the documents that could not be prepared.
#[derive(Default)]
pub(crate) struct PendingDocs {
    pub docs: Vec<Vec<u8>>,
    pub ids: Vec<String>,
    pub failed: Vec<DocOutcome>,
}

impl PendingDocs {
    fn push(&mut self, id: String, doc: Vec<u8>) {
        self.ids.push(id);
        self.docs.push(doc);
    }

    /// Appends another statement's documents (a batch).
    pub(crate) fn extend(&mut self, other: PendingDocs) {
        self.docs.extend(other.docs);
        self.ids.extend(other.ids);
        self.failed.extend(other.failed);
    }

    /// Writes the documents; failures found while preparing come first.
    pub(crate) async fn write(self, db: &Database) -> Result<ExecuteResult> {
        let written = bulk_write(db, self.docs, self.ids).await?;
        let mut outcomes = self.failed;
        outcomes.extend(written.outcomes().iter().cloned());
        Ok(ExecuteResult::new(outcomes))
    }
}

fn prepare_insert(plan: &Insert, params: &[Value]) -> Result<PendingDocs> {
    let mut out = PendingDocs::default();
    for row in &plan.rows {
        let Tmpl::Object(entries) = row else {
            return Err(Error::Param("an INSERT row must be an object".into()));
        };
        let mut doc = Vec::with_capacity(128);
        doc.push(b'{');
        let prefix = match &plan.key {
            TableKey::IdPrefix(p) => p.as_str(),
            TableKey::Field(_) => "",
        };
        let id = match entries.iter().find(|(k, _)| k == "_id") {
            // An id-prefixed table's ids carry the prefix; one given without it gets it.
            Some((_, v)) => match v.to_value(params).map_err(render_error)? {
                Value::String(s) if s.starts_with(prefix) => s,
                Value::String(s) => format!("{prefix}{s}"),
                other => return Err(Error::Param(format!("_id must be a string, not {other}"))),
            },
            // A client-chosen id makes a retried insert safe: it conflicts instead of duplicating.
            None => format!("{prefix}{}", new_id()),
        };
        let id = match &plan.partition {
            Some(p) => partitioned_id(p, entries, id, params)?,
            None => id,
        };
        doc.extend_from_slice(br#""_id":"#);
        serde_json::to_writer(&mut doc, &id).expect("writing JSON to memory");
        for (k, v) in entries.iter().filter(|(k, _)| k != "_id") {
            doc.push(b',');
            serde_json::to_writer(&mut doc, k).expect("writing JSON to memory");
            doc.push(b':');
            v.render(params, &mut doc).map_err(render_error)?;
        }
        doc.push(b'}');
        out.push(id, doc);
    }
    Ok(out)
}

/// A partitioned table's document id: `{partition}:{id}`, the partition being the
/// row's value of the partition column. An id given with a partition must name
/// the row's own.
fn partitioned_id(p: &Partition, row: &[(String, Tmpl)], id: String, params: &[Value]) -> Result<String> {
    let value = match row.iter().find(|(k, _)| *k == p.field) {
        Some((_, v)) => v.to_value(params).map_err(render_error)?,
        None => Value::Null,
    };
    let Value::String(partition) = value else {
        return Err(Error::Param(format!("`{}` is the partition of every row: a string, not {value}", p.field)));
    };
    if let Some(reason) = couch_semantics::ids::partition_error(&partition) {
        return Err(Error::Param(format!("`{}` = {partition:?} cannot be a partition: {reason}", p.field)));
    }
    match id.split_once(':') {
        Some((given, _)) if given == partition => Ok(id),
        Some((given, _)) if !given.is_empty() => Err(Error::Param(format!(
            "the _id {id:?} is in partition {given:?}, but its `{}` is {partition:?}",
            p.field
        ))),
        _ => Ok(format!("{partition}:{id}")),
    }
}

pub(crate) async fn insert(db: &Database, plan: &Insert, params: &[Value]) -> Result<ExecuteResult> {
    prepare_insert(plan, params)?.write(db).await
}

/// A number while evaluating `SET` arithmetic.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn of(v: &Value) -> std::result::Result<Option<Num>, String> {
        match v {
            Value::Null => Ok(None),
            Value::Number(n) => {
                Ok(Some(n.as_i64().map(Num::Int).unwrap_or_else(|| Num::Float(n.as_f64().unwrap_or(f64::NAN)))))
            }
            other => Err(format!("{other} is not a number")),
        }
    }

    fn float(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// Evaluates arithmetic on a document; `Ok(None)` is SQL NULL.
fn eval(doc: &Map<String, Value>, a: &Arith, params: &[Value]) -> std::result::Result<Option<Num>, String> {
    Ok(match a {
        Arith::Field(f) => Num::of(couch_semantics::path::field_value(doc, f).unwrap_or(&Value::Null))
            .map_err(|e| format!("`{f}`: {e}"))?,
        Arith::Value(t) => Num::of(&t.to_value(params).map_err(|e| e.to_string())?)?,
        Arith::Neg(x) => eval(doc, x, params)?.map(|n| match n {
            Num::Int(i) => i.checked_neg().map(Num::Int).unwrap_or(Num::Float(-(i as f64))),
            Num::Float(f) => Num::Float(-f),
        }),
        Arith::Op(op, l, r) => {
            let (Some(l), Some(r)) = (eval(doc, l, params)?, eval(doc, r, params)?) else { return Ok(None) };
            Some(match (l, r) {
                (Num::Int(x), Num::Int(y)) => {
                    let v = match op {
                        ArithOp::Add => x.checked_add(y),
                        ArithOp::Sub => x.checked_sub(y),
                        ArithOp::Mul => x.checked_mul(y),
                        ArithOp::Div if y == 0 => return Err("division by zero".into()),
                        ArithOp::Div => x.checked_div(y),
                    };
                    Num::Int(v.ok_or("integer overflow")?)
                }
                (x, y) => {
                    let (x, y) = (x.float(), y.float());
                    if *op == ArithOp::Div && y == 0.0 {
                        return Err("division by zero".into());
                    }
                    Num::Float(match op {
                        ArithOp::Add => x + y,
                        ArithOp::Sub => x - y,
                        ArithOp::Mul => x * y,
                        ArithOp::Div => x / y,
                    })
                }
            })
        }
    })
}

/// The value a SET writes into `doc`, or why it cannot.
fn set_value(doc: &Map<String, Value>, v: &SetValue, params: &[Value]) -> std::result::Result<Value, String> {
    match v {
        SetValue::Value(t) => t.to_value(params).map_err(|e| e.to_string()),
        SetValue::Arith { expr, integer } => match eval(doc, expr, params)? {
            None => Err("the arithmetic has a NULL operand, so its result is NULL".into()),
            Some(Num::Int(i)) => Ok(Value::from(i)),
            Some(Num::Float(f)) if *integer => {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    Ok(Value::from(f as i64))
                } else {
                    Err(format!("{f} is not an integer, and the column is"))
                }
            }
            Some(Num::Float(f)) => Number::from_f64(f).map(Value::Number).ok_or_else(|| format!("{NON_FINITE}{f}")),
        },
    }
}

/// How a `SET` result that JSON cannot hold (NaN, infinity) is marked, so the
/// statement is refused as a whole instead of writing the other documents.
const NON_FINITE: &str = "non-finite: ";

/// What an UPDATE or DELETE does to each matching document.
enum Change<'p> {
    Set(&'p [(String, SetValue)]),
    Delete,
}

impl Change<'_> {
    /// The document to write back, or the reason it cannot be.
    fn apply(&self, mut doc: Map<String, Value>, params: &[Value]) -> std::result::Result<Map<String, Value>, String> {
        match self {
            Change::Set(set) => {
                // Every value is computed from the document as read, then assigned.
                let values: Vec<(&String, Value)> = set
                    .iter()
                    .map(|(f, v)| Ok((f, set_value(&doc, v, params)?)))
                    .collect::<std::result::Result<_, String>>()?;
                for (f, v) in values {
                    couch_semantics::path::set(&mut doc, f, v)?;
                }
                Ok(doc)
            }
            Change::Delete => {
                let mut d = Map::new();
                for k in ["_id", "_rev"] {
                    d.insert(k.to_string(), doc.remove(k).unwrap_or(Value::Null));
                }
                d.insert("_deleted".into(), Value::Bool(true));
                Ok(d)
            }
        }
    }

    /// Whether the value written depends on the value read (`SET n = n + 1`): such
    /// a write is not idempotent, so two writers that read the same revision and
    /// write the same result must not both count.
    fn reads_row(&self) -> bool {
        fn reads(a: &Arith) -> bool {
            match a {
                Arith::Field(_) => true,
                Arith::Value(_) => false,
                Arith::Neg(x) => reads(x),
                Arith::Op(_, l, r) => reads(l) || reads(r),
            }
        }
        match self {
            Change::Set(set) => set.iter().any(|(_, v)| matches!(v, SetValue::Arith { expr, .. } if reads(expr))),
            Change::Delete => false,
        }
    }

    fn fields(&self) -> Option<Vec<String>> {
        match self {
            Change::Set(_) => None, // the whole document is written back
            Change::Delete => Some(vec!["_id".into(), "_rev".into()]),
        }
    }
}

/// An UPDATE or DELETE: which documents, and what to do to them.
struct Target<'p> {
    table: &'p str,
    key: &'p TableKey,
    planned: Option<&'p [String]>,
    selector: &'p Tmpl,
    by_id: Option<&'p [Tmpl]>,
    change: Change<'p>,
    partition: Option<&'p Partition>,
}

impl Target<'_> {
    /// Every matching document; with `only`, just those ids (re-read after a conflict).
    async fn read(
        &self,
        db: &Database,
        params: &[Value],
        sql: &SqlText,
        only: Option<&[String]>,
    ) -> Result<Vec<Map<String, Value>>> {
        let fields = self.change.fields();
        match (self.by_id, only) {
            (Some(ids), None) => by_id::docs(db, self.table, self.key, ids, params).await,
            (Some(_), Some(only)) => {
                let ids: Vec<Tmpl> = only.iter().map(|i| Tmpl::Str(i.clone())).collect();
                by_id::docs(db, self.table, self.key, &ids, &[]).await
            }
            (None, None) => {
                matching(db, self.selector, params, fields.as_deref(), self.planned, self.partition, sql).await
            }
            (None, Some(only)) => {
                // Still matching the WHERE, and one of the conflicted documents.
                let ids = Tmpl::Array(only.iter().map(|i| Tmpl::Str(i.clone())).collect());
                let id_in = Tmpl::Object(vec![("_id".into(), Tmpl::Object(vec![("$in".into(), ids)]))]);
                let both = Tmpl::Object(vec![("$and".into(), Tmpl::Array(vec![self.selector.clone(), id_in]))]);
                matching(db, &both, params, fields.as_deref(), None, self.partition, sql).await
            }
        }
    }

    fn prepare(&self, docs: Vec<Map<String, Value>>, params: &[Value]) -> Result<PendingDocs> {
        let mut out = PendingDocs::default();
        for doc in docs {
            let id = doc.get("_id").and_then(Value::as_str).unwrap_or_default().to_string();
            match self.change.apply(doc, params) {
                Ok(mut d) => {
                    if let (Change::Delete, TableKey::Field(f)) = (&self.change, self.key) {
                        // The tombstone keeps its table (CouchDB keeps a deleted document's
                        // body): a changes feed read later still knows it was of this table.
                        d.insert(f.clone(), Value::String(self.table.to_string()));
                    }
                    out.push(id, serde_json::to_vec(&d).expect("writing JSON to memory"))
                }
                Err(reason) => {
                    if let Some(value) = reason.strip_prefix(NON_FINITE) {
                        // Nothing is written: storing `null` instead would make the table unreadable.
                        return Err(Error::Param(format!(
                            "SET computes {value} for document {id:?}: CouchDB stores JSON, which has no NaN or infinity"
                        )));
                    }
                    out.failed.push(DocOutcome {
                        id,
                        rev: None,
                        error: Some(("bad_value".into(), reason)),
                        accepted: false,
                    })
                }
            }
        }
        Ok(out)
    }

    /// Reads, writes, and re-reads and re-applies documents that conflicted,
    /// until the database's retry budget (time, and attempts if set) is spent;
    /// what still conflicts then is reported.
    async fn run(&self, db: &Database, params: &[Value], sql: &SqlText) -> Result<ExecuteResult> {
        let deadline = Instant::now() + db.write_budget;
        let mut outcomes: Vec<DocOutcome> = Vec::new();
        let mut docs = self.read(db, params, sql, None).await?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = self.prepare(docs, params)?.write(db).await?;
            let last = attempt >= db.write_attempts || Instant::now() >= deadline;
            let mut conflicted = Vec::new();
            for o in result.outcomes() {
                let o = self.unconfirmed(o);
                if o.is_conflict() && !last {
                    conflicted.push(o.id.clone());
                } else {
                    outcomes.retain(|p| p.id != o.id);
                    outcomes.push(o);
                }
            }
            if conflicted.is_empty() {
                break;
            }
            // Someone else wrote these documents first: wait (full jitter over a window that
            // doubles with each conflict, up to 2 s, so that however many writers contend they
            // spread out until about one at a time is in flight), then read them again.
            let window = 1u64 << attempt.min(11);
            let pause = Duration::from_micros(random_u64() % (window * 1000) + 100);
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            docs = self.read(db, params, sql, Some(&conflicted)).await?;
        }
        Ok(ExecuteResult::new(outcomes))
    }
}

impl Target<'_> {
    /// A write accepted below the write quorum (202) whose value was computed from
    /// the row read is not reported as done. The copies that answered disagreed:
    /// another writer changed the document meanwhile, and if it read the same
    /// revision and computed the same body, both made the *same* revision (its id
    /// is a digest of parent and body), each copy took one, and the two writes
    /// became one: an increment lost though both were told `ok`. couch-sql cannot
    /// tell that case from a lone write, so it says what it knows.
    fn unconfirmed(&self, o: &DocOutcome) -> DocOutcome {
        if !(o.is_ok() && o.accepted && self.change.reads_row()) {
            return o.clone();
        }
        let rev = o.rev.as_deref().unwrap_or("?");
        DocOutcome {
            id: o.id.clone(),
            rev: None,
            accepted: true,
            error: Some((
                ACCEPTED_BELOW_QUORUM.into(),
                format!(
                    "revision {rev} was accepted by fewer copies than the write quorum while another \
                     writer changed the document; a SET computed from the row may then have merged \
                     with that writer's identical revision, so it is not counted as done: read the \
                     document back before writing it again"
                ),
            )),
        }
    }
}

/// The error of a read-modify-write that a cluster accepted below quorum.
pub const ACCEPTED_BELOW_QUORUM: &str = "accepted_below_quorum";

fn update_target(plan: &Update) -> Target<'_> {
    Target {
        table: &plan.table,
        key: &plan.key,
        planned: plan.planned.as_deref(),
        selector: &plan.selector,
        by_id: plan.by_id.as_deref(),
        change: Change::Set(&plan.set),
        partition: plan.partition.as_ref(),
    }
}

fn delete_target(plan: &Delete) -> Target<'_> {
    Target {
        table: &plan.table,
        key: &plan.key,
        planned: plan.planned.as_deref(),
        selector: &plan.selector,
        by_id: plan.by_id.as_deref(),
        change: Change::Delete,
        partition: plan.partition.as_ref(),
    }
}

pub(crate) async fn update(db: &Database, plan: &Update, params: &[Value], sql: &SqlText) -> Result<ExecuteResult> {
    update_target(plan).run(db, params, sql).await
}

pub(crate) async fn delete(db: &Database, plan: &Delete, params: &[Value], sql: &SqlText) -> Result<ExecuteResult> {
    delete_target(plan).run(db, params, sql).await
}

/// A write statement's documents, read and changed but not yet sent (for a batch).
pub(crate) async fn prepare(db: &Database, plan: &Plan, params: &[Value], sql: &SqlText) -> Result<PendingDocs> {
    match plan {
        Plan::Insert(i) => prepare_insert(i, params),
        Plan::Update(u) => {
            let t = update_target(u);
            t.prepare(t.read(db, params, sql, None).await?, params)
        }
        Plan::Delete(d) => {
            let t = delete_target(d);
            t.prepare(t.read(db, params, sql, None).await?, params)
        }
        _ => Err(Error::Invalid { what: "batch statement", message: "a batch takes INSERT, UPDATE and DELETE".into() }),
    }
}
