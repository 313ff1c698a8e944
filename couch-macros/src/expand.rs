//! `couch_sql!`: find the table → check the SQL against its schema → emit the query.

use crate::names::table_module;
use couch_translate::{translate, ColumnType, ParamUsage, Plan, Schema, TranslateErrors};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Token};

/// `"SQL", arg, arg…`
struct QueryArgs {
    sql: LitStr,
    args: Vec<Expr>,
}

impl Parse for QueryArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let sql: LitStr = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "couch_sql! takes an SQL string literal, then one argument per `?`: couch_sql!(\"SELECT * FROM users WHERE age > ?\", min_age)")
        })?;
        let mut args = Vec::new();
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
            args = Punctuated::<Expr, Token![,]>::parse_terminated(input)?.into_iter().collect();
        }
        Ok(QueryArgs { sql, args })
    }
}

fn errors_at(span: Span, errors: &TranslateErrors) -> TokenStream {
    let mut all: Option<syn::Error> = None;
    for e in errors.iter() {
        let err = syn::Error::new(span, e.to_string());
        match &mut all {
            Some(a) => a.combine(err),
            None => all = Some(err),
        }
    }
    // A block, so that several `compile_error!`s still form one expression.
    let errors = all.map(|e| e.to_compile_error()).unwrap_or_default();
    quote! {{ #errors }}
}

/// `couch_sql!("…", args…)` → `<table>! { (<table>) "…", args… }`.
pub(crate) fn front(input: TokenStream) -> TokenStream {
    let q: QueryArgs = match syn::parse2(input) {
        Ok(q) => q,
        Err(e) => return e.to_compile_error(),
    };
    let table = match couch_translate::table_of(&q.sql.value()) {
        Ok(t) => t,
        Err(errors) => return errors_at(q.sql.span(), &errors),
    };
    // Spanned at the SQL literal: if no model declares this table, rustc says so there.
    let module = table_module(&table, q.sql.span());
    let sql = &q.sql;
    let args = &q.args;
    quote! { #module! { (#module) #sql #(, #args)* } }
}

/// `{ "schema json" } (module) "SQL", args…`
struct WithSchema {
    schema: LitStr,
    module: Ident,
    query: QueryArgs,
}

impl Parse for WithSchema {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let braced;
        syn::braced!(braced in input);
        let schema = braced.parse()?;
        let paren;
        syn::parenthesized!(paren in input);
        let module = paren.parse()?;
        Ok(WithSchema { schema, module, query: input.parse()? })
    }
}

pub(crate) fn with_schema(input: TokenStream) -> TokenStream {
    let w: WithSchema = match syn::parse2(input) {
        Ok(w) => w,
        Err(e) => return e.to_compile_error(),
    };
    let schema: Schema = match serde_json::from_str(&w.schema.value()) {
        Ok(s) => s,
        Err(e) => {
            return syn::Error::new(w.query.sql.span(), format!("couch-sql internal error: bad schema ({e})"))
                .to_compile_error()
        }
    };
    let sql = &w.query.sql;
    let args = &w.query.args;
    let t = match translate(&sql.value(), Some(&schema)) {
        Ok(t) => t,
        Err(errors) => return errors_at(sql.span(), &errors),
    };
    if t.params.len() != args.len() {
        let n = t.params.len();
        let message = format!(
            "this query has {n} `?` parameter{}, but {} argument{} given",
            if n == 1 { "" } else { "s" },
            args.len(),
            if args.len() == 1 { " was" } else { "s were" }
        );
        return match args.get(n) {
            Some(extra) => syn::Error::new(extra.span(), format!("{message}: remove this argument or add a `?`")),
            None => {
                let (line, col) = t.params[args.len()].location;
                syn::Error::new(
                    sql.span(),
                    format!("{message}: parameter {} at SQL line {line}, column {col} has no value", args.len() + 1),
                )
            }
        }
        .to_compile_error();
    }

    let encoded = t.params.iter().zip(args).map(|(p, arg)| {
        let ty = match &p.usage {
            ParamUsage::Compare { ty: Some(ty), .. } | ParamUsage::Store { ty: Some(ty), .. } => rust_type(ty),
            ParamUsage::Compare { ty: None, .. } | ParamUsage::Store { ty: None, .. } => {
                quote!(::couch_sql::__private::serde_json::Value)
            }
            ParamUsage::Like { .. } => quote!(::std::string::String),
            ParamUsage::Count => quote!(::couch_sql::__private::RowCount),
        };
        // Spanned at the argument, so a type mismatch is reported there.
        quote_spanned! {arg.span()=> ::couch_sql::__private::encode::<#ty, _>(&(#arg)) }
    });
    let plan_json = serde_json::to_string(&t.plan).expect("a plan serializes");
    let prepared = quote! {
        static __COUCH_SQL_PREPARED: ::couch_sql::__private::Prepared =
            ::couch_sql::__private::Prepared::new(#sql, #plan_json);
    };
    let params = quote! { ::std::vec![ #(#encoded),* ] };
    // Register the planned index at link time (`couch_sql::planned_indexes()`).
    let planned = match &t.plan {
        Plan::Select(s) | Plan::Explain(s) => s.planned.as_ref(),
        Plan::Update(u) => u.planned.as_ref(),
        Plan::Delete(d) => d.planned.as_ref(),
        _ => None,
    };
    let prepared = match planned {
        Some(fields) => {
            let table = t.plan.table();
            let examples: Vec<serde_json::Value> = t.params.iter().map(|p| example_value(&p.usage)).collect();
            let examples = serde_json::Value::Array(examples).to_string();
            quote! {
                #prepared
                ::couch_sql::__private::inventory::submit! {
                    ::couch_sql::__private::PlannedIndex {
                        table: #table,
                        fields: &[#(#fields),*],
                        sql: #sql,
                        prepared: &__COUCH_SQL_PREPARED,
                        example_params: #examples,
                    }
                }
            }
        }
        None => prepared,
    };
    let module = &w.module;
    match &t.plan {
        Plan::Select(s) => match &s.projection {
            None => quote! {{
                #prepared
                ::couch_sql::__private::Query::<<#module as ::couch_sql::__private::Table>::Model>::new(&__COUCH_SQL_PREPARED, #params)
            }},
            Some(cols) => {
                let mut names = Vec::new();
                let mut types = Vec::new();
                let mut fields = Vec::new();
                let mut nullable = Vec::new();
                for c in cols {
                    let Ok(ident) = syn::parse_str::<Ident>(&c.name) else {
                        return syn::Error::new(
                            sql.span(),
                            format!("`{}` cannot be a Rust field name: choose another alias with AS", c.name),
                        )
                        .to_compile_error();
                    };
                    let ty = schema
                        .column(&c.column)
                        .map(|col| rust_type(&col.ty))
                        .unwrap_or_else(|| quote!(::couch_sql::__private::serde_json::Value));
                    names.push(Ident::new(&ident.to_string(), sql.span()));
                    types.push(ty);
                    fields.push(c.field.clone());
                    nullable.push(schema.column(&c.column).is_none_or(|col| col.ty.nullable));
                }
                let row = row_struct(&names, &types, &fields, &nullable);
                quote! {{
                    #row
                    #prepared
                    ::couch_sql::__private::Query::<Row>::new(&__COUCH_SQL_PREPARED, #params)
                }}
            }
        },
        Plan::Explain(_) => quote! {{
            #prepared
            ::couch_sql::__private::Explain::new(&__COUCH_SQL_PREPARED, #params)
        }},
        _ => quote! {{
            #prepared
            ::couch_sql::__private::Command::new(&__COUCH_SQL_PREPARED, #params)
        }},
    }
}

/// The row struct of a column-list SELECT, with `Serialize` and `Deserialize`
/// written out here rather than derived: a few lines per field instead of
/// serde_derive's visitor machinery, which dominated the macro's compile cost.
fn row_struct(names: &[Ident], types: &[TokenStream], fields: &[String], nullable: &[bool]) -> TokenStream {
    let n = names.len();
    let slots: Vec<Ident> = (0..n).map(|i| Ident::new(&format!("__f{i}"), Span::call_site())).collect();
    let finish = names.iter().zip(&slots).zip(fields).zip(nullable).map(|(((name, slot), field), nullable)| {
        if *nullable {
            quote! { #name: #slot.unwrap_or_default() }
        } else {
            quote! { #name: #slot.ok_or_else(|| <__A::Error as ::couch_sql::__private::serde::de::Error>::missing_field(#field))? }
        }
    });
    quote! {
        /// A row of this query: the selected columns, with the model's types.
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)]
        #[allow(non_camel_case_types, non_snake_case)]
        struct Row {
            #( pub #names: #types, )*
        }

        impl<'de> ::couch_sql::__private::serde::Deserialize<'de> for Row {
            fn deserialize<__D: ::couch_sql::__private::serde::Deserializer<'de>>(d: __D) -> ::core::result::Result<Self, __D::Error> {
                struct __V;
                impl<'de> ::couch_sql::__private::serde::de::Visitor<'de> for __V {
                    type Value = Row;
                    fn expecting(&self, f: &mut ::core::fmt::Formatter) -> ::core::fmt::Result {
                        f.write_str("a document")
                    }
                    fn visit_map<__A: ::couch_sql::__private::serde::de::MapAccess<'de>>(self, mut m: __A) -> ::core::result::Result<Row, __A::Error> {
                        #( let mut #slots: ::core::option::Option<#types> = ::core::option::Option::None; )*
                        while let ::core::option::Option::Some(k) = m.next_key::<::couch_sql::__private::FieldKey<'de>>()? {
                            match k.as_str() {
                                #( #fields => #slots = ::core::option::Option::Some(m.next_value()?), )*
                                _ => { m.next_value::<::couch_sql::__private::serde::de::IgnoredAny>()?; }
                            }
                        }
                        ::core::result::Result::Ok(Row { #( #finish, )* })
                    }
                }
                d.deserialize_map(__V)
            }
        }

        impl ::couch_sql::__private::serde::Serialize for Row {
            fn serialize<__S: ::couch_sql::__private::serde::Serializer>(&self, s: __S) -> ::core::result::Result<__S::Ok, __S::Error> {
                use ::couch_sql::__private::serde::ser::SerializeMap;
                let mut m = s.serialize_map(::core::option::Option::Some(#n))?;
                #( m.serialize_entry(#fields, &self.#names)?; )*
                m.end()
            }
        }
    }
}

/// A value of the right type for a parameter, to explain a query's plan without its data.
fn example_value(usage: &ParamUsage) -> serde_json::Value {
    use couch_translate::Kind;
    match usage {
        ParamUsage::Compare { ty: Some(ty), .. } | ParamUsage::Store { ty: Some(ty), .. } => match ty.kind {
            Kind::Integer => serde_json::json!(1),
            Kind::Float => serde_json::json!(1.5),
            Kind::Text => serde_json::json!("x"),
            Kind::Bool => serde_json::json!(true),
        },
        ParamUsage::Compare { ty: None, .. } | ParamUsage::Store { ty: None, .. } => serde_json::json!(1),
        ParamUsage::Like { .. } => serde_json::json!("x%"),
        ParamUsage::Count => serde_json::json!(10),
    }
}

/// The Rust type of a column, spelled with absolute paths.
fn rust_type(ty: &ColumnType) -> TokenStream {
    let base = ty.rust.trim_start_matches("Option<").trim_end_matches('>');
    let base = match base {
        "i64" => quote!(i64),
        "i32" => quote!(i32),
        "f64" => quote!(f64),
        "bool" => quote!(bool),
        _ => quote!(::std::string::String),
    };
    if ty.nullable {
        quote!(::core::option::Option<#base>)
    } else {
        base
    }
}
