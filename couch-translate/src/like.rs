//! SQL `LIKE` patterns as regular expressions for Mango's `$regex`.
//!
//! A pattern is literal segments (where `_` is any one character) separated by
//! `%`. The regex must answer exactly what LIKE answers, in time linear in the
//! text, on three regex engines that see text differently:
//!
//! - CouchDB runs Erlang `re` (PCRE) over the UTF-8 *bytes*: one character is a
//!   lead byte and its continuation bytes, `[\x00-\x7F\xC0-\xFF][\x80-\xBF]*`.
//! - pouchdb-server runs JavaScript `RegExp` (no `u` flag) over UTF-16 *units*:
//!   one character is a surrogate pair or one other unit.
//! - Engines that see code points (Rust's, PCRE in UTF mode) take `[\s\S]`.
//!
//! Whatever stops in the middle of a character (a `%` is any run of bytes or
//! units) is followed by a literal, a `_` or the end, none of which can start
//! inside a character, so matches always fall on character boundaries.
//!
//! Linear time: naive `^a.*b.*c$` backtracks polynomially (a 100,000-character
//! text stalls JavaScript for minutes and makes PCRE hit its backtracking limit,
//! which CouchDB counts as "no match", silently dropping rows from `NOT LIKE`).
//! But for LIKE, matching each middle segment at its *earliest* position is
//! always right: whatever a later position leaves to the rest of the pattern,
//! the earliest leaves more, and the rest starts with `%`. So each middle
//! segment is found with a lazy scan inside a lookahead, which is atomic in
//! JavaScript and PCRE alike, and its text consumed by a backreference:
//! `(?=([\s\S]*?seg))\1`. Nothing can backtrack into an earlier segment.
//! `[\s\S]` stands for "any unit" and `(?![\s\S])` for "end of text" because both
//! engines read them the same way (`.` skips newlines; PCRE's `$` also matches
//! before a final newline).

/// Characters with a meaning in a regex; each is escaped when it stands in a pattern as text.
const META: &[char] = &['\\', '^', '$', '.', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}', '/'];

/// The escape character used when a `LIKE` has no `ESCAPE` clause.
pub const DEFAULT_ESCAPE: char = '\\';

/// How the regex engine that runs the pattern sees text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum RegexFlavor {
    /// Code points (Rust's `regex`/`fancy-regex`, PCRE in UTF mode).
    #[default]
    Unicode,
    /// UTF-8 bytes: Apache CouchDB (Erlang `re` without the `unicode` option).
    Utf8Bytes,
    /// UTF-16 code units: pouchdb-server (JavaScript `RegExp` without `u`).
    Utf16,
}

impl RegexFlavor {
    /// A regex that matches exactly one character.
    fn one_char(self) -> &'static str {
        match self {
            RegexFlavor::Unicode => r"[\s\S]",
            RegexFlavor::Utf8Bytes => r"[\x00-\x7F\xC0-\xFF][\x80-\xBF]*",
            RegexFlavor::Utf16 => r"(?:[\uD800-\uDBFF][\uDC00-\uDFFF]|[^\uD800-\uDFFF])",
        }
    }
}

/// One element of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Lit(char),
    /// `_`
    One,
}

/// The pattern's segments: the text between `%`s (`a%b_` → `[a]`, `[b, _]`).
fn segments(pattern: &str, escape: Option<char>) -> Result<Vec<Vec<Piece>>, String> {
    let mut out = vec![Vec::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let piece = if Some(c) == escape {
            match chars.next() {
                Some(lit) => Piece::Lit(lit),
                None => {
                    return Err(format!(
                        "the LIKE pattern {pattern:?} ends with its escape character {c:?}; \
                         write it twice to match it literally"
                    ))
                }
            }
        } else if c == '%' {
            out.push(Vec::new());
            continue;
        } else if c == '_' {
            Piece::One
        } else {
            Piece::Lit(c)
        };
        out.last_mut().expect("never empty").push(piece);
    }
    Ok(out)
}

fn push_segment(out: &mut String, seg: &[Piece], flavor: RegexFlavor) {
    for p in seg {
        match p {
            Piece::Lit(c) => {
                if META.contains(c) {
                    out.push('\\');
                }
                out.push(*c);
            }
            Piece::One => out.push_str(flavor.one_char()),
        }
    }
}

