//! What the runtime knows of a table model (`#[derive(CouchRow)]`): its name, how
//! its documents are told apart, and how a row is written back as a document.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// How a table's documents are told apart from the rest of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// The documents whose field of this name holds the table name (`type` by default).
    Field(&'static str),
    /// The documents whose `_id` starts with this prefix.
    IdPrefix(&'static str),
}

/// A table model, implemented by `#[derive(CouchRow)]`.
pub trait CouchRow: DeserializeOwned {
    /// The table: the value of the `type` field of this model's documents.
    const TABLE: &'static str;

    /// How the table's documents are told apart (`#[couch(type_field = …)]`,
    /// `#[couch(id_prefix = …)]`).
    const KIND: TableKind = TableKind::Field("type");

    /// The row's fields as the document holds them (without `_id` and `_rev`).
    fn to_fields(&self) -> serde_json::Result<Map<String, Value>>;

    /// Whether `doc` is one of this table's documents.
    fn holds(id: &str, doc: &Map<String, Value>) -> bool {
        match Self::KIND {
            TableKind::Field(f) => doc.get(f).and_then(Value::as_str) == Some(Self::TABLE),
            TableKind::IdPrefix(p) => id.starts_with(p),
        }
    }
}

/// Writing a model's field as JSON (for [`CouchRow::to_fields`]): with `Serialize`
/// when the field's type has it; otherwise an error at run time rather than a
/// second compile error beside the one the model's `Deserialize` already gives
/// (autoref specialisation: the first trait's impl is on `&FieldJson`).
#[doc(hidden)]
pub struct FieldJson<'a, T>(pub &'a T);

#[doc(hidden)]
pub trait SerializeField {
    fn field_json(&self) -> serde_json::Result<Value>;
}

impl<T: serde::Serialize> SerializeField for &FieldJson<'_, T> {
    fn field_json(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self.0)
    }
}

#[doc(hidden)]
pub trait OpaqueField {
    fn field_json(&self) -> serde_json::Result<Value>;
}

impl<T> OpaqueField for FieldJson<'_, T> {
    fn field_json(&self) -> serde_json::Result<Value> {
        Err(serde::ser::Error::custom(format_args!("`{}` cannot be written as JSON", std::any::type_name::<T>())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::needless_borrow)] // the second `&` is what picks the impl
    fn a_field_is_written_with_serialize_when_it_has_it() {
        struct Opaque;
        assert_eq!((&&FieldJson(&"a".to_string())).field_json().unwrap(), Value::from("a"));
        assert_eq!((&&FieldJson(&Some(3_i64))).field_json().unwrap(), Value::from(3));
        assert!((&&FieldJson(&Opaque)).field_json().is_err());
    }
}
