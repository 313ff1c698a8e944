//! Names shared by the derive and the query macro.

use proc_macro2::{Ident, Span};

/// The Rust identifier of a table's hidden module: the table name with
/// anything that cannot stand in an identifier replaced by `_`.
pub(crate) fn table_module(table: &str, span: Span) -> Ident {
    let mut s: String = table.chars().map(|c| if c.is_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if matches!(s.as_str(), "self" | "super" | "crate" | "Self" | "_") {
        s.push('_');
    }
    match syn::parse_str::<Ident>(&s) {
        Ok(_) => Ident::new(&s, span),
        Err(_) => Ident::new_raw(&s, span), // a keyword such as `type` or `match`
    }
}
