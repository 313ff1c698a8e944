//! couch-sql's aggregate views, described as data.
//!
//! The SQL translator answers an aggregate with a design document of map/reduce
//! views. CouchDB runs their JavaScript maps; an engine without JavaScript
//! (couch-sql's own) runs the same views from this description, kept beside them
//! as the design document's `"couchsql"` object (view name → [`ViewSpec`]). Both
//! read a value as SQL does: missing, null and wrong-typed values are NULL.
//!
//! ```
//! use couch_semantics::view::{Read, ReadKind, SumItem, TableTest, ViewSpec, ViewValue};
//! use serde_json::json;
//! let spec = ViewSpec {
//!     table: TableTest::Field { field: "type".into(), value: "users".into() },
//!     keys: vec![Read { path: vec!["city".into()], kind: ReadKind::Str }],
//!     value: ViewValue::Sum(vec![SumItem::One, SumItem::Number(Read { path: vec!["age".into()], kind: ReadKind::Int })]),
//! };
//! let doc = json!({"type": "users", "city": "Oslo", "age": 41});
//! assert_eq!(spec.emit("u1", doc.as_object().unwrap()), Some((json!(["Oslo"]), json!([1, 41]))));
//! // The description's JSON, as the design document holds it:
//! assert_eq!(serde_json::to_value(&spec.keys[0]).unwrap(), json!({"path": ["city"], "kind": "str"}));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The views of one design document, by name.
pub type ViewSpecs = BTreeMap<String, ViewSpec>;

/// One view: which documents it reads, its key, and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewSpec {
    /// The table's documents.
    pub table: TableTest,
    /// The key: an array of these reads.
    pub keys: Vec<Read>,
    /// The value emitted.
    pub value: ViewValue,
}

/// Which documents belong to a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TableTest {
    /// The field `field` (a top-level name) equals `value` (`"type": "users"`).
    Field {
        /// The field's name.
        field: String,
        /// The table's name.
        value: String,
    },
    /// The document id starts with `id_prefix` (`users:…`).
    IdPrefix {
        /// The prefix.
        id_prefix: String,
    },
}

/// A value read as SQL reads a column: the value at `path` if it is of `kind`, else null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    /// The field's path, segment by segment (unescaped).
    pub path: Vec<String>,
    /// The SQL type the value must have.
    pub kind: ReadKind,
}

/// The SQL type of a [`Read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadKind {
    /// A whole finite number.
    Int,
    /// Any number.
    Num,
    /// A string (text, and date-times stored as text).
    Str,
    /// A boolean.
    Bool,
    /// Any value.
    Any,
}

/// What a view emits for a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewValue {
    /// An array of counts and numbers, reduced with `_sum`.
    Sum(Vec<SumItem>),
    /// One number, reduced with `_stats` (a document without it emits nothing).
    Stats(Read),
}

/// One position of a [`ViewValue::Sum`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SumItem {
    /// 1: counts the rows.
    One,
    /// 1 if the read is not NULL, else 0.
    Present(Read),
    /// The number read, 0 for NULL.
    Number(Read),
}

impl ReadKind {
    /// The kind's name, as the description writes it (`"int"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ReadKind::Int => "int",
            ReadKind::Num => "num",
            ReadKind::Str => "str",
            ReadKind::Bool => "bool",
            ReadKind::Any => "any",
        }
    }
}

impl Read {
    /// The value of `doc` this read gives (`Null` for SQL's NULL).
    pub fn read(&self, doc: &Map<String, Value>) -> Value {
        let mut steps = self.path.iter();
        let Some(mut v) = steps.next().and_then(|first| doc.get(first)) else { return Value::Null };
        for step in steps {
            v = match v {
                Value::Object(m) => match m.get(step) {
                    Some(x) => x,
                    None => return Value::Null,
                },
                // A position as JavaScript's `String(Number(p)) === p` accepts it.
                Value::Array(a) => match step.parse::<usize>().ok().filter(|n| n.to_string() == *step) {
                    Some(n) if n < a.len() => &a[n],
                    _ => return Value::Null,
                },
                _ => return Value::Null,
            };
        }
        let fits = match self.kind {
            ReadKind::Int => v.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0),
            ReadKind::Num => v.is_number(),
            ReadKind::Str => v.is_string(),
            ReadKind::Bool => v.is_boolean(),
            ReadKind::Any => true,
        };
        if fits {
            v.clone()
        } else {
            Value::Null
        }
    }
}

impl TableTest {
    /// Whether the document `id` with body `doc` is in the table.
    pub fn contains(&self, id: &str, doc: &Map<String, Value>) -> bool {
        match self {
            TableTest::Field { field, value } => doc.get(field).and_then(Value::as_str) == Some(value),
            TableTest::IdPrefix { id_prefix } => id.starts_with(id_prefix.as_str()),
        }
    }
}

impl ViewSpec {
    /// The `(key, value)` the view emits for a document, if it emits one.
    pub fn emit(&self, id: &str, doc: &Map<String, Value>) -> Option<(Value, Value)> {
        if !self.table.contains(id, doc) {
            return None;
        }
        let key = Value::Array(self.keys.iter().map(|k| k.read(doc)).collect());
        let value = match &self.value {
            ViewValue::Sum(items) => Value::Array(
                items
                    .iter()
                    .map(|item| match item {
                        SumItem::One => Value::from(1),
                        SumItem::Present(r) => Value::from(i64::from(!r.read(doc).is_null())),
                        SumItem::Number(r) => match r.read(doc) {
                            Value::Null => Value::from(0),
                            v => v,
                        },
                    })
                    .collect(),
            ),
            ViewValue::Stats(r) => match r.read(doc) {
                Value::Null => return None,
                v => v,
            },
        };
        Some((key, value))
    }
}
