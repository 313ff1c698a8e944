//! JSON templates with parameter holes, and their rendering.
//!
//! A template is built once (at compile time, by the macro) and rendered for
//! every execution. Parameters are only ever written as JSON *values*: a
//! string parameter is escaped as a JSON string, so it can never add an
//! operator or change a selector's shape.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A JSON value with parameter holes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Tmpl {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<Tmpl>),
    /// An object, keys in order.
    Object(Vec<(String, Tmpl)>),
    /// The bound value of parameter `n`.
    Param(usize),
    /// The operator object of a `LIKE`: `{"$regex": …}` written for the server's
    /// regex engine, or `{"$beginsWith": …}` where the server has it. `pattern`
    /// is [`Tmpl::Str`] or a string [`Tmpl::Param`].
    Like {
        /// The pattern.
        pattern: Box<Tmpl>,
        /// `NOT LIKE`.
        negated: bool,
        /// The `ESCAPE` character.
        escape: Option<char>,
    },
    /// The Mango `$type` name of parameter `n`'s value.
    TypeOf(usize),
    /// An `IN` list: parameters bound to NULL are left out (they never match).
    InList(Vec<Tmpl>),
    /// The elements of parameter `n`, an array (`col = ANY(?)`), as a JSON array:
    /// NULL elements are left out (they never match).
    Elements(usize),
    /// A selector that matches nothing when parameter `param` (an array) holds a
    /// NULL (SQL: `x NOT IN (…, NULL)` is never true).
    NoNullElement {
        /// The array parameter.
        param: usize,
        /// The selector otherwise.
        inner: Box<Tmpl>,
    },
    /// A selector that matches nothing when any of `params` is NULL
    /// (SQL: a comparison with NULL is never true).
    Guard {
        /// The parameters that must not be NULL.
        params: Vec<usize>,
        /// The selector otherwise.
        inner: Box<Tmpl>,
    },
    /// A selector that matches nothing unless each pair renders the same
    /// (two `$type` guards merged into one must name the same type).
    Agree {
        /// Template pairs that must render the same.
        pairs: Vec<(Tmpl, Tmpl)>,
        /// The selector otherwise.
        inner: Box<Tmpl>,
    },
}

/// What the server a template is rendered for understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dialect {
    /// How the server's `$regex` engine sees text.
    pub regex: crate::like::RegexFlavor,
    /// The server has `$beginsWith` (Apache CouchDB 3.4 and later).
    pub begins_with: bool,
    /// Write a prefix pattern as a string range of the server's collation
    /// instead of `$regex`: pouchdb-server cannot evaluate `$regex` inside a
    /// scalar `$elemMatch`, and a range on `_id` reads its primary index.
    pub prefix_range: bool,
    /// The server gets `$elemMatch` and `$allMatch` wrong (pouchdb-server: a 400 for
    /// `$regex` inside them, a 500 for some arrays): a selector holding them is
    /// relaxed for the server and matched exactly in the client.
    pub elem_match_in_client: bool,
}

impl Dialect {
    /// Apache CouchDB; `$beginsWith` from version 3.4.
    pub fn couchdb(version: Option<&str>) -> Dialect {
        let mut parts = version.unwrap_or("").split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        Dialect {
            regex: crate::like::RegexFlavor::Utf8Bytes,
            begins_with: (major, minor) >= (3, 4),
            prefix_range: false,
            elem_match_in_client: false,
        }
    }

    /// couch-sql's embedded engine: CouchDB 3.4's operators, a regex engine over code points.
    pub fn embedded() -> Dialect {
        Dialect {
            regex: crate::like::RegexFlavor::Unicode,
            begins_with: true,
            prefix_range: false,
            elem_match_in_client: false,
        }
    }

    /// pouchdb-server.
    pub fn pouchdb() -> Dialect {
        Dialect {
            regex: crate::like::RegexFlavor::Utf16,
            begins_with: false,
            prefix_range: true,
            elem_match_in_client: true,
        }
    }
}

/// Why a template could not be rendered with the given parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// The statement has more `?` than parameters were bound.
    MissingParam(usize),
    /// A `LIKE` parameter is not a string, or its pattern is malformed.
    BadLikePattern(String),
    /// The parameter of `col = ANY(?)` is not an array.
    NotAnArray(usize),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::MissingParam(i) => write!(f, "parameter {} is not bound", i + 1),
            RenderError::BadLikePattern(m) => write!(f, "bad LIKE pattern: {m}"),
            RenderError::NotAnArray(i) => {
                write!(f, "parameter {} of `= ANY(?)` must be an array (a Vec or a slice) of values", i + 1)
            }
        }
    }
}

