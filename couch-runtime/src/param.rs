//! Rust values as SQL parameters, checked against the column's type at compile time.
//!
//! `couch_sql!` turns each argument into `encode::<ColumnType, _>(&arg)`; if the
//! argument's type cannot stand for the column's, rustc reports it at the
//! argument with the message below.

use serde_json::Value;
use std::borrow::Cow;

/// A Rust value usable as an SQL value for a column of Rust type `C`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as an SQL value for a column of type `{C}`",
    label = "this argument's type does not match the column's type `{C}`",
    note = "a parameter must have the column's type: i64 and i32 columns take integers, f64 columns numbers, String columns &str or String, bool columns bool; an Option<T> column also takes T or Option<T>"
)]
pub trait Encode<C: ?Sized> {
    /// The JSON value stored or compared.
    fn encode(&self) -> Value;
}

impl<C: ?Sized, T: Encode<C> + ?Sized> Encode<C> for &T {
    fn encode(&self) -> Value {
        (**self).encode()
    }
}

macro_rules! encode_as {
    ($column:ty => $($arg:ty),+) => {$(
        impl Encode<$column> for $arg {
            fn encode(&self) -> Value { Value::from(self.clone()) }
        }
        impl Encode<Option<$column>> for $arg {
            fn encode(&self) -> Value { Value::from(self.clone()) }
        }
    )+};
}

encode_as!(i64 => i64, i32, i16, i8, u32, u16, u8);
encode_as!(i32 => i32, i16, i8, u16, u8);
encode_as!(f64 => i32, i16, i8, u32, u16, u8);

macro_rules! encode_float {
    ($($arg:ty),+) => {$(
        impl Encode<f64> for $arg {
            fn encode(&self) -> Value { float(f64::from(*self)) }
        }
        impl Encode<Option<f64>> for $arg {
            fn encode(&self) -> Value { float(f64::from(*self)) }
        }
    )+};
}

encode_float!(f64, f32);

/// The key of the placeholder a non-finite float becomes (JSON has no NaN or
/// infinity; `serde_json` would silently write `null`). Every verb refuses a
/// statement holding one with [`Error::Param`](crate::Error::Param) before any request.
const NON_FINITE: &str = "$couch-sql:non-finite";

fn float(f: f64) -> Value {
    if f.is_finite() {
        Value::from(f)
    } else {
        let mut m = serde_json::Map::new();
        m.insert(NON_FINITE.into(), Value::String(f.to_string()));
        Value::Object(m)
    }
}

/// `Err` naming the first parameter that is a non-finite float.
pub(crate) fn check_finite(params: &[Value]) -> crate::Result<()> {
    for (i, p) in params.iter().enumerate() {
        if let Some(v) = p.as_object().and_then(|m| m.get(NON_FINITE)) {
            return Err(crate::Error::Param(format!(
                "parameter {} is {}: CouchDB stores JSON, which has no NaN or infinity",
                i + 1,
                v.as_str().unwrap_or("not a finite number")
            )));
        }
    }
    Ok(())
}

/// Serializes a run-time parameter; a non-finite float (top level or in an
/// `Option`) becomes the placeholder [`check_finite`] refuses, not `null`.
pub(crate) fn to_param<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    match value.serialize(FloatProbe) {
        Ok(Some(f)) if !f.is_finite() => Ok(float(f)),
        _ => serde_json::to_value(value),
    }
}

/// A serializer that only reports a bare float (`Some(x)` for `x` and `Some(x)`).
struct FloatProbe;

#[derive(Debug)]
struct NotAFloat;

impl std::fmt::Display for NotAFloat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a float")
    }
}

impl std::error::Error for NotAFloat {}

impl serde::ser::Error for NotAFloat {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotAFloat
    }
}

macro_rules! not_a_float {
    ($($method:ident($($arg:ty),*)),+ $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Option<f64>, NotAFloat> { Ok(None) }
    )+};
}

impl serde::Serializer for FloatProbe {
    type Ok = Option<f64>;
    type Error = NotAFloat;
    type SerializeSeq = serde::ser::Impossible<Option<f64>, NotAFloat>;
    type SerializeTuple = serde::ser::Impossible<Option<f64>, NotAFloat>;
    type SerializeTupleStruct = serde::ser::Impossible<Option<f64>, NotAFloat>;
    type SerializeTupleVariant = serde::ser::Impossible<Option<f64>, NotAFloat>;
    type SerializeMap = serde::ser::Impossible<Option<f64>, NotAFloat>;
    type SerializeStruct = serde::ser::Impossible<Option<f64>, NotAFloat>;
    type SerializeStructVariant = serde::ser::Impossible<Option<f64>, NotAFloat>;

    fn serialize_f64(self, v: f64) -> Result<Option<f64>, NotAFloat> {
        Ok(Some(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Option<f64>, NotAFloat> {
        Ok(Some(f64::from(v)))
    }
    fn serialize_some<T: serde::Serialize + ?Sized>(self, v: &T) -> Result<Option<f64>, NotAFloat> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Option<f64>, NotAFloat> {
        v.serialize(self)
    }
    not_a_float!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Option<f64>, NotAFloat> {
        Ok(None)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAFloat> {
        Err(NotAFloat)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAFloat> {
        Err(NotAFloat)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, NotAFloat> {
        Err(NotAFloat)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAFloat> {
        Err(NotAFloat)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAFloat> {
        Err(NotAFloat)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotAFloat> {
        Err(NotAFloat)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotAFloat> {
        Err(NotAFloat)
    }
}
encode_as!(bool => bool);
encode_as!(String => String);

macro_rules! encode_str {
    ($($arg:ty),+) => {$(
        impl Encode<String> for $arg {
            fn encode(&self) -> Value { Value::String(self.to_string()) }
        }
        impl Encode<Option<String>> for $arg {
            fn encode(&self) -> Value { Value::String(self.to_string()) }
        }
    )+};
}

encode_str!(str, Box<str>, Cow<'_, str>, char);

macro_rules! encode_option {
    ($($column:ty),+) => {$(
        impl<T: Encode<$column>> Encode<Option<$column>> for Option<T> {
            fn encode(&self) -> Value {
                match self {
                    Some(v) => v.encode(),
                    None => Value::Null,
                }
            }
        }
    )+};
}

encode_option!(i64, i32, f64, bool, String);

/// Marker for the row count of `LIMIT ?` / `OFFSET ?`.
pub enum RowCount {}

macro_rules! encode_count {
    ($($arg:ty),+) => {$(
        impl Encode<RowCount> for $arg {
            fn encode(&self) -> Value { Value::from(*self) }
        }
    )+};
}

encode_count!(i64, i32, i16, i8, u64, u32, u16, u8, usize);

/// Encodes `arg` for a column of type `C` (the type check happens here).
#[inline]
pub fn encode<C: ?Sized, A: Encode<C> + ?Sized>(arg: &A) -> Value {
    arg.encode()
}
