//! Completing a model's schema with the schemas of its nested object types.
//!
//! A derive sees only the syntax of its own struct: for `address: Address` it
//! knows the type's path, not its fields. `#[derive(CouchObject)]` therefore
//! defines a macro named like the type (`Address!`, found wherever the type is),
//! which passes the object's schema on. A model's derive emits
//! `schema! { {json} [holes] => target }`; each step asks the next hole's type
//! for its schema (`Address! { … }` → `schema! { @fill {fields} … }`), and the
//! last step defines the table's (or the object's own) schema macro.

use couch_translate::Schema;
use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitBool, LitInt, LitStr, Token};

struct Hole {
    position: usize,
    in_element: bool,
    path: syn::Path,
}

struct Chain {
    fill: Option<LitStr>,
    schema: LitStr,
    holes: Vec<Hole>,
    /// `table` or `object`.
    kind: Ident,
    macro_name: Ident,
    target: Ident,
    vis: TokenStream,
}

impl Parse for Chain {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let fill = if input.peek(Token![@]) {
            input.parse::<Token![@]>()?;
            input.parse::<Ident>()?;
            let braced;
            syn::braced!(braced in input);
            Some(braced.parse()?)
        } else {
            None
        };
        let braced;
        syn::braced!(braced in input);
        let schema = braced.parse()?;
        let bracketed;
        syn::bracketed!(bracketed in input);
        let mut holes = Vec::new();
        while !bracketed.is_empty() {
            let p;
            syn::parenthesized!(p in bracketed);
            let position = p.parse::<LitInt>()?.base10_parse()?;
            let in_element = p.parse::<LitBool>()?.value;
            let path = p.parse()?;
            holes.push(Hole { position, in_element, path });
        }
        input.parse::<Token![=>]>()?;
        let kind = input.parse()?;
        let macro_name = input.parse()?;
        let target = input.parse()?;
        let vis;
        syn::parenthesized!(vis in input);
        Ok(Chain { fill, schema, holes, kind, macro_name, target, vis: vis.parse()? })
    }
}

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let mut c: Chain = match syn::parse2(input) {
        Ok(c) => c,
        Err(e) => return e.to_compile_error(),
    };
    let mut schema: Schema = match serde_json::from_str(&c.schema.value()) {
        Ok(s) => s,
        Err(e) => return syn::Error::new(c.schema.span(), format!("couch-sql internal error: {e}")).to_compile_error(),
    };
    if let Some(fields) = &c.fill {
        let object: Schema = match serde_json::from_str(&fields.value()) {
            Ok(s) => s,
            Err(e) => {
                return syn::Error::new(fields.span(), format!("couch-sql internal error: {e}")).to_compile_error()
            }
        };
        let hole = c.holes.remove(0);
        if let Some(col) = schema.columns.iter_mut().find(|col| col.index == Some(hole.position)) {
            let ty = if hole.in_element { col.ty.element.as_deref_mut() } else { Some(&mut col.ty) };
            if let Some(ty) = ty {
                ty.fields = object.columns;
            }
        }
    }
    let json = serde_json::to_string(&schema).expect("a schema serializes");
    let (kind, macro_name, target, vis) = (&c.kind, &c.macro_name, &c.target, &c.vis);
    if let Some(next) = c.holes.first() {
        let path = &next.path;
        let holes = c.holes.iter().map(|h| {
            let (pos, elem, path) = (h.position, h.in_element, &h.path);
            quote! { (#pos #elem #path) }
        });
        return quote! { #path! { { #json } [ #(#holes)* ] => #kind #macro_name #target (#vis) } };
    }
    if kind == "table" {
        quote! {
            #[doc(hidden)]
            macro_rules! #macro_name {
                ($($query:tt)*) => {
                    ::couch_sql::__private::expand! { { #json } $($query)* }
                };
            }
            #[doc(hidden)]
            #[allow(unused_imports)]
            #vis use #macro_name as #target;
        }
    } else {
        quote! {
            #[doc(hidden)]
            macro_rules! #macro_name {
                ($($rest:tt)*) => {
                    ::couch_sql::__private::schema! { @fill { #json } $($rest)* }
                };
            }
            #[doc(hidden)]
            #[allow(unused_imports)]
            #vis use #macro_name as #target;
        }
    }
}
