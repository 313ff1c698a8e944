//! `#[derive(CouchRow)]`: parse the model → check it → generate its items.

use crate::names::table_module;
use couch_translate::{Column, ColumnType, Kind, Schema};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericArgument, LitStr, PathArguments, Type, Visibility};

/// Errors collected while reading the model, so all of them show at once.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

struct Field {
    ident: syn::Ident,
    ty: Type,
    column: Column,
}

pub(crate) fn expand(input: DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let name = &input.ident;
    if !input.generics.params.is_empty() {
        errors
            .push(syn::Error::new(input.generics.span(), "a CouchRow model cannot be generic: it describes one table"));
    }
    let mut table: Option<String> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("couch")) {
        let r = attr.parse_nested_meta(|m| {
            if m.path.is_ident("table") {
                table = Some(m.value()?.parse::<LitStr>()?.value());
                Ok(())
            } else {
                Err(m.error("unknown attribute: on the struct, write #[couch(table = \"name\")]"))
            }
        });
        if let Err(e) = r {
            errors.push(e);
        }
    }
    let table = table.unwrap_or_else(|| snake_case(&name.to_string()));
    if table.is_empty() || table.starts_with('_') {
        errors.push(syn::Error::new(
            name.span(),
            "the table name must not be empty or start with `_` (CouchDB reserves such names)",
        ));
    }

    let named = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => Some(&f.named),
            _ => None,
        },
        _ => None,
    };
    let Some(named) = named else {
        return syn::Error::new(
            name.span(),
            "CouchRow is derived for structs with named fields: each field is a column",
        )
        .to_compile_error();
    };

    let mut fields = Vec::new();
    for f in named {
        let ident = f.ident.clone().expect("named field");
        let (mut id, mut rev, mut rename) = (false, false, None);
        for attr in f.attrs.iter().filter(|a| a.path().is_ident("couch")) {
            let r = attr.parse_nested_meta(|m| {
                if m.path.is_ident("id") {
                    id = true;
                } else if m.path.is_ident("rev") {
                    rev = true;
                } else if m.path.is_ident("rename") {
                    rename = Some(m.value()?.parse::<LitStr>()?.value());
                } else {
                    return Err(m.error("unknown attribute: on a field, write #[couch(id)], #[couch(rev)] or #[couch(rename = \"field\")]"));
                }
                Ok(())
            });
            if let Err(e) = r {
                errors.push(e);
            }
        }
        let sql_name = ident.to_string().trim_start_matches("r#").to_string();
        let field = if id {
            "_id".to_string()
        } else if rev {
            "_rev".to_string()
        } else {
            rename.unwrap_or_else(|| sql_name.clone())
        };
        if field == "type" {
            errors.push(syn::Error::new(
                ident.span(),
                "`type` is where couch-sql stores the table name of each document; give this field another name",
            ));
            continue;
        }
        if field.starts_with('_') && !id && !rev {
            errors.push(syn::Error::new(ident.span(), "document fields starting with `_` are reserved by CouchDB; use #[couch(id)] / #[couch(rev)] for `_id` / `_rev`, or #[couch(rename = \"…\")]"));
            continue;
        }
        let Some(ty) = column_type(&f.ty) else {
            errors.push(syn::Error::new(
                f.ty.span(),
                "unsupported column type: a CouchRow column is i64, i32, f64, String or bool, or an Option of one of them (Option = the column may be NULL)",
            ));
            continue;
        };
        if (id || rev) && ty.kind != Kind::Text {
            errors.push(syn::Error::new(f.ty.span(), "`_id` and `_rev` are strings: use String or Option<String>"));
            continue;
        }
        if fields.iter().any(|x: &Field| x.column.field == field) {
            errors.push(syn::Error::new(ident.span(), format!("two fields map to the document field `{field}`")));
            continue;
        }
        fields.push(Field { ident, ty: f.ty.clone(), column: Column::mapped(sql_name, field, ty) });
    }
    if let Some(e) = errors.0 {
        return e.to_compile_error();
    }

    let schema = Schema::new(table.clone(), fields.iter().map(|f| f.column.clone()).collect());
    let schema_json = serde_json::to_string(&schema).expect("a schema serializes");
    let module = table_module(&table, name.span());
    let macro_vis = macro_visibility(&input.vis);
    let macro_name = format_ident!("__couch_sql_table_{}", module.to_string().trim_start_matches("r#"));
    let vis = &input.vis;
    let repr = format_ident!("__CouchSqlRepr{}", name);
    let idents: Vec<_> = fields.iter().map(|f| &f.ident).collect();
    let types: Vec<_> = fields.iter().map(|f| &f.ty).collect();
    let doc_fields: Vec<_> = fields.iter().map(|f| &f.column.field).collect();
    // The table is a name in two namespaces: a marker type whose `Table::Model`
    // is the struct, and a macro carrying the schema. `use models::users;`
    // imports both; models declared inside a function work too.
    let module_doc = format!("The `{table}` table of `{name}` (generated by `#[derive(CouchRow)]`; `couch_sql!` finds the table through it).");

    quote! {
        const _: () = {
            #[derive(::couch_sql::__private::serde::Deserialize)]
            #[serde(crate = "::couch_sql::__private::serde")]
            #[allow(non_camel_case_types, non_snake_case)]
            struct #repr {
                #( #[serde(rename = #doc_fields)] #idents: #types, )*
            }

            impl<'de> ::couch_sql::__private::serde::Deserialize<'de> for #name {
                fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
                where
                    D: ::couch_sql::__private::serde::Deserializer<'de>,
                {
                    let r = <#repr as ::couch_sql::__private::serde::Deserialize<'de>>::deserialize(deserializer)?;
                    ::core::result::Result::Ok(#name { #( #idents: r.#idents, )* })
                }
            }

            impl ::couch_sql::CouchRow for #name {
                const TABLE: &'static str = #table;
            }
        };

        #[doc = #module_doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        // Braced, so it takes no name in the value namespace: `let users = …` stays a variable.
        #vis struct #module {}

        impl ::couch_sql::__private::Table for #module {
            type Model = #name;
        }

        // Queries may only ever read projections: the model is still used (no dead-code warning).
        const _: fn() -> ::core::option::Option<#name> = || ::core::option::Option::None;

        #[doc(hidden)]
        macro_rules! #macro_name {
            ($($query:tt)*) => {
                ::couch_sql::__private::expand! { { #schema_json } $($query)* }
            };
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        #macro_vis use #macro_name as #module;
    }
}

