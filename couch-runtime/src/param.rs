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
    note = "a parameter must have the column's type: integer columns take integers that fit, f64/f32 columns numbers, String columns &str or String, bool columns bool, Vec<T> columns a Vec, slice or array of T, object columns a value of their CouchObject type; an Option<T> column also takes T or Option<T>"
)]
pub trait Encode<C: ?Sized> {
    /// The JSON value stored or compared.
    fn encode(&self) -> Value;
}

#[diagnostic::do_not_recommend]
impl<C: ?Sized, T: Encode<C> + ?Sized> Encode<C> for &T {
    fn encode(&self) -> Value {
        (**self).encode()
    }
}

macro_rules! encode_as {
    ($column:ty => $($arg:ty),+) => {$(
        #[diagnostic::do_not_recommend]
        impl Encode<$column> for $arg {
            fn encode(&self) -> Value { Value::from(self.clone()) }
        }
        #[diagnostic::do_not_recommend]
        impl Encode<Option<$column>> for $arg {
            fn encode(&self) -> Value { Value::from(self.clone()) }
        }
    )+};
}

encode_as!(i64 => i64, i32, i16, i8, u32, u16, u8);
encode_as!(i32 => i32, i16, i8, u16, u8);
encode_as!(i16 => i16, i8, u8);
encode_as!(i8 => i8);
encode_as!(u64 => u64, u32, u16, u8);
encode_as!(u32 => u32, u16, u8);
encode_as!(u16 => u16, u8);
encode_as!(u8 => u8);
encode_as!(f64 => i32, i16, i8, u32, u16, u8);
encode_as!(f32 => i16, i8, u16, u8);

/// An integer literal argument defaults to `i32` in Rust (`couch_sql!("… visits = ?", 3)`):
/// narrower or unsigned columns take `i32` and `i64` too, checked when the statement runs.
macro_rules! encode_checked {
    ($column:ty => $($arg:ty),+) => {$(
        #[diagnostic::do_not_recommend]
        impl Encode<$column> for $arg {
            fn encode(&self) -> Value { checked::<$column, $arg>(*self, stringify!($column)) }
        }
        #[diagnostic::do_not_recommend]
        impl Encode<Option<$column>> for $arg {
            fn encode(&self) -> Value { checked::<$column, $arg>(*self, stringify!($column)) }
        }
    )+};
}

fn checked<C: TryFrom<A> + Into<Value>, A: Copy + std::fmt::Display>(v: A, column: &str) -> Value {
    match C::try_from(v) {
        Ok(c) => c.into(),
        Err(_) => invalid(format!("{v}, which does not fit the column's type {column}")),
    }
}

encode_checked!(i8 => i32, i64);
encode_checked!(i16 => i32, i64);
encode_checked!(u8 => i32, i64);
encode_checked!(u16 => i32, i64);
encode_checked!(u32 => i32, i64);
encode_checked!(u64 => i32, i64);

macro_rules! encode_float {
    ($($arg:ty),+) => {$(
        #[diagnostic::do_not_recommend]
        impl Encode<f64> for $arg {
            fn encode(&self) -> Value { float(f64::from(*self)) }
        }
        #[diagnostic::do_not_recommend]
        impl Encode<Option<f64>> for $arg {
            fn encode(&self) -> Value { float(f64::from(*self)) }
        }
    )+};
}

encode_float!(f64, f32);

#[diagnostic::do_not_recommend]
impl Encode<f32> for f32 {
    fn encode(&self) -> Value {
        float(f64::from(*self))
    }
}
#[diagnostic::do_not_recommend]
impl Encode<Option<f32>> for f32 {
    fn encode(&self) -> Value {
        float(f64::from(*self))
    }
}

/// The key of the placeholder a non-finite float becomes (JSON has no NaN or
/// infinity; `serde_json` would silently write `null`). Every verb refuses a
/// statement holding one with [`Error::Param`](crate::Error::Param) before any request.
const INVALID: &str = "$couch-sql:invalid";

/// The placeholder of a value that cannot be sent; [`check_finite`] refuses it.
fn invalid(why: String) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(INVALID.into(), Value::String(why));
    Value::Object(m)
}

