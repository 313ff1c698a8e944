//! How generated code names the types of nested columns.
//!
//! A query is written where the model's nested types may not be in scope, so
//! `couch_sql!` names a nested type from the table's model: the derives
//! implement [`FieldType`] for each field, and [`Unwrap`] / [`ElementOf`] step
//! through `Option` and `Vec`. E.g. `billing.city`'s object type is
//! `<<Customer as FieldType<3>>::Ty as Unwrap>::Inner`.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The type of the `N`-th field of a model or nested object.
pub trait FieldType<const N: usize> {
    type Ty;
}

/// A model or object type itself, through any `Option`.
pub trait Unwrap {
    type Inner;
}

impl<T: Unwrap> Unwrap for Option<T> {
    type Inner = T::Inner;
}

/// The element type of a `Vec` (through an `Option`).
pub trait ElementOf {
    type Element;
}

impl<T> ElementOf for Vec<T> {
    type Element = T;
}

impl<T> ElementOf for Option<Vec<T>> {
    type Element = T;
}

/// Decodes the value at `path` inside `top` (a top-level field read whole):
/// a missing step is NULL, as in SQL.
pub fn from_path<T: DeserializeOwned, E: serde::de::Error>(
    top: Option<&Value>,
    path: &[&str],
    name: &str,
) -> Result<T, E> {
    let cur = couch_semantics::path::walk(top, path.iter().copied());
    let null = Value::Null;
    T::deserialize(cur.unwrap_or(&null)).map_err(|e| E::custom(format_args!("{name}: {e}")))
}