/// The column type of a Rust field type, if it is one couch-sql maps.
fn column_type(ty: &Type) -> Option<ColumnType> {
    if let Some(inner) = generic_arg(ty, "Option") {
        let base = base_kind(inner)?;
        return Some(ColumnType::new(base.0, true, format!("Option<{}>", base.1)));
    }
    let (kind, rust) = base_kind(ty)?;
    Some(ColumnType::new(kind, false, rust))
}

fn base_kind(ty: &Type) -> Option<(Kind, &'static str)> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if !last.arguments.is_empty() {
        return None;
    }
    Some(match last.ident.to_string().as_str() {
        "i64" => (Kind::Integer, "i64"),
        "i32" => (Kind::Integer, "i32"),
        "f64" => (Kind::Float, "f64"),
        "String" => (Kind::Text, "String"),
        "bool" => (Kind::Bool, "bool"),
        _ => return None,
    })
}

fn generic_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
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

/// The visibility of the table's macro import: the struct's, capped at
/// `pub(crate)` (a `macro_rules!` cannot be exported by `use`).
fn macro_visibility(vis: &Visibility) -> TokenStream {
    match vis {
        Visibility::Public(_) => quote!(pub(crate)),
        Visibility::Inherited => quote!(),
        Visibility::Restricted(r) => quote!(#r),
    }
}

fn snake_case(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