fn float(f: f64) -> Value {
    if f.is_finite() {
        Value::from(f)
    } else {
        invalid(format!("{f}: CouchDB stores JSON, which has no NaN or infinity"))
    }
}

/// `Err` naming the first parameter that cannot be sent: a non-finite float,
/// or an integer out of its column's range.
pub(crate) fn check_finite(params: &[Value]) -> crate::Result<()> {
    for (i, p) in params.iter().enumerate() {
        if let Some(why) = invalid_inside(p) {
            return Err(crate::Error::Param(format!("parameter {} is {why}", i + 1)));
        }
    }
    Ok(())
}

/// Why `v`, or a value inside it (an element of a `Vec` parameter), cannot be sent.
fn invalid_inside(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) => match m.get(INVALID) {
            Some(why) => Some(why.as_str().unwrap_or("not a value CouchDB can store")),
            None => m.values().find_map(invalid_inside),
        },
        Value::Array(a) => a.iter().find_map(invalid_inside),
        _ => None,
    }
}

/// Serializes a run-time parameter; a value holding a non-finite float anywhere
/// becomes the placeholder [`check_finite`] refuses, not `null`.
pub(crate) fn to_param<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    match value.serialize(finite::Check) {
        Err(NonFinite(f)) if !f.is_finite() => Ok(float(f)),
        _ => serde_json::to_value(value),
    }
}
encode_as!(bool => bool);
encode_as!(String => String);

macro_rules! encode_str {
    ($($arg:ty),+) => {$(
        #[diagnostic::do_not_recommend]
        impl Encode<String> for $arg {
            fn encode(&self) -> Value { Value::String(self.to_string()) }
        }
        #[diagnostic::do_not_recommend]
        impl Encode<Option<String>> for $arg {
            fn encode(&self) -> Value { Value::String(self.to_string()) }
        }
    )+};
}

