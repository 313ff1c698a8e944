//! Document paths in Mango's dotted syntax: `address.city`, `lines.0.sku`.
//!
//! A segment that itself contains `.` is escaped as `\.`, as Mango reads it,
//! so a field named `a.b` is never misread as a nested path.

/// One segment as Mango writes it (`.` escaped).
pub fn escape(segment: &str) -> String {
    segment.replace('.', "\\.")
}

/// The segments of a Mango path, unescaped.
pub fn segments(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                chars.next();
                out.last_mut().expect("never empty").push('.');
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
    }
}
