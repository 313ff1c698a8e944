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
encode_as!(f64 => f64, f32, i32, i16, i8, u32, u16, u8);
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
