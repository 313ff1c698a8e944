//! Aggregate SELECTs: the matching documents are read page by page and folded
//! into one accumulator per group (memory O(groups), not O(rows)); HAVING,
//! ORDER BY and LIMIT/OFFSET then apply to the groups.

use super::{count, select_source, FindTemplate, Source, SqlText};
use crate::client::Database;
use crate::collate::compare_values;
use crate::error::{Error, Result};
use couch_translate::{AggCall, AggFunc, AggValue, Aggregate, Having, HavingTerm, Kind};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

/// A value as SQL sees it in a column of `kind`: NULL (`None`) when missing,
/// null, or of another kind.
fn sql_value(v: Option<&Value>, kind: Kind) -> Option<&Value> {
    let v = v.filter(|v| !v.is_null())?;
    let fits = match kind {
        Kind::Integer => v.is_i64() || v.is_u64(),
        Kind::Float => v.is_number(),
        Kind::Text | Kind::DateTime => v.is_string(),
        Kind::Bool => v.is_boolean(),
        Kind::Object => v.is_object(),
        Kind::Array => v.is_array(),
        Kind::Json => true,
    };
    fits.then_some(v)
}

/// One aggregate's running state.
#[derive(Debug, Clone)]
enum Acc {
    Count(i64),
    /// Exact integer sum (i128 holds any sum of i64s a page can carry), and whether any value was seen.
    IntSum(i128, bool),
    FloatSum(f64, bool),
    Avg(f64, i64),
    Extreme(Option<Value>),
}

impl Acc {
    fn new(call: &AggCall) -> Acc {
        match call.func {
            AggFunc::CountAll | AggFunc::Count => Acc::Count(0),
            AggFunc::Sum if call.integer => Acc::IntSum(0, false),
            AggFunc::Sum => Acc::FloatSum(0.0, false),
            AggFunc::Avg => Acc::Avg(0.0, 0),
            AggFunc::Min | AggFunc::Max => Acc::Extreme(None),
        }
    }

    fn add(&mut self, call: &AggCall, doc: &Map<String, Value>) -> Result<()> {
        let v = match &call.field {
            None => {
                if let Acc::Count(n) = self {
                    *n += 1;
                }
                return Ok(());
            }
            Some((field, kind)) => match sql_value(crate::doc_path::get(doc, field), *kind) {
                Some(v) => v,
                None => return Ok(()), // aggregates skip NULL
            },
        };
        match self {
            Acc::Count(n) => *n += 1,
            Acc::IntSum(s, seen) => {
                let x = v.as_i64().map(i128::from).or_else(|| v.as_u64().map(i128::from));
                // A number that is not an integer is NULL in an integer column (skipped).
                if let Some(x) = x {
                    *s += x;
                    *seen = true;
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
                        let o = compare_values(v, b);
                        if call.func == AggFunc::Min {
                            o == Ordering::Less
                        } else {
                            o == Ordering::Greater
                        }
                    }
                };
                if better {
                    *best = Some(v.clone());
                }
            }
        }
        Ok(())
    }

    fn finish(self, name: &str) -> Result<Value> {
        Ok(match self {
            Acc::Count(n) => Value::from(n),
            Acc::IntSum(_, false) | Acc::FloatSum(_, false) | Acc::Avg(_, 0) | Acc::Extreme(None) => Value::Null,
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
    groups: HashMap<Vec<Value>, Vec<Acc>>,
    /// Groups in first-seen order, so results without ORDER BY are stable.
    order: Vec<Vec<Value>>,
}

impl<'p> Folder<'p> {
    fn new(plan: &'p Aggregate) -> Self {
        Folder { plan, groups: HashMap::new(), order: Vec::new() }
    }

    fn add(&mut self, doc: &Map<String, Value>) -> Result<()> {
        let key: Vec<Value> = self
            .plan
            .groups
            .iter()
            .map(|g| sql_value(crate::doc_path::get(doc, &g.field), g.kind).cloned().unwrap_or(Value::Null))
            .collect();
        if !self.groups.contains_key(&key) {
            self.order.push(key.clone());
            self.groups.insert(key.clone(), self.plan.aggs.iter().map(Acc::new).collect());
        }
        let accs = self.groups.get_mut(&key).expect("inserted above");
        for (acc, call) in accs.iter_mut().zip(&self.plan.aggs) {
            acc.add(call, doc)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<GroupRow>> {
        // Without GROUP BY there is one row, also over no documents (COUNT(*) = 0).
        if !self.plan.grouped && self.order.is_empty() {
            self.order.push(vec![]);
            self.groups.insert(vec![], self.plan.aggs.iter().map(Acc::new).collect());
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

fn describe(call: &AggCall) -> String {
    let f = format!("{:?}", call.func).to_uppercase();
    match &call.field {
        Some((field, _)) => format!("{f}({field})"),
        None => "COUNT(*)".into(),
    }
}

/// SQL's three-valued HAVING.
fn having(h: &Having, row: &GroupRow, params: &[Value]) -> Result<Option<bool>> {
    let term = |t: &HavingTerm| -> Result<Value> {
        Ok(match t {
            HavingTerm::Value(v) => row.get(*v).clone(),
            HavingTerm::Const(c) => c.to_value(params).map_err(super::render_error)?,
        })
    };
    Ok(match h {
        Having::And(a, b) => match (having(a, row, params)?, having(b, row, params)?) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Having::Or(a, b) => match (having(a, row, params)?, having(b, row, params)?) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Having::Not(a) => having(a, row, params)?.map(|b| !b),
        Having::IsNull(t, negated) => Some(term(t)?.is_null() != *negated),
        Having::Cmp(op, a, b) => {
            let (a, b) = (term(a)?, term(b)?);
            if a.is_null() || b.is_null() {
                None
            } else {
                let o = compare_values(&a, &b);
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

/// Runs an aggregate plan: one JSON object per result row, keyed by the row's field names.
pub(crate) async fn aggregate(
    db: &Database,
    plan: &Aggregate,
    tmpl: &FindTemplate,
    params: &[Value],
    page_size: usize,
    sql: &SqlText,
) -> Result<Vec<Map<String, Value>>> {
    let mut folder = Folder::new(plan);
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
    let mut rows = Vec::new();
    for row in folder.finish()? {
        let keep = match &plan.having {
            None => true,
            Some(h) => having(h, &row, params)? == Some(true),
        };
        if keep {
            rows.push(row);
        }
    }
    if !plan.order_by.is_empty() {
        rows.sort_by(|a, b| {
            for k in &plan.order_by {
                let (x, y) = (a.get(k.by), b.get(k.by));
                let o = match (x.is_null(), y.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => {
                        if k.nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (false, true) => {
                        if k.nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (false, false) => {
                        let o = compare_values(x, y);
                        if k.desc {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
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
