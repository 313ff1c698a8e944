//! A model field's Rust type → its column type, read from the syntax alone.

use couch_translate::{ColumnType, Kind};
use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

/// An object type whose fields the derive cannot see: its schema arrives
/// later, from the type's own `#[derive(CouchObject)]` (see `chain.rs`).
pub(crate) struct Hole {
    pub path: syn::Path,
    /// The object is the element of an array column.
    pub in_element: bool,
}

/// The column type of a field, or a message saying why it has none.
pub(crate) fn column_type(ty: &Type, json: bool) -> Result<(ColumnType, Option<Hole>), String> {
    let rust = tidy(ty);
    let (nullable, inner) = match generic_arg(ty, "Option") {
        Some(t) => (true, t),
        None => (false, ty),
    };
    if json {
        return Ok((ColumnType::new(Kind::Json, nullable, rust), None));
    }
    if let Some(e) = generic_arg(inner, "Vec") {
        let (elem_nullable, elem_ty) = match generic_arg(e, "Option") {
            Some(t) => (true, t),
            None => (false, e),
        };
        if generic_arg(elem_ty, "Vec").is_some() {
            return Err(format!(
                "`{rust}`: arrays of arrays are not modelled; store the field whole with #[couch(json)]"
            ));
        }
        let (elem, hole) = base(elem_ty, elem_nullable)?;
        let hole = hole.map(|path| Hole { path, in_element: true });
        return Ok((ColumnType::array(elem, nullable, rust), hole));
    }
    let (mut ct, hole) = base(inner, nullable)?;
    ct.rust = rust;
    Ok((ct, hole.map(|path| Hole { path, in_element: false })))
}

/// A non-`Option`, non-`Vec` type.
fn base(ty: &Type, nullable: bool) -> Result<(ColumnType, Option<syn::Path>), String> {
    let rust = tidy(ty);
    let shown = if nullable { format!("Option<{rust}>") } else { rust.clone() };
    let unsupported = || {
        format!("`{rust}` is not a column type couch-sql maps: use an integer (i8…i64, u8…u64), f32, f64, String, bool, chrono::DateTime<Utc>, serde_json::Value, a #[derive(CouchObject)] struct, a Vec or Option of these, or mark the field #[couch(json)] to store any serde type whole")
    };
    let Type::Path(p) = ty else { return Err(unsupported()) };
    if p.qself.is_some() {
        return Err(unsupported());
    }
    let last = p.path.segments.last().ok_or_else(unsupported)?;
    let name = last.ident.to_string();
    let kind = match name.as_str() {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" => Kind::Integer,
        "f32" | "f64" => Kind::Float,
        "String" => Kind::Text,
        "bool" => Kind::Bool,
        "DateTime" => {
            let utc = match &last.arguments {
                PathArguments::AngleBracketed(a) => {
                    a.args.len() == 1 && tidy(&a.args[0]).rsplit("::").next() == Some("Utc")
                }
                _ => false,
            };
            if !utc {
                return Err(format!("`{rust}`: date-times are stored in UTC; use chrono::DateTime<chrono::Utc>"));
            }
            Kind::DateTime
        }
        "Value" if last.arguments.is_empty() => Kind::Json,
        _ if !last.arguments.is_empty() => return Err(unsupported()),
        "i128" | "u128" | "usize" | "isize" | "char" | "str" => return Err(unsupported()),
        _ => return Ok((ColumnType::object(vec![], nullable, shown), Some(p.path.clone()))),
    };
    if kind != Kind::DateTime && kind != Kind::Json && !last.arguments.is_empty() {
        return Err(unsupported());
    }
    Ok((ColumnType::new(kind, nullable, shown), None))
}

pub(crate) fn generic_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        GenericArgument::Type(t) if args.args.len() == 1 => Some(t),
        _ => None,
    }
}

/// A type as a person writes it: `Option<Vec<String>>`, not `Option < Vec < String > >`.
pub(crate) fn tidy(t: &impl ToTokens) -> String {
    let s = t.to_token_stream().to_string();
    s.replace(" < ", "<")
        .replace("< ", "<")
        .replace(" <", "<")
        .replace(" >", ">")
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" ,", ",")
}

/// Whether a field type mentions `DateTime` (its serialization needs the stored form).
pub(crate) fn has_datetime(ty: &Type) -> bool {
    tidy(ty).contains("DateTime")
}