encode_str!(str, Box<str>, Cow<'_, str>, char);

macro_rules! encode_option {
    ($($column:ty),+) => {$(
        #[diagnostic::do_not_recommend]
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

encode_option!(i64, i32, i16, i8, u64, u32, u16, u8, f64, f32, bool, String);

// Arrays: a `Vec<C>` column takes a `Vec`, slice or array of values for `C`.
#[diagnostic::do_not_recommend]
impl<C, T: Encode<C>> Encode<Vec<C>> for [T] {
    fn encode(&self) -> Value {
        Value::Array(self.iter().map(Encode::encode).collect())
    }
}
#[diagnostic::do_not_recommend]
impl<C, T: Encode<C>> Encode<Vec<C>> for Vec<T> {
    fn encode(&self) -> Value {
        <[T] as Encode<Vec<C>>>::encode(self)
    }
}
#[diagnostic::do_not_recommend]
impl<C, T: Encode<C>, const N: usize> Encode<Vec<C>> for [T; N] {
    fn encode(&self) -> Value {
        <[T] as Encode<Vec<C>>>::encode(self)
    }
}
#[diagnostic::do_not_recommend]
impl<C, T: Encode<C>> Encode<Option<Vec<C>>> for [T] {
    fn encode(&self) -> Value {
        <[T] as Encode<Vec<C>>>::encode(self)
    }
}
#[diagnostic::do_not_recommend]
impl<C, T: Encode<C>> Encode<Option<Vec<C>>> for Vec<T> {
    fn encode(&self) -> Value {
        <[T] as Encode<Vec<C>>>::encode(self)
    }
}
#[diagnostic::do_not_recommend]
impl<C, T: Encode<C>, const N: usize> Encode<Option<Vec<C>>> for [T; N] {
    fn encode(&self) -> Value {
        <[T] as Encode<Vec<C>>>::encode(self)
    }
}
#[diagnostic::do_not_recommend]
impl<C, T: Encode<Vec<C>>> Encode<Option<Vec<C>>> for Option<T> {
    fn encode(&self) -> Value {
        self.as_ref().map_or(Value::Null, Encode::encode)
    }
}

/// Stored date-times: fixed-width RFC 3339 UTC text with microseconds.
#[cfg(feature = "chrono")]
#[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
pub mod datetime {
    use chrono::{DateTime, SecondsFormat, Utc};

    /// `2026-11-29T18:00:00.000000Z`: the same width for every time, so text order is time order.
    pub fn format(t: &DateTime<Utc>) -> String {
        // Sub-microsecond precision is cut, as the stored text keeps six digits.
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// Serializes a date-time field (or an `Option`/`Vec` of them) in the stored form.
    pub fn serialize<T: Stored + ?Sized, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        v.store(s)
    }

    /// A date-time shape a model field may have.
    pub trait Stored {
        /// Writes the value in the stored form (fixed-width RFC 3339 UTC text).
        fn store<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
    }

    impl Stored for DateTime<Utc> {
        fn store<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&format(self))
        }
    }

    impl<T: Stored> Stored for Option<T> {
        fn store<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Some(v) => v.store(s),
                None => s.serialize_none(),
            }
        }
    }

    impl<T: Stored> Stored for Vec<T> {
        fn store<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            struct One<'a, T>(&'a T);
            impl<T: Stored> serde::Serialize for One<'_, T> {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    self.0.store(s)
                }
            }
            let mut seq = s.serialize_seq(Some(self.len()))?;
            for v in self {
                seq.serialize_element(&One(v))?;
            }
            seq.end()
        }
    }

    #[diagnostic::do_not_recommend]
    impl super::Encode<DateTime<Utc>> for DateTime<Utc> {
        fn encode(&self) -> serde_json::Value {
            serde_json::Value::String(format(self))
        }
    }
    #[diagnostic::do_not_recommend]
    impl super::Encode<Option<DateTime<Utc>>> for DateTime<Utc> {
        fn encode(&self) -> serde_json::Value {
            serde_json::Value::String(format(self))
        }
    }
    #[diagnostic::do_not_recommend]
    impl<T: super::Encode<DateTime<Utc>>> super::Encode<Option<DateTime<Utc>>> for Option<T> {
        fn encode(&self) -> serde_json::Value {
            self.as_ref().map_or(serde_json::Value::Null, super::Encode::encode)
        }
    }
}

/// A Rust value usable for an opaque-JSON column of type `C` (`serde_json::Value`, or a
/// `#[couch(json)]` type): the argument must be a `C` (or `&C`), stored whole.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a JSON column of type `{C}`",
    label = "expected a `{C}` here",
    note = "a JSON column takes a value of its own type (or a reference to one), serialized whole"
)]
pub trait AsJson<C: ?Sized> {
    /// The JSON stored or compared.
    fn as_json(&self) -> Value;
}

#[diagnostic::do_not_recommend]
impl<C: serde::Serialize> AsJson<C> for C {
    fn as_json(&self) -> Value {
        to_param(self).unwrap_or_else(|e| invalid(format!("not serializable as JSON: {e}")))
    }
}

#[diagnostic::do_not_recommend]
impl<C: serde::Serialize> AsJson<C> for &C {
    fn as_json(&self) -> Value {
        <C as AsJson<C>>::as_json(self)
    }
}

#[diagnostic::do_not_recommend]
impl<C: serde::Serialize> AsJson<Option<C>> for C {
    fn as_json(&self) -> Value {
        AsJson::<C>::as_json(self)
    }
}

/// Encodes `arg` for an opaque-JSON column of type `C` (the type check happens here).
#[inline]
pub fn encode_json<C: ?Sized, A: AsJson<C> + ?Sized>(arg: &A) -> Value {
    arg.as_json()
}

/// Marker for the row count of `LIMIT ?` / `OFFSET ?`.
pub enum RowCount {}

