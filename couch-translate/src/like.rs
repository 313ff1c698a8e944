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
    let mut out = String::with_capacity(pattern.len() * 2 + 24);
    out.push_str(if negated { "^(?!" } else { "^" });
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(lit) => push_literal(&mut out, lit),
                None => {
                    return Err(format!(
                        "the LIKE pattern {pattern:?} ends with its escape character {c:?}; \
                         write it twice to match it literally"
                    ))
                }
            }
        } else if c == '%' {
            out.push_str(r"[\s\S]*");
        } else if c == '_' {
            out.push_str(r"[\s\S]");
        } else {
            push_literal(&mut out, c);
        }
    }
    out.push_str(if negated { r"(?![\s\S]))" } else { r"(?![\s\S])" });
    Ok(out)
}

/// Writes `like_to_regex(pattern, escape, negated)` as a JSON string literal
/// straight into `out` (no intermediate string: this runs for every bound
/// `LIKE ?` parameter).
pub fn write_like_regex_json(
    pattern: &str,
    escape: Option<char>,
    negated: bool,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    // In JSON, the regex's backslashes are doubled.
    const ANY: &[u8] = br"[\\s\\S]";
    out.push(b'"');
    out.extend_from_slice(if negated { b"^(?!" } else { b"^" });
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let lit = if Some(c) == escape {
            match chars.next() {
                Some(lit) => lit,
                None => return Err(like_to_regex(pattern, escape, negated).expect_err("trailing escape")),
            }
        } else if c == '%' {
            out.extend_from_slice(ANY);
            out.push(b'*');
            continue;
        } else if c == '_' {
            out.extend_from_slice(ANY);
            continue;
        } else {
            c
        };
        if META.contains(&lit) {
            out.extend_from_slice(br"\\");
        }
        match lit {
            '\\' => out.extend_from_slice(br"\\"),
            '"' => out.extend_from_slice(br#"\""#),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.extend_from_slice(if negated { br"(?![\\s\\S]))" } else { br"(?![\\s\\S])" });
    out.push(b'"');
    Ok(())
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
    fn json_writer_matches_the_regex() {
        for (p, e, n) in [("a.b%_\"\\x\n€", Some('!'), false), ("50\\%", Some('\\'), true), ("", None, false)] {
            let mut out = Vec::new();
            write_like_regex_json(p, e, n, &mut out).unwrap();
            let decoded: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(decoded, like_to_regex(p, e, n).unwrap(), "{p:?}");
        }
        assert!(write_like_regex_json("a\\", Some('\\'), false, &mut Vec::new()).is_err());
    }

    #[test]
    fn trailing_escape_is_an_error() {
        assert!(like_to_regex("abc\\", Some('\\'), false).is_err());
        assert_eq!(like_to_regex("abc\\", None, false).unwrap(), r"^abc\\(?![\s\S])");
    }
}
