//! `couch_sql!`: find the table → check the SQL against its schema → emit the query.

use crate::names::table_module;
use couch_translate::{translate, Access, ColumnType, Kind, ParamUsage, Plan, Schema, TranslateErrors};
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
    if let Some(message) = crate::tables::misspelled(&table) {
        return syn::Error::new(q.sql.span(), message).to_compile_error();
    }
    // Spanned at the SQL literal: if no model declares this table, rustc says so there.
    let module = table_module(&table, q.sql.span());
    let sql = &q.sql;
    let args = &q.args;
    quote! { #module! { (#module) #sql #(, #args)* } }
}

/// `Type, "SQL", args…`
struct QueryAsArgs {
    ty: syn::Type,
    query: QueryArgs,
}

impl Parse for QueryAsArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let ty = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "couch_sql_as! takes the row type first: couch_sql_as!(Adult, \"SELECT name, age FROM users\")",
            )
        })?;
        input.parse::<Token![,]>()?;
        Ok(QueryAsArgs { ty, query: input.parse()? })
    }
}

/// `couch_sql_as!(T, "…", args…)` → `<table>! { (<table>) as (T) "…", args… }`.
pub(crate) fn front_as(input: TokenStream) -> TokenStream {
    let q: QueryAsArgs = match syn::parse2(input) {
        Ok(q) => q,
        Err(e) => return e.to_compile_error(),
    };
    let table = match couch_translate::table_of(&q.query.sql.value()) {
        Ok(t) => t,
        Err(errors) => return errors_at(q.query.sql.span(), &errors),
    };
    if let Some(message) = crate::tables::misspelled(&table) {
        return syn::Error::new(q.query.sql.span(), message).to_compile_error();
    }
    let module = table_module(&table, q.query.sql.span());
    let (ty, sql, args) = (&q.ty, &q.query.sql, &q.query.args);
    quote! { #module! { (#module) as (#ty) #sql #(, #args)* } }
}

/// `{ "schema json" } (module) [as (Type)] "SQL", args…`
struct WithSchema {
    schema: LitStr,
    module: Ident,
    /// `couch_sql_as!`'s row type.
    as_type: Option<syn::Type>,
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
        let as_type = if input.peek(Token![as]) {
            input.parse::<Token![as]>()?;
            let ty;
            syn::parenthesized!(ty in input);
            Some(ty.parse()?)
        } else {
            None
        };
        Ok(WithSchema { schema, module, as_type, query: input.parse()? })
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

    let module = &w.module;
    let encoded = t.params.iter().zip(args).map(|(p, arg)| {
        let (ty, json) = match &p.usage {
            ParamUsage::Compare { ty: Some(ty), .. } => (rust_type(ty, module, false), ty.kind == Kind::Json),
            ParamUsage::Store { ty: Some(ty), .. } => (rust_type(ty, module, true), ty.kind == Kind::Json),
            ParamUsage::Compare { ty: None, .. } | ParamUsage::Store { ty: None, .. } => {
                (quote!(::couch_sql::__private::serde_json::Value), false)
            }
            ParamUsage::Like { .. } => (quote!(::std::string::String), false),
            ParamUsage::Count => (quote!(::couch_sql::__private::RowCount), false),
        };
        // Spanned at the argument, so a type mismatch is reported there.
        if json {
            quote_spanned! {arg.span()=> ::couch_sql::__private::encode_json::<#ty, _>(&(#arg)) }
        } else {
            quote_spanned! {arg.span()=> ::couch_sql::__private::encode::<#ty, _>(&(#arg)) }
        }
    });
    let plan_json = serde_json::to_string(&t.plan).expect("a plan serializes");
    let prepared = quote! {
        static __COUCH_SQL_PREPARED: ::couch_sql::__private::Prepared =
            ::couch_sql::__private::Prepared::new(#sql, #plan_json);
    };
    // The arguments are evaluated first, outside the block that declares the
    // generated items, so that no name of theirs (`Row`, …) can capture a user's.
    let params_var = Ident::new("__couch_sql_params", Span::mixed_site());
    let param_values = quote! { ::std::vec![ #(#encoded),* ] };
    let params = quote! { #params_var };
    // Register the planned index at link time (`couch_sql::planned_indexes()`).
    let planned = match &t.plan {
        Plan::Select(s) | Plan::Explain(s) => s.planned.as_ref(),
        Plan::Aggregate(a) => a.read.planned.as_ref(),
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
    // Register the planned view of an aggregate (`couch_sql::planned_views()`).
    let prepared = match &t.plan {
        Plan::Aggregate(a) if a.view.is_some() => {
            let ddoc = &a.view.as_ref().expect("matched").ddoc;
            let table = t.plan.table();
            quote! {
                #prepared
                ::couch_sql::__private::inventory::submit! {
                    ::couch_sql::__private::PlannedView {
                        table: #table,
                        ddoc: #ddoc,
                        sql: #sql,
                        prepared: &__COUCH_SQL_PREPARED,
                    }
                }
            }
        }
        _ => prepared,
    };
    let as_type = w.as_type.as_ref();
    if let Some(ty) = as_type {
        let rows =
            matches!(&t.plan, Plan::Select(s) if s.projection.is_some()) || matches!(&t.plan, Plan::Aggregate(_));
        if !rows {
            let what = if matches!(&t.plan, Plan::Select(_)) {
                "list the columns instead of `*`: couch_sql_as! checks each column against a field of"
            } else {
                "couch_sql_as! is for SELECT; its rows fill the fields of"
            };
            return syn::Error::new(sql.span(), format!("{what} `{}`", quote!(#ty))).to_compile_error();
        }
    }
    // Whether the query can be watched, in its type: `watch` on any other is a compile error.
    let mark = match &t.plan {
        Plan::Select(s) if s.order_by.is_empty() && s.limit.is_none() && s.offset.is_none() => quote!(Watchable),
        Plan::Select(_) => quote!(Windowed),
        _ => quote!(Aggregated),
    };
    let mark = quote!(::couch_sql::__private::#mark);
    let expansion = match &t.plan {
        Plan::Select(s) => match &s.projection {
            None => quote! {{
                #prepared
                ::couch_sql::__private::Query::<<#module as ::couch_sql::__private::Table>::Model, #mark>::new(&__COUCH_SQL_PREPARED, #params)
            }},
            Some(cols) => {
                let mut names = Vec::new();
                let mut types = Vec::new();
                let mut fields = Vec::new();
                let mut nullable = Vec::new();
                let mut columns = Vec::new();
                for c in cols {
                    let Ok(ident) = syn::parse_str::<Ident>(&c.name) else {
                        return syn::Error::new(
                            sql.span(),
                            format!("`{}` cannot be a Rust field name: choose another alias with AS", c.name),
                        )
                        .to_compile_error();
                    };
                    let ty =
                        c.ty.as_ref()
                            .map(|ty| rust_type(ty, module, false))
                            .unwrap_or_else(|| quote!(::couch_sql::__private::serde_json::Value));
                    names.push(Ident::new(&ident.to_string(), sql.span()));
                    types.push(ty);
                    fields.push(c.field.clone());
                    nullable.push(c.ty.as_ref().is_none_or(|t| t.nullable));
                    columns.push(c.column.clone());
                }
                let row = row_struct(&names, &types, &fields, &nullable);
                typed_query(row, prepared, params, &names, &columns, as_type, &mark, sql.span())
            }
        },
        Plan::Aggregate(a) => {
            let mut names = Vec::new();
            let mut types = Vec::new();
            let mut fields = Vec::new();
            let mut nullable = Vec::new();
            for o in &a.output {
                if syn::parse_str::<Ident>(&o.name).is_err() {
                    return syn::Error::new(
                        sql.span(),
                        format!("`{}` cannot be a Rust field name: choose another name with AS", o.name),
                    )
                    .to_compile_error();
                }
                names.push(Ident::new(&o.name, sql.span()));
                types.push(rust_type(&o.ty, module, false));
                fields.push(o.name.clone());
                nullable.push(o.ty.nullable);
            }
            let row = row_struct(&names, &types, &fields, &nullable);
            typed_query(row, prepared, params, &names, &fields, as_type, &mark, sql.span())
        }
        Plan::Explain(_) => quote! {{
            #prepared
            ::couch_sql::__private::Explain::new(&__COUCH_SQL_PREPARED, #params)
        }},
        _ => quote! {{
            #prepared
            ::couch_sql::__private::Command::new(&__COUCH_SQL_PREPARED, #params)
        }},
    };
    quote! {{
        let #params_var = #param_values;
        #expansion
    }}
}

/// The query of a row struct; with `couch_sql_as!`'s type, its rows converted
/// into that type by a struct literal spanned at the SQL, so that a column the
/// type lacks or a field the SELECT lacks is reported there.
///
/// The conversion stands outside the block that declares the row struct, so the
/// caller's type is named as the caller sees it (their own `Row` included). Each
/// field goes through a trait of its own whose `on_unimplemented` names the field
/// and the column when their types differ.
#[allow(clippy::too_many_arguments)]
fn typed_query(
    row: TokenStream,
    prepared: TokenStream,
    params: TokenStream,
    names: &[Ident],
    columns: &[String],
    as_type: Option<&syn::Type>,
    mark: &TokenStream,
    span: Span,
) -> TokenStream {
    let query = quote! { ::couch_sql::__private::Query::<Row, #mark>::new(&__COUCH_SQL_PREPARED, #params) };
    let Some(ty) = as_type else {
        return quote! {{ #row #prepared #query }};
    };
    let type_name = quote!(#ty).to_string().replace(' ', "");
    let checks: Vec<Ident> = names.iter().map(|n| Ident::new(&format!("__CouchSqlField_{n}"), span)).collect();
    let traits = names.iter().zip(columns).zip(&checks).map(|((name, column), check)| {
        let message = format!("field `{name}` of `{type_name}` is `{{Self}}`, but column `{column}` is `{{C}}`");
        let note = format!("make the field `{name}: {{C}}`, or select a column of type `{{Self}}`");
        quote! {
            #[diagnostic::on_unimplemented(message = #message, label = "the row's field and the column differ", note = #note)]
            #[allow(non_camel_case_types)]
            trait #check<C> {
                fn column(c: C) -> Self;
            }
            impl<C> #check<C> for C {
                fn column(c: C) -> C {
                    c
                }
            }
        }
    });
    let query_var = Ident::new("__couch_sql_query", Span::mixed_site());
    let row_var = Ident::new("__couch_sql_row", Span::mixed_site());
    let into = quote_spanned! {span=>
        |#row_var| #ty { #( #names: <_ as #checks<_>>::column(#row_var.#names), )* }
    };
    quote! {{
        let #query_var = { #row #prepared #query };
        #( #traits )*
        #query_var.map_rows(#into)
    }}
}

/// The row struct of a column-list SELECT, with `Serialize` and `Deserialize`
/// written out here rather than derived: a few lines per field instead of
/// serde_derive's visitor machinery, which dominated the macro's compile cost.
fn row_struct(names: &[Ident], types: &[TokenStream], fields: &[String], nullable: &[bool]) -> TokenStream {
    let n = names.len();
    let slots: Vec<Ident> = (0..n).map(|i| Ident::new(&format!("__f{i}"), Span::call_site())).collect();
    // A nested path (`address.city`) is read from its top-level field, decoded whole
    // as JSON; every column under that field is then taken from it.
    let paths: Vec<Vec<String>> = fields.iter().map(|f| couch_translate::path::segments(f)).collect();
    let mut tops: Vec<String> = Vec::new();
    for p in &paths {
        if p.len() > 1 && !tops.contains(&p[0]) {
            tops.push(p[0].clone());
        }
    }
    let tslots: Vec<Ident> = (0..tops.len()).map(|i| Ident::new(&format!("__t{i}"), Span::call_site())).collect();
    let direct: Vec<usize> = (0..n).filter(|i| !tops.contains(&paths[*i][0])).collect();
    let direct_keys = direct.iter().map(|i| &paths[*i][0]);
    let direct_slots = direct.iter().map(|i| &slots[*i]);
    let direct_types: Vec<_> = direct.iter().map(|i| &types[*i]).collect();
    let direct_decl = direct.iter().map(|i| &slots[*i]);
    let finish = (0..n).map(|i| {
        let (name, slot, field) = (&names[i], &slots[i], &fields[i]);
        if let Some(t) = tops.iter().position(|t| *t == paths[i][0]) {
            let tslot = &tslots[t];
            let rest = &paths[i][1..];
            let ty = &types[i];
            quote! { #name: ::couch_sql::__private::from_path::<#ty, __A::Error>(#tslot.as_ref(), &[#(#rest),*], #field)? }
        } else if nullable[i] {
            quote! { #name: #slot.unwrap_or_default() }
        } else {
            quote! { #name: #slot.ok_or_else(|| <__A::Error as ::couch_sql::__private::serde::de::Error>::missing_field(#field))? }
        }
    });
    let top_keys = tops.iter();
    // Serialized as the row it is: each column under its name (the alias, or `address_city`).
    let keys = names.iter().map(|n| n.to_string());
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
                        #( let mut #direct_decl: ::core::option::Option<#direct_types> = ::core::option::Option::None; )*
                        #( let mut #tslots: ::core::option::Option<::couch_sql::__private::serde_json::Value> = ::core::option::Option::None; )*
                        while let ::core::option::Option::Some(k) = m.next_key::<::couch_sql::__private::FieldKey<'de>>()? {
                            match k.as_str() {
                                #( #direct_keys => #direct_slots = ::core::option::Option::Some(m.next_value()?), )*
                                #( #top_keys => #tslots = ::core::option::Option::Some(m.next_value()?), )*
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
                #( m.serialize_entry(#keys, &self.#names)?; )*
                m.end()
            }
        }
    }
}

/// A value of the right type for a parameter, to explain a query's plan without its data.
fn example_value(usage: &ParamUsage) -> serde_json::Value {
    match usage {
        ParamUsage::Compare { ty: Some(ty), .. } | ParamUsage::Store { ty: Some(ty), .. } => match ty.kind {
            Kind::Integer => serde_json::json!(1),
            Kind::Float => serde_json::json!(1.5),
            Kind::Text => serde_json::json!("x"),
            Kind::Bool => serde_json::json!(true),
            Kind::DateTime => serde_json::json!("2026-01-01T00:00:00.000000Z"),
            Kind::Array => serde_json::json!([]),
            Kind::Object | Kind::Json => serde_json::json!({}),
        },
        ParamUsage::Compare { ty: None, .. } | ParamUsage::Store { ty: None, .. } => serde_json::json!(1),
        ParamUsage::Like { .. } => serde_json::json!("x%"),
        ParamUsage::Count => serde_json::json!(10),
    }
}

/// The Rust type of a column, spelled with absolute paths where it can be
/// (scalars, `Vec`s of them, dates, `serde_json::Value`), else named from the
/// table's model through the derives' `FieldType` impls (objects and
/// `#[couch(json)]` types may not be in scope where the query is written).
/// `store`: the type a stored value must have (a path's enclosing `Option` does not count).
fn rust_type(ty: &ColumnType, module: &Ident, store: bool) -> TokenStream {
    let path_null = ty.outer_null && !store;
    let declared_null = ty.nullable && !ty.outer_null;
    let t = match spell(ty) {
        Some(base) if declared_null => quote!(::core::option::Option<#base>),
        Some(base) => base,
        None => {
            let mut t = quote!(<#module as ::couch_sql::__private::Table>::Model);
            for step in &ty.access {
                t = match step {
                    Access::Field(i) => {
                        quote!(<<#t as ::couch_sql::__private::Unwrap>::Inner as ::couch_sql::__private::FieldType<#i>>::Ty)
                    }
                    Access::Element => quote!(<#t as ::couch_sql::__private::ElementOf>::Element),
                };
            }
            t
        }
    };
    if path_null {
        quote!(::core::option::Option<#t>)
    } else {
        t
    }
}

/// A column type without its `Option`, spelled with absolute paths, if it has no model-defined parts.
fn spell(ty: &ColumnType) -> Option<TokenStream> {
    let base = ty.base_rust();
    Some(match ty.kind {
        Kind::Integer | Kind::Float => {
            let id = Ident::new(base, Span::call_site());
            quote!(#id)
        }
        Kind::Text => quote!(::std::string::String),
        Kind::Bool => quote!(bool),
        Kind::DateTime => {
            quote!(::couch_sql::__private::chrono::DateTime<::couch_sql::__private::chrono::Utc>)
        }
        Kind::Json if base == "Value" || base.ends_with("::Value") => quote!(::couch_sql::__private::serde_json::Value),
        Kind::Array => {
            let e = ty.element.as_deref()?;
            let inner = spell(e)?;
            let inner = if e.nullable { quote!(::core::option::Option<#inner>) } else { inner };
            quote!(::std::vec::Vec<#inner>)
        }
        Kind::Json | Kind::Object => return None,
    })
}
