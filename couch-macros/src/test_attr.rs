//! `#[couch_sql::test]`: read the options → check the function → wrap it in the test harness.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitBool, LitStr, Type};

struct Options {
    fixtures: Vec<LitStr>,
    indexes: bool,
}

fn options(attr: TokenStream) -> syn::Result<Options> {
    let mut out = Options { fixtures: Vec::new(), indexes: true };
    let parser = syn::meta::parser(|m| {
        if m.path.is_ident("fixtures") {
            let content;
            syn::parenthesized!(content in m.input);
            let files = content.parse_terminated(<LitStr as syn::parse::Parse>::parse, syn::Token![,])?;
            out.fixtures.extend(files);
            Ok(())
        } else if m.path.is_ident("indexes") {
            out.indexes = m.value()?.parse::<LitBool>()?.value;
            Ok(())
        } else {
            Err(m.error("unknown option: #[couch_sql::test] takes fixtures(\"path.json\", …) and indexes = false"))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(out)
}

/// Whether a parameter type names `Database`, and whether it is the blocking one.
fn database_kind(ty: &Type) -> Option<bool> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    (last.ident == "Database").then(|| p.path.segments.iter().any(|s| s.ident == "blocking"))
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let opts = match options(attr) {
        Ok(o) => o,
        Err(e) => return e.to_compile_error(),
    };
    let f: ItemFn = match syn::parse2(item) {
        Ok(f) => f,
        Err(e) => return e.to_compile_error(),
    };
    let asyncness = f.sig.asyncness.is_some();
    let wrong = |span: proc_macro2::Span, msg: &str| syn::Error::new(span, msg).to_compile_error();
    let arg = match f.sig.inputs.iter().collect::<Vec<_>>().as_slice() {
        [FnArg::Typed(arg)] => arg.clone(),
        _ => {
            return wrong(
                f.sig.span(),
                "a #[couch_sql::test] function takes one argument, its database: `async fn t(db: Database)` or `fn t(db: couch_sql::blocking::Database)`",
            )
        }
    };
    match database_kind(&arg.ty) {
        Some(blocking) if blocking == asyncness => {
            let msg = if asyncness {
                "an async test takes the async `couch_sql::Database`; `couch_sql::blocking::Database` is for a plain `fn`"
            } else {
                "a plain `fn` test takes `couch_sql::blocking::Database`; make it `async fn` to take `couch_sql::Database`"
            };
            return wrong(arg.ty.span(), msg);
        }
        Some(_) => {}
        None => {
            return wrong(
                arg.ty.span(),
                "the argument of a #[couch_sql::test] is the test's database: `Database` or `blocking::Database`",
            )
        }
    }
    if !f.sig.generics.params.is_empty() {
        return wrong(f.sig.generics.span(), "a #[couch_sql::test] function cannot be generic");
    }
    // Fixture files must exist now, so a typo fails the build, not the test.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let mut fixtures = Vec::new();
    for file in &opts.fixtures {
        let path = std::path::Path::new(&manifest).join(file.value());
        if !path.is_file() {
            return wrong(
                file.span(),
                &format!("fixture file `{}` not found (paths are relative to the crate's Cargo.toml)", file.value()),
            );
        }
        let full = path.to_string_lossy().into_owned();
        fixtures.push(quote_spanned! {file.span()=> (#file, ::core::include_str!(#full)) });
    }
    let indexes = opts.indexes;
    let name = &f.sig.ident;
    let attrs = &f.attrs;
    let vis = &f.vis;
    let mut inner = f.clone();
    inner.sig.ident = syn::Ident::new("__couch_sql_test_body", name.span());
    inner.attrs.clear();
    inner.vis = syn::Visibility::Inherited;
    let options = quote! {
        ::couch_sql::__private::testing::Options {
            name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
            fixtures: &[#(#fixtures),*],
            indexes: #indexes,
        }
    };
    let run = if asyncness {
        quote! { ::couch_sql::__private::testing::run_async(#options, |db| ::std::boxed::Box::pin(__couch_sql_test_body(db))) }
    } else {
        quote! { ::couch_sql::__private::testing::run_blocking(#options, __couch_sql_test_body) }
    };
    // The failure is raised here, spanned at the test's name: the panic's location
    // is the test's own line, not a line of the library.
    let fail = quote_spanned! {name.span()=>
        if let ::core::result::Result::Err(e) = outcome {
            ::core::panic!("{}", e);
        }
    };
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            #inner
            let outcome = #run;
            #fail
        }
    }
}