impl std::error::Error for RenderError {}

/// The selector that matches no document (on CouchDB and pouchdb-server alike).
fn write_never(out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"_id":{"$in":[]}}"#);
}

fn param(params: &[Value], i: usize) -> Result<&Value, RenderError> {
    params.get(i).ok_or(RenderError::MissingParam(i))
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    serde_json::to_writer(&mut *out, s).expect("writing JSON to memory");
}

/// A `LIKE`'s operator object (see [`Tmpl::Like`]).
fn write_like(
    pattern: &str,
    negated: bool,
    escape: Option<char>,
    dialect: Dialect,
    out: &mut Vec<u8>,
) -> Result<(), RenderError> {
    let bad = RenderError::BadLikePattern;
    if (dialect.begins_with || dialect.prefix_range) && !negated {
        if let Some(prefix) = crate::like::like_prefix(pattern, escape).map_err(bad)? {
            if dialect.begins_with {
                out.extend_from_slice(br#"{"$beginsWith":"#);
                write_json_str(out, &prefix);
                out.push(b'}');
            } else {
                write_prefix_range(&prefix, out);
            }
            return Ok(());
        }
    }
    out.extend_from_slice(br#"{"$regex":"#);
    write_json_str(out, &crate::like::like_regex(pattern, escape, negated, dialect.regex).map_err(bad)?);
    out.push(b'}');
    Ok(())
}

/// `{"$gte": prefix, "$lt": bound}`: the strings that start with `prefix` in
/// JavaScript's order (UTF-16 code units), where `bound` is the prefix with its
/// last code unit incremented. Written as `\uXXXX` escapes, because the bound
/// may be a lone surrogate, which JSON allows but a Rust string cannot hold.
fn write_prefix_range(prefix: &str, out: &mut Vec<u8>) {
    let mut units: Vec<u16> = prefix.encode_utf16().collect();
    while units.last() == Some(&u16::MAX) {
        units.pop();
    }
    out.extend_from_slice(br#"{"$gte":"#);
    write_json_str(out, prefix);
    if let Some(last) = units.last_mut() {
        *last += 1;
        out.extend_from_slice(br#","$lt":""#);
        for u in units {
            out.extend_from_slice(format!("\\u{u:04x}").as_bytes());
        }
        out.push(b'"');
    }
    out.push(b'}');
}

/// The pattern of a [`Tmpl::Like`]: its text, or the string bound to its parameter.
fn like_pattern<'a>(pattern: &'a Tmpl, params: &'a [Value]) -> Result<&'a str, RenderError> {
    match pattern {
        Tmpl::Str(s) => Ok(s),
        Tmpl::Param(i) => match param(params, *i)? {
            Value::String(p) => Ok(p),
            other => Err(RenderError::BadLikePattern(format!("expected a string, got {other}"))),
        },
        other => Err(RenderError::BadLikePattern(format!("not a pattern: {other:?}"))),
    }
}

/// Whether any of the guarded parameters is NULL.
fn any_null(params: &[Value], guarded: &[usize]) -> Result<bool, RenderError> {
    for i in guarded {
        if param(params, *i)?.is_null() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether each pair of `$type` templates names the same type.
fn agrees(params: &[Value], pairs: &[(Tmpl, Tmpl)]) -> Result<bool, RenderError> {
    for (a, b) in pairs {
        if a.render_string(params)? != b.render_string(params)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// An `IN` list: items that are parameters bound to NULL are left out.
fn write_in_list<T>(
    params: &[Value],
    items: &[T],
    as_param: impl Fn(&T) -> Option<usize>,
    render: impl Fn(&T, &mut Vec<u8>) -> Result<(), RenderError>,
    out: &mut Vec<u8>,
) -> Result<(), RenderError> {
    out.push(b'[');
    let mut first = true;
    for item in items {
        if let Some(i) = as_param(item) {
            if param(params, i)?.is_null() {
                continue;
            }
        }
        if !first {
            out.push(b',');
        }
        first = false;
        render(item, out)?;
    }
    out.push(b']');
    Ok(())
}

/// Parameter `i`'s elements (it must be an array).
fn elements(params: &[Value], i: usize) -> Result<&[Value], RenderError> {
    match param(params, i)? {
        Value::Array(items) => Ok(items),
        _ => Err(RenderError::NotAnArray(i)),
    }
}

/// Whether array parameter `i` holds a NULL.
fn holds_null(params: &[Value], i: usize) -> Result<bool, RenderError> {
    Ok(elements(params, i)?.iter().any(Value::is_null))
}

/// Parameter `i`'s elements as a JSON array, NULLs left out.
fn write_elements(params: &[Value], i: usize, out: &mut Vec<u8>) -> Result<(), RenderError> {
    out.push(b'[');
    let mut first = true;
    for v in elements(params, i)?.iter().filter(|v| !v.is_null()) {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, v).expect("writing JSON to memory");
    }
    out.push(b']');
    Ok(())
}

/// The Mango `$type` name of a JSON value.
pub fn json_type_name(v: &Value) -> &'static str {
    couch_semantics::value::type_name(v)
}

impl Tmpl {
    /// Appends the JSON text of this template, with `params` filled in, to `out`,
    /// for engines that see code points (see [`Tmpl::render_in`]).
    pub fn render(&self, params: &[Value], out: &mut Vec<u8>) -> Result<(), RenderError> {
        self.render_in(params, Dialect::default(), out)
    }

    /// Appends the JSON text of this template, with `params` filled in, to `out`,
    /// written for a server that understands `dialect`.
    pub fn render_in(&self, params: &[Value], dialect: Dialect, out: &mut Vec<u8>) -> Result<(), RenderError> {
        match self {
            Tmpl::Null => out.extend_from_slice(b"null"),
            Tmpl::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Tmpl::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Tmpl::Float(f) => serde_json::to_writer(&mut *out, f).expect("writing JSON to memory"),
            Tmpl::Str(s) => write_json_str(out, s),
            Tmpl::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.render_in(params, dialect, out)?;
                }
                out.push(b']');
            }
            Tmpl::Object(entries) => {
                out.push(b'{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_str(out, k);
                    out.push(b':');
                    v.render_in(params, dialect, out)?;
                }
                out.push(b'}');
            }
            Tmpl::Param(i) => serde_json::to_writer(&mut *out, param(params, *i)?).expect("writing JSON to memory"),
            Tmpl::Like { pattern, negated, escape } => {
                write_like(like_pattern(pattern, params)?, *negated, *escape, dialect, out)?
            }
            Tmpl::TypeOf(i) => write_json_str(out, json_type_name(param(params, *i)?)),
            Tmpl::InList(items) => write_in_list(
                params,
                items,
                |t| if let Tmpl::Param(i) = t { Some(*i) } else { None },
                |t, out| t.render_in(params, dialect, out),
                out,
            )?,
            Tmpl::Elements(i) => write_elements(params, *i, out)?,
            Tmpl::NoNullElement { param: i, inner } if !holds_null(params, *i)? => {
                inner.render_in(params, dialect, out)?
            }
            Tmpl::NoNullElement { .. } => write_never(out),
            Tmpl::Guard { params: guarded, inner } if !any_null(params, guarded)? => {
                inner.render_in(params, dialect, out)?
            }
            Tmpl::Agree { pairs, inner } if agrees(params, pairs)? => inner.render_in(params, dialect, out)?,
            Tmpl::Guard { .. } | Tmpl::Agree { .. } => write_never(out),
        }
        Ok(())
    }

    /// Renders to a JSON string (convenience for tools and tests).
    pub fn render_string(&self, params: &[Value]) -> Result<String, RenderError> {
        let mut out = Vec::new();
        self.render(params, &mut out)?;
        Ok(String::from_utf8(out).expect("rendered JSON is UTF-8"))
    }

    /// Renders to a `serde_json::Value` (for values written into fetched documents).
    pub fn to_value(&self, params: &[Value]) -> Result<Value, RenderError> {
        Ok(match self {
            Tmpl::Null => Value::Null,
            Tmpl::Bool(b) => Value::Bool(*b),
            Tmpl::Int(i) => Value::from(*i),
            Tmpl::Float(f) => Value::from(*f),
            Tmpl::Str(s) => Value::String(s.clone()),
            Tmpl::Param(i) => param(params, *i)?.clone(),
            _ => serde_json::from_str(&self.render_string(params)?).expect("rendered JSON parses"),
        })
    }
}

/// A template prepared for rendering: every run of JSON that does not depend
/// on a parameter is rendered once, so rendering is copying bytes and writing
/// the parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    segs: Vec<Seg>,
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(Box<[u8]>),
    Param(usize),
    Like { pattern: Box<Tmpl>, negated: bool, escape: Option<char> },
    TypeOf(usize),
    InList(Vec<Compiled>),
    Elements(usize),
    NoNullElement { param: usize, inner: Compiled },
    Guard { params: Vec<usize>, inner: Compiled },
    Agree { pairs: Vec<(Tmpl, Tmpl)>, inner: Compiled },
}

impl Tmpl {
    /// Pre-renders the static parts of this template.
    pub fn compile(&self) -> Compiled {
        let mut c = Compiled { segs: Vec::new() };
        let mut lit = Vec::new();
        self.compile_into(&mut c.segs, &mut lit);
        flush(&mut c.segs, &mut lit);
        c
    }

    fn compile_into(&self, segs: &mut Vec<Seg>, lit: &mut Vec<u8>) {
        match self {
            Tmpl::Array(items) => {
                lit.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        lit.push(b',');
                    }
                    item.compile_into(segs, lit);
                }
                lit.push(b']');
            }
            Tmpl::Object(entries) => {
                lit.push(b'{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        lit.push(b',');
                    }
                    write_json_str(lit, k);
                    lit.push(b':');
                    v.compile_into(segs, lit);
                }
                lit.push(b'}');
            }
            Tmpl::Param(i) => {
                flush(segs, lit);
                segs.push(Seg::Param(*i));
            }
            Tmpl::Like { pattern, negated, escape } => {
                flush(segs, lit);
                segs.push(Seg::Like { pattern: pattern.clone(), negated: *negated, escape: *escape });
            }
            Tmpl::TypeOf(i) => {
                flush(segs, lit);
                segs.push(Seg::TypeOf(*i));
            }
            Tmpl::InList(items) => {
                flush(segs, lit);
                segs.push(Seg::InList(items.iter().map(Tmpl::compile).collect()));
            }
            Tmpl::Guard { params, inner } => {
                flush(segs, lit);
                segs.push(Seg::Guard { params: params.clone(), inner: inner.compile() });
            }
            Tmpl::Elements(i) => {
                flush(segs, lit);
                segs.push(Seg::Elements(*i));
            }
            Tmpl::NoNullElement { param, inner } => {
                flush(segs, lit);
                segs.push(Seg::NoNullElement { param: *param, inner: inner.compile() });
            }
            Tmpl::Agree { pairs, inner } => {
                flush(segs, lit);
                segs.push(Seg::Agree { pairs: pairs.clone(), inner: inner.compile() });
            }
            leaf => leaf.render(&[], lit).expect("a leaf without parameters renders"),
        }
    }
}

