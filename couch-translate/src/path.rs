//! Document paths in Mango's dotted syntax: `address.city`, `lines.0.sku`.
//!
//! A segment that itself contains `.` is escaped as `\.`, as Mango reads it,
//! so a field named `a.b` is never misread as a nested path; a leading `$`
//! is escaped as `\$`, so a field named `$doctype` is never read as an operator.

/// One segment as Mango writes it (`.` and a leading `$` escaped).
pub fn escape(segment: &str) -> String {
    let dotted = segment.replace('.', "\\.");
    match dotted.strip_prefix('$') {
        Some(rest) => format!("\\${rest}"),
        None => dotted,
    }
}

/// The segments of a Mango path, unescaped.
pub fn segments(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('.' | '$')) => {
                let escaped = chars.next().expect("peeked");
                out.last_mut().expect("never empty").push(escaped);
            }
            '.' => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

/// The Mango path of `parent` followed by the (unescaped) `segment`.
pub fn child(parent: &str, segment: &str) -> String {
    if parent.is_empty() {
        escape(segment)
    } else {
        format!("{parent}.{}", escape(segment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_dots_in_names() {
        let p = child(&child("", "a.b"), "c");
        assert_eq!(p, "a\\.b.c");
        assert_eq!(segments(&p), ["a.b", "c"]);
        assert_eq!(segments("lines.0.sku"), ["lines", "0", "sku"]);
        assert_eq!(escape("$doctype"), "\\$doctype");
        assert_eq!(segments(&child("meta", "$doctype")), ["meta", "$doctype"]);
    }
}