/// Converts a `LIKE` pattern to a regex for `flavor` that matches exactly the
/// strings LIKE matches (with `negated`, exactly those it does not: `NOT LIKE`),
/// in time linear in the string.
///
/// ```
/// use couch_translate::like::{like_regex, RegexFlavor};
/// let r = like_regex("a.b%", Some('\\'), false, RegexFlavor::Unicode).unwrap();
/// assert_eq!(r, r"^a\.b");
/// let r = like_regex("%x%y", None, false, RegexFlavor::Unicode).unwrap();
/// assert_eq!(r, r"^(?=([\s\S]*?x))\1[\s\S]*y(?![\s\S])");
/// ```
pub fn like_regex(pattern: &str, escape: Option<char>, negated: bool, flavor: RegexFlavor) -> Result<String, String> {
    let segs = segments(pattern, escape)?;
    let mut out = String::with_capacity(pattern.len() * 2 + 32);
    out.push_str(if negated { "^(?!" } else { "^" });
    push_segment(&mut out, &segs[0], flavor);
    if segs.len() == 1 {
        out.push_str(r"(?![\s\S])"); // no `%`: the whole text
    } else {
        let mut group = 0;
        for seg in &segs[1..segs.len() - 1] {
            if seg.is_empty() {
                continue; // `%%`
            }
            group += 1;
            out.push_str(r"(?=([\s\S]*?");
            push_segment(&mut out, seg, flavor);
            out.push_str(&format!(r"))\{group}"));
        }
        let last = &segs[segs.len() - 1];
        if !last.is_empty() {
            out.push_str(r"[\s\S]*");
            push_segment(&mut out, last, flavor);
            out.push_str(r"(?![\s\S])");
        }
    }
    if negated {
        out.push(')');
    }
    Ok(out)
}

/// [`like_regex`] for engines that see code points.
pub fn like_to_regex(pattern: &str, escape: Option<char>, negated: bool) -> Result<String, String> {
    like_regex(pattern, escape, negated, RegexFlavor::Unicode)
}

/// The literal prefix of a pattern that is just `prefix%` (`%` may repeat), which
/// CouchDB 3.4+ can answer with `$beginsWith` through an index; `None` otherwise.
pub fn like_prefix(pattern: &str, escape: Option<char>) -> Result<Option<String>, String> {
    let segs = segments(pattern, escape)?;
    let (first, rest) = segs.split_first().expect("never empty");
    if rest.is_empty() || first.is_empty() || rest.iter().any(|s| !s.is_empty()) {
        return Ok(None);
    }
    Ok(first.iter().map(|p| if let Piece::Lit(c) = p { Some(*c) } else { None }).collect())
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
        assert_eq!(like_to_regex("a_%", None, false).unwrap(), r"^a[\s\S]");
        assert_eq!(like_to_regex("a%", None, true).unwrap(), r"^(?!a)");
        assert_eq!(
            like_to_regex("%a%%b_%c", None, false).unwrap(),
            r"^(?=([\s\S]*?a))\1(?=([\s\S]*?b[\s\S]))\2[\s\S]*c(?![\s\S])"
        );
        assert_eq!(like_to_regex("", None, true).unwrap(), r"^(?!(?![\s\S]))");
    }

    #[test]
    fn one_character_per_flavor() {
        assert_eq!(
            like_regex("_", None, false, RegexFlavor::Utf8Bytes).unwrap(),
            r"^[\x00-\x7F\xC0-\xFF][\x80-\xBF]*(?![\s\S])"
        );
        assert!(like_regex("_", None, false, RegexFlavor::Utf16).unwrap().contains(r"[\uD800-\uDBFF][\uDC00-\uDFFF]"));
    }

    #[test]
    fn prefixes() {
        assert_eq!(like_prefix("abc%", None).unwrap(), Some("abc".into()));
        assert_eq!(like_prefix("a\\%c%%", Some('\\')).unwrap(), Some("a%c".into()));
        for p in ["abc", "%abc", "a_c%", "a%c", "%", ""] {
            assert_eq!(like_prefix(p, Some('\\')).unwrap(), None, "{p}");
        }
    }

    /// LIKE by definition (backtracking over characters), to check the regex against.
    fn like(s: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| like(&s[i..], rest)),
            Some(('_', rest)) => !s.is_empty() && like(&s[1..], rest),
            Some((c, rest)) => s.first() == Some(c) && like(&s[1..], rest),
        }
    }

    #[test]
    fn the_regex_answers_what_like_answers() {
        let texts = ["", "a", "ab", "ba", "abab", "aab", "bba", "a\nb", "é", "aé", "日本", "a😀b", "abcab"];
        let pats = [
            "", "%", "_", "__", "a%", "%a", "%a%", "%a%b", "a%b", "%ab%", "_%_", "%a_b", "a%%b", "%b%a%", "é", "_本",
            "a_b",
        ];
        for p in pats {
            for negated in [false, true] {
                let re = fancy_regex::Regex::new(&like_to_regex(p, None, negated).unwrap()).unwrap();
                for t in texts {
                    let want = like(&t.chars().collect::<Vec<_>>(), &p.chars().collect::<Vec<_>>()) != negated;
                    assert_eq!(re.is_match(t).unwrap(), want, "{t:?} {}LIKE {p:?}", if negated { "NOT " } else { "" });
                }
            }
        }
    }
}