macro_rules! encode_count {
    ($($arg:ty),+) => {$(
        #[diagnostic::do_not_recommend]
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

/// Implemented by `#[derive(CouchObject)]` types (nested objects).
#[doc(hidden)]
pub trait Object: serde::Serialize {}

#[diagnostic::do_not_recommend]
impl<C: Object, T: Encode<C>> Encode<Option<C>> for Option<T> {
    fn encode(&self) -> Value {
        self.as_ref().map_or(Value::Null, Encode::encode)
    }
}

/// A nested object as a parameter (its non-finite floats refused like any other).
#[doc(hidden)]
pub fn encode_object<T: serde::Serialize>(v: &T) -> Value {
    // serde_json would write NaN and infinity as `null`, silently.
    to_param(v).unwrap_or_else(|e| invalid(format!("not storable as JSON: {e}")))
}

/// A float JSON cannot hold, found inside a serialized value.
#[derive(Debug)]
struct NonFinite(f64);

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not a JSON number", self.0)
    }
}

impl std::error::Error for NonFinite {}

impl serde::ser::Error for NonFinite {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        // Other serialization errors are serde_json's to report.
        NonFinite(0.0)
    }
}

mod finite {
    //! A serializer that only looks for non-finite floats.
    use super::NonFinite;
    use serde::ser::{self, Serialize};

    pub(super) struct Check;

    type R = Result<(), NonFinite>;

    fn float(f: f64) -> R {
        if f.is_finite() {
            Ok(())
        } else {
            Err(NonFinite(f))
        }
    }

    macro_rules! fine {
        ($($name:ident($($t:ty),*);)*) => {$(
            fn $name(self, $(_: $t),*) -> R { Ok(()) }
        )*};
    }

    impl ser::Serializer for Check {
        type Ok = ();
        type Error = NonFinite;
        type SerializeSeq = Check;
        type SerializeTuple = Check;
        type SerializeTupleStruct = Check;
        type SerializeTupleVariant = Check;
        type SerializeMap = Check;
        type SerializeStruct = Check;
        type SerializeStructVariant = Check;

        fine! {
            serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
            serialize_i128(i128); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
            serialize_u128(u128); serialize_char(char); serialize_str(&str); serialize_bytes(&[u8]);
            serialize_none(); serialize_unit(); serialize_unit_struct(&'static str);
            serialize_unit_variant(&'static str, u32, &'static str);
        }

        fn serialize_f32(self, v: f32) -> R {
            float(v.into())
        }
        fn serialize_f64(self, v: f64) -> R {
            float(v)
        }
        fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> R {
            v.serialize(Check)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> R {
            v.serialize(Check)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            v: &T,
        ) -> R {
            v.serialize(Check)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Check, NonFinite> {
            Ok(Check)
        }
        fn serialize_tuple(self, _: usize) -> Result<Check, NonFinite> {
            Ok(Check)
        }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Check, NonFinite> {
            Ok(Check)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Check, NonFinite> {
            Ok(Check)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Check, NonFinite> {
            Ok(Check)
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Check, NonFinite> {
            Ok(Check)
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Check, NonFinite> {
            Ok(Check)
        }
    }

    macro_rules! compound {
        ($($tr:ident :: $m:ident;)*) => {$(
            impl ser::$tr for Check {
                type Ok = ();
                type Error = NonFinite;
                fn $m<T: Serialize + ?Sized>(&mut self, v: &T) -> R { v.serialize(Check) }
                fn end(self) -> R { Ok(()) }
            }
        )*};
    }

    compound! {
        SerializeSeq::serialize_element;
        SerializeTuple::serialize_element;
        SerializeTupleStruct::serialize_field;
        SerializeTupleVariant::serialize_field;
    }

    impl ser::SerializeMap for Check {
        type Ok = ();
        type Error = NonFinite;
        fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> R {
            k.serialize(Check)
        }
        fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
            v.serialize(Check)
        }
        fn end(self) -> R {
            Ok(())
        }
    }

    impl ser::SerializeStruct for Check {
        type Ok = ();
        type Error = NonFinite;
        fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, v: &T) -> R {
            v.serialize(Check)
        }
        fn end(self) -> R {
            Ok(())
        }
    }

    impl ser::SerializeStructVariant for Check {
        type Ok = ();
        type Error = NonFinite;
        fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, v: &T) -> R {
            v.serialize(Check)
        }
        fn end(self) -> R {
            Ok(())
        }
    }
}
