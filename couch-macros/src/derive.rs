//! `#[derive(CouchRow)]` and `#[derive(CouchObject)]`: parse the model → check it → generate its items.

use crate::model_type::{column_type, has_datetime, Hole};
use crate::names::table_module;
use couch_translate::{Column, Kind, Schema, TableKey};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr, Visibility};

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
    ty: syn::Type,
    column: Column,
    hole: Option<Hole>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Model {
    /// A table's document (`CouchRow`).
    Row,
    /// A nested object (`CouchObject`).
    Object,
}

/// The fields of a model, checked; errors are pushed to `errors`. `discriminator`
/// is the document field a table's rows keep their table name in (`type`).
fn read_fields(
    input: &DeriveInput,
    model: Model,
    discriminator: Option<&str>,
    errors: &mut Errors,
) -> Option<Vec<Field>> {
    let derive = if model == Model::Row { "CouchRow" } else { "CouchObject" };
    let name = &input.ident;
    if !input.generics.params.is_empty() {
        errors.push(syn::Error::new(input.generics.span(), format!("a {derive} model cannot be generic")));
    }
    let named = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => Some(&f.named),
            _ => None,
        },
        _ => None,
    };
    let Some(named) = named else {
        errors.push(syn::Error::new(
            name.span(),
            format!("{derive} is derived for structs with named fields: each field is a document field"),
        ));
        return None;
    };
    let mut fields: Vec<Field> = Vec::new();
    for (index, f) in named.iter().enumerate() {
        let ident = f.ident.clone().expect("named field");
        let (mut id, mut rev, mut json, mut rename) = (false, false, false, None);
        for attr in f.attrs.iter().filter(|a| a.path().is_ident("couch")) {
            let r = attr.parse_nested_meta(|m| {
                if m.path.is_ident("id") && model == Model::Row {
                    id = true;
                } else if m.path.is_ident("rev") && model == Model::Row {
                    rev = true;
                } else if m.path.is_ident("json") {
                    json = true;
                } else if m.path.is_ident("rename") {
                    rename = Some(m.value()?.parse::<LitStr>()?.value());
                } else if model == Model::Row {
                    return Err(m.error("unknown attribute: on a field, write #[couch(id)], #[couch(rev)], #[couch(json)] or #[couch(rename = \"field\")]"));
                } else {
                    return Err(m.error("unknown attribute: on a field of a CouchObject, write #[couch(json)] or #[couch(rename = \"field\")]"));
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
        if discriminator == Some(field.as_str()) {
            errors.push(syn::Error::new(
                ident.span(),
                format!("`{field}` is where couch-sql stores the table name of each document; give this field another name, or pick another field with #[couch(table = \"…\", type_field = \"…\")]"),
            ));
            continue;
        }
        if model == Model::Row && field.starts_with('_') && !id && !rev {
            errors.push(syn::Error::new(ident.span(), "document fields starting with `_` are reserved by CouchDB; use #[couch(id)] / #[couch(rev)] for `_id` / `_rev`, or #[couch(rename = \"…\")]"));
            continue;
        }
        if field.starts_with('$') || field.is_empty() {
            errors.push(syn::Error::new(
                ident.span(),
                "a field name must not be empty or start with `$`: Mango reads `$…` as an operator",
            ));
            continue;
        }
        if !couch_translate::path::can_escape(&field) {
            errors.push(syn::Error::new(
                ident.span(),
                format!("CouchDB drops every `\\` of a field path, so no query can reach a field named `{field}`; rename it without a backslash"),
            ));
            continue;
        }
        let (ty, hole) = match column_type(&f.ty, json) {
            Ok(t) => t,
            Err(m) => {
                errors.push(syn::Error::new(f.ty.span(), m));
                continue;
            }
        };
        if (id || rev) && (ty.kind != Kind::Text || ty.element.is_some()) {
            errors.push(syn::Error::new(f.ty.span(), "`_id` and `_rev` are strings: use String or Option<String>"));
            continue;
        }
        if fields.iter().any(|x| x.column.field == field) {
            errors.push(syn::Error::new(ident.span(), format!("two fields map to the document field `{field}`")));
            continue;
        }
        let column = Column::mapped(sql_name, field, ty).at(index);
        fields.push(Field { ident, ty: f.ty.clone(), column, hole });
    }
    Some(fields)
}

/// Items both derives emit: the types of the fields by position, and `Unwrap`.
fn field_types(name: &syn::Ident, fields: &[Field]) -> TokenStream {
    let impls = fields.iter().map(|f| {
        let i = f.column.index.expect("set when read");
        let ty = &f.ty;
        quote! { impl ::couch_sql::__private::FieldType<#i> for #name { type Ty = #ty; } }
    });
    let checks = fields.iter().filter_map(|f| f.hole.as_ref()).map(|h| {
        let path = &h.path;
        quote! { const _: fn() = ::couch_sql::__private::assert_object::<#path>; }
    });
    quote! {
        #(#impls)*
        impl ::couch_sql::__private::Unwrap for #name { type Inner = #name; }
        #(#checks)*
    }
}

/// The schema, its holes (nested object types to fill in), and the chain that fills them.
fn schema_chain(schema: &Schema, fields: &[Field], target: TokenStream) -> TokenStream {
    let json = serde_json::to_string(schema).expect("a schema serializes");
    let holes = fields.iter().filter_map(|f| {
        let h = f.hole.as_ref()?;
        let (pos, elem, path) = (f.column.index.expect("set"), h.in_element, &h.path);
        Some(quote! { (#pos #elem #path) })
    });
    quote! { ::couch_sql::__private::schema! { { #json } [ #(#holes)* ] => #target } }
}

/// How a table's documents are recognised, from `type_field` / `id_prefix`.
fn table_key(type_field: Option<LitStr>, id_prefix: Option<LitStr>, errors: &mut Errors) -> TableKey {
    match (type_field, id_prefix) {
        (Some(f), Some(_)) => {
            errors.push(syn::Error::new(
                f.span(),
                "a table is recognised either by a field (type_field) or by an `_id` prefix (id_prefix), not both",
            ));
            TableKey::default()
        }
        (Some(f), None) => {
            let v = f.value();
            if v.is_empty() || v.starts_with('_') || v.contains('.') {
                errors.push(syn::Error::new(
                    f.span(),
                    "type_field names a top-level document field: not empty, without `.`, and not starting with `_` (CouchDB reserves those)",
                ));
            }
            TableKey::Field(v)
        }
        (None, Some(p)) => {
            if p.value().is_empty() {
                errors.push(syn::Error::new(p.span(), "id_prefix must not be empty (every `_id` starts with \"\")"));
            } else if p.value().starts_with('_') {
                errors.push(syn::Error::new(
                    p.span(),
                    "`_id`s starting with `_` are reserved by CouchDB (`_design/…`, `_local/…`)",
                ));
            }
            TableKey::IdPrefix(p.value())
        }
        (None, None) => TableKey::default(),
    }
}

/// The document field of a partitioned table's partition column: a `String`
/// column of the model at the top level of the document.
fn partition_column(p: &LitStr, key: &TableKey, fields: &[Field]) -> Result<String, syn::Error> {
    let name = p.value();
    if let TableKey::IdPrefix(_) = key {
        return Err(syn::Error::new(
            p.span(),
            "a partitioned table's ids start with their partition (`tenant:…`), so it cannot also be an id_prefix table",
        ));
    }
    let Some(f) = fields.iter().find(|f| f.column.name == name || f.column.field == name) else {
        let all: Vec<String> = fields.iter().map(|f| format!("`{}`", f.column.name)).collect();
        return Err(syn::Error::new(
            p.span(),
            format!("partition = \"{name}\" names no column of the model; its columns: {}", all.join(", ")),
        ));
    };
    let text = f.column.ty.kind == Kind::Text && !f.column.ty.nullable;
    if !text || f.column.field.starts_with('_') || f.column.field.contains('.') {
        return Err(syn::Error::new(
            p.span(),
            format!(
                "the partition column `{name}` must be a `String` field of the document itself (not an Option, \
                 not `_id`, not nested): every document's id starts with its value"
            ),
        ));
    }
    Ok(f.column.field.clone())
}

pub(crate) fn expand_row(input: DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let name = &input.ident;
    let mut table: Option<String> = None;
    let (mut type_field, mut id_prefix): (Option<LitStr>, Option<LitStr>) = (None, None);
    let mut partition: Option<LitStr> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("couch")) {
        let r = attr.parse_nested_meta(|m| {
            if m.path.is_ident("partition") {
                partition = Some(m.value()?.parse::<LitStr>()?);
            } else if m.path.is_ident("table") {
                table = Some(m.value()?.parse::<LitStr>()?.value());
            } else if m.path.is_ident("type_field") {
                type_field = Some(m.value()?.parse::<LitStr>()?);
            } else if m.path.is_ident("id_prefix") {
                id_prefix = Some(m.value()?.parse::<LitStr>()?);
            } else {
                return Err(m.error(
                    "unknown attribute: on the struct, write #[couch(table = \"name\")], and optionally \
                     type_field = \"field\" (the field holding the table name, `type` by default) \
                     or id_prefix = \"prefix:\" (a table of the documents whose `_id` starts with it), \
                     and partition = \"column\" in a partitioned database",
                ));
            }
            Ok(())
        });
        if let Err(e) = r {
            errors.push(e);
        }
    }
    let key = table_key(type_field, id_prefix, &mut errors);
    let table = table.unwrap_or_else(|| snake_case(&name.to_string()));
    if table.is_empty() || table.starts_with('_') {
        errors.push(syn::Error::new(
            name.span(),
            "the table name must not be empty or start with `_` (CouchDB reserves such names)",
        ));
    }
    let discriminator = match &key {
        TableKey::Field(f) => Some(f.as_str()),
        TableKey::IdPrefix(_) => None,
    };
    let fields = read_fields(&input, Model::Row, discriminator, &mut errors);
    if let Some(e) = errors.0.take() {
        return e.to_compile_error();
    }
    let Some(fields) = fields else { return TokenStream::new() };
    let partition_field = match &partition {
        None => None,
        Some(p) => match partition_column(p, &key, &fields) {
            Ok(field) => Some(field),
            Err(e) => return e.to_compile_error(),
        },
    };

    let kind = match &key {
        TableKey::Field(f) => quote!(::couch_sql::TableKind::Field(#f)),
        TableKey::IdPrefix(p) => quote!(::couch_sql::TableKind::IdPrefix(#p)),
    };
    // What a resolved conflict writes back: the model's fields, `_id` and `_rev` aside.
    let field_writes: Vec<TokenStream> = fields
        .iter()
        .filter(|f| f.column.field != "_id" && f.column.field != "_rev")
        .map(|f| {
            let (ident, field) = (&f.ident, &f.column.field);
            let value = if has_datetime(&f.ty) {
                quote! { ::couch_sql::__private::datetime::serialize(&self.#ident, ::couch_sql::__private::serde_json::value::Serializer)? }
            } else {
                quote! { (&&::couch_sql::__private::FieldJson(&self.#ident)).field_json()? }
            };
            quote! { fields.insert(::std::string::String::from(#field), #value); }
        })
        .collect();
    let mut schema = Schema::new(table.clone(), fields.iter().map(|f| f.column.clone()).collect()).with_key(key);
    if let Some(field) = partition_field {
        schema = schema.with_partition(field);
    }
    crate::tables::declared(&table);
    let module = table_module(&table, name.span());
    let macro_vis = macro_visibility(&input.vis);
    let macro_name = format_ident!("__couch_sql_table_{}", module.to_string().trim_start_matches("r#"));
    let vis = &input.vis;
    let repr = format_ident!("__CouchSqlRepr{}", name);
    let idents: Vec<_> = fields.iter().map(|f| &f.ident).collect();
    let types: Vec<_> = fields.iter().map(|f| &f.ty).collect();
    let doc_fields: Vec<_> = fields.iter().map(|f| &f.column.field).collect();
    let field_types = field_types(name, &fields);
    let chain = schema_chain(&schema, &fields, quote!(table #macro_name #module (#macro_vis)));
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
                const KIND: ::couch_sql::TableKind = #kind;

                fn to_fields(&self) -> ::couch_sql::__private::serde_json::Result<
                    ::couch_sql::__private::serde_json::Map<::std::string::String, ::couch_sql::__private::serde_json::Value>,
                > {
                    #[allow(unused_imports)]
                    use ::couch_sql::__private::{OpaqueField as _, SerializeField as _};
                    let mut fields = ::couch_sql::__private::serde_json::Map::new();
                    #( #field_writes )*
                    ::core::result::Result::Ok(fields)
                }
            }

            #field_types
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

        #chain
    }
}

pub(crate) fn expand_object(input: DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let name = &input.ident;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("couch")) {
        errors.push(syn::Error::new(
            attr.span(),
            "a CouchObject has no table: it is stored inside the documents of the tables that use it",
        ));
    }
    let fields = read_fields(&input, Model::Object, None, &mut errors);
    if let Some(e) = errors.0.take() {
        return e.to_compile_error();
    }
    let Some(fields) = fields else { return TokenStream::new() };
    let schema = Schema {
        table: String::new(),
        columns: fields.iter().map(|f| f.column.clone()).collect(),
        key: TableKey::default(),
        partition: None,
    };
    let macro_vis = macro_visibility(&input.vis);
    let macro_name = format_ident!("__couch_sql_object_{}", name);
    let repr = format_ident!("__CouchSqlRepr{}", name);
    let name_str = name.to_string();
    let decls = fields.iter().map(|f| {
        let (ident, ty, field) = (&f.ident, &f.ty, &f.column.field);
        let with = has_datetime(ty)
            .then(|| quote! { #[serde(serialize_with = "::couch_sql::__private::datetime::serialize")] });
        quote! { #[serde(rename = #field)] #with #ident: #ty }
    });
    let field_types = field_types(name, &fields);
    let chain = schema_chain(&schema, &fields, quote!(object #macro_name #name (#macro_vis)));
    quote! {
        const _: () = {
            #[derive(::couch_sql::__private::serde::Serialize, ::couch_sql::__private::serde::Deserialize)]
            #[serde(crate = "::couch_sql::__private::serde", remote = #name_str)]
            #[allow(non_camel_case_types, non_snake_case)]
            struct #repr {
                #( #decls, )*
            }

            impl ::couch_sql::__private::serde::Serialize for #name {
                fn serialize<S: ::couch_sql::__private::serde::Serializer>(&self, s: S) -> ::core::result::Result<S::Ok, S::Error> {
                    #repr::serialize(self, s)
                }
            }

            impl<'de> ::couch_sql::__private::serde::Deserialize<'de> for #name {
                fn deserialize<D: ::couch_sql::__private::serde::Deserializer<'de>>(d: D) -> ::core::result::Result<Self, D::Error> {
                    #repr::deserialize(d)
                }
            }

            impl ::couch_sql::CouchObject for #name {}
            impl ::couch_sql::__private::Object for #name {}

            #[diagnostic::do_not_recommend]
            impl ::couch_sql::__private::Encode<#name> for #name {
                fn encode(&self) -> ::couch_sql::__private::serde_json::Value {
                    ::couch_sql::__private::encode_object(self)
                }
            }
            #[diagnostic::do_not_recommend]
            impl ::couch_sql::__private::Encode<::core::option::Option<#name>> for #name {
                fn encode(&self) -> ::couch_sql::__private::serde_json::Value {
                    ::couch_sql::__private::encode_object(self)
                }
            }

            #field_types
        };

        #chain
    }
}

/// The visibility of a generated macro's import: the struct's, capped at
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
