//! SQL `LIKE` patterns as anchored regular expressions for Mango's `$regex`.
//!
//! The regex must mean the same on CouchDB (Erlang `re`, PCRE) and on
//! pouchdb-server (JavaScript `RegExp`), so it uses only syntax both share:
//! `[\s\S]` for "any character" (`.` skips newlines) and `(?![\s\S])` for
//! "end of text" (PCRE's `$` also matches before a final newline).

/// Characters with a meaning in a regex; each is escaped when it stands in a pattern as text.
const META: &[char] = &['\\', '^', '$', '.', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}', '/'];

/// The escape character used when a `LIKE` has no `ESCAPE` clause.
pub const DEFAULT_ESCAPE: char = '\\';

/// Converts a `LIKE` pattern to a regex that matches the whole string.
///
/// `%` is any run of characters, `_` exactly one; `escape` makes the next
/// character literal. With `negated`, the regex matches exactly the strings
/// the pattern does not match (`NOT LIKE`).
///
/// ```
/// use couch_translate::like::like_to_regex;
/// assert_eq!(like_to_regex("a.b%", Some('\\'), false).unwrap(), r"^a\.b[\s\S]*(?![\s\S])");
/// ```
pub fn like_to_regex(pattern: &str, escape: Option<char>, negated: bool) -> Result<String, String> {
    let mut body = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(lit) => push_literal(&mut body, lit),
                None => {
                    return Err(format!(
                        "the LIKE pattern {pattern:?} ends with its escape character {c:?}; \
                         write it twice to match it literally"
                    ))
                }
            }
        } else if c == '%' {
            body.push_str(r"[\s\S]*");
        } else if c == '_' {
            body.push_str(r"[\s\S]");
        } else {
            push_literal(&mut body, c);
        }
    }
    Ok(if negated { format!(r"^(?!{body}(?![\s\S]))") } else { format!(r"^{body}(?![\s\S])") })
}

fn push_literal(out: &mut String, c: char) {
    if META.contains(&c) {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_metacharacter() {
        let r = like_to_regex(r"c++ (50\%) [x]{y}|^$.?*/", Some('\\'), false).unwrap();
        assert_eq!(r, r"^c\+\+ \(50%\) \[x\]\{y\}\|\^\$\.\?\*\/(?![\s\S])");
    }

    #[test]
    fn wildcards_and_negation() {
        assert_eq!(like_to_regex("a_%", None, false).unwrap(), r"^a[\s\S][\s\S]*(?![\s\S])");
        assert_eq!(like_to_regex("a%", None, true).unwrap(), r"^(?!a[\s\S]*(?![\s\S]))");
    }

    #[test]
    fn trailing_escape_is_an_error() {
        assert!(like_to_regex("abc\\", Some('\\'), false).is_err());
        assert_eq!(like_to_regex("abc\\", None, false).unwrap(), r"^abc\\(?![\s\S])");
    }
}