fn flush(segs: &mut Vec<Seg>, lit: &mut Vec<u8>) {
    if !lit.is_empty() {
        segs.push(Seg::Lit(std::mem::take(lit).into_boxed_slice()));
    }
}

impl Compiled {
    /// Bytes of static JSON: a lower bound of the rendered length.
    pub fn static_len(&self) -> usize {
        self.segs
            .iter()
            .map(|s| match s {
                Seg::Lit(b) => b.len(),
                Seg::InList(items) => items.iter().map(Compiled::static_len).sum::<usize>() + 2,
                Seg::Guard { inner, .. } | Seg::Agree { inner, .. } | Seg::NoNullElement { inner, .. } => {
                    inner.static_len()
                }
                _ => 0,
            })
            .sum()
    }

    /// Appends the JSON text, with `params` filled in, to `out` (same output as [`Tmpl::render`]).
    pub fn render(&self, params: &[Value], out: &mut Vec<u8>) -> Result<(), RenderError> {
        self.render_in(params, Dialect::default(), out)
    }

    /// Appends the JSON text for a server that understands `dialect` (same output as [`Tmpl::render_in`]).
    pub fn render_in(&self, params: &[Value], dialect: Dialect, out: &mut Vec<u8>) -> Result<(), RenderError> {
        for seg in &self.segs {
            match seg {
                Seg::Lit(b) => out.extend_from_slice(b),
                Seg::Param(i) => serde_json::to_writer(&mut *out, param(params, *i)?).expect("writing JSON to memory"),
                Seg::Like { pattern, negated, escape } => {
                    write_like(like_pattern(pattern, params)?, *negated, *escape, dialect, out)?
                }
                Seg::TypeOf(i) => write_json_str(out, json_type_name(param(params, *i)?)),
                Seg::InList(items) => write_in_list(
                    params,
                    items,
                    |c| if let [Seg::Param(i)] = c.segs.as_slice() { Some(*i) } else { None },
                    |c, out| c.render_in(params, dialect, out),
                    out,
                )?,
                Seg::Elements(i) => write_elements(params, *i, out)?,
                Seg::NoNullElement { param: i, inner } if !holds_null(params, *i)? => {
                    inner.render_in(params, dialect, out)?
                }
                Seg::NoNullElement { .. } => write_never(out),
                Seg::Guard { params: guarded, inner } if !any_null(params, guarded)? => {
                    inner.render_in(params, dialect, out)?
                }
                Seg::Agree { pairs, inner } if agrees(params, pairs)? => inner.render_in(params, dialect, out)?,
                Seg::Guard { .. } | Seg::Agree { .. } => write_never(out),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_parameters_stay_data() {
        let t = Tmpl::Object(vec![("name".into(), Tmpl::Param(0))]);
        let out = t.render_string(&[json!(r#"{"$gt": null}"#)]).unwrap();
        assert_eq!(out, r#"{"name":"{\"$gt\": null}"}"#);
    }

    #[test]
    fn prefix_ranges_bound_by_code_units() {
        let range = |p: &str| {
            let mut out = Vec::new();
            write_prefix_range(p, &mut out);
            serde_json::from_slice::<Value>(&out).unwrap()
        };
        assert_eq!(range("user:"), json!({"$gte": "user:", "$lt": "user;"}));
        assert_eq!(range("a\u{FFFF}"), json!({"$gte": "a\u{FFFF}", "$lt": "b"}));
        assert_eq!(range("\u{FFFF}"), json!({"$gte": "\u{FFFF}"}));
        // A bound ending in a lone surrogate is still valid JSON text.
        let mut out = Vec::new();
        write_prefix_range("x\u{D7FF}", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "{\"$gte\":\"x\u{D7FF}\",\"$lt\":\"\\u0078\\ud800\"}");
        let like = Tmpl::Like { pattern: Box::new(Tmpl::Str("ab%".into())), negated: false, escape: None };
        let mut out = Vec::new();
        like.render_in(&[], Dialect::pouchdb(), &mut out).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), json!({"$gte": "ab", "$lt": "ac"}));
    }

    #[test]
    fn compiled_templates_render_like_the_tree() {
        let t = Tmpl::Object(vec![
            ("type".into(), Tmpl::Str("users".into())),
            ("a".into(), Tmpl::Object(vec![("$in".into(), Tmpl::InList(vec![Tmpl::Param(0), Tmpl::Int(2)]))])),
            (
                "b".into(),
                Tmpl::Guard {
                    params: vec![1],
                    inner: Box::new(Tmpl::Like { pattern: Box::new(Tmpl::Param(1)), negated: false, escape: None }),
                },
            ),
            ("c".into(), Tmpl::Array(vec![Tmpl::TypeOf(0), Tmpl::Float(1.5), Tmpl::Null, Tmpl::Bool(true)])),
        ]);
        let c = t.compile();
        for params in [vec![json!(1), json!("x%")], vec![json!(null), json!(null)], vec![json!("s"), json!("a.b")]] {
            let mut a = Vec::new();
            let mut b = Vec::new();
            t.render(&params, &mut a).unwrap();
            c.render(&params, &mut b).unwrap();
            assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
        }
        assert_eq!(c.render(&[], &mut Vec::new()), Err(RenderError::MissingParam(0)));
    }

    #[test]
    fn guards_and_in_lists_drop_nulls() {
        let t = Tmpl::Array(vec![
            Tmpl::Guard { params: vec![0], inner: Box::new(Tmpl::Param(0)) },
            Tmpl::InList(vec![Tmpl::Param(0), Tmpl::Param(1), Tmpl::Int(3)]),
        ]);
        assert_eq!(t.render_string(&[json!(null), json!(2)]).unwrap(), r#"[{"_id":{"$in":[]}},[2,3]]"#);
        assert_eq!(t.render_string(&[json!(1)]), Err(RenderError::MissingParam(1)));
    }
}
