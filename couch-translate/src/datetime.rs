//! Date-time text as couch-sql stores it: fixed-width RFC 3339 in UTC with
//! microseconds (`2026-11-29T18:00:00.000000Z`), so that text order is time order.

/// A date-time literal from SQL in the stored form. Accepts `YYYY-MM-DD`,
/// `YYYY-MM-DD HH:MM[:SS[.f]]` and the same with `T`, ending in `Z`, `+00:00` or nothing (UTC).
pub fn normalize(text: &str) -> Result<String, String> {
    let t = text.trim();
    let bad = || "write it as '2026-11-29T18:00:00Z' (UTC), or '2026-11-29'".to_string();
    let (date, time) = match t.find(['T', 't', ' ']) {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, "00:00:00"),
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, mo, da] = d.as_slice() else { return Err(bad()) };
    let num = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok()).flatten()
    };
    let (Some(y), Some(mo), Some(da)) = (num(y, 4), num(mo, 2), num(da, 2)) else { return Err(bad()) };
    let time = time
        .strip_suffix(['Z', 'z'])
        .or_else(|| time.strip_suffix("+00:00"))
        .or_else(|| time.strip_suffix("-00:00"))
        .unwrap_or(time);
    if time.contains(['+', '-']) {
        return Err("only UTC times can be compared with stored date-times: convert it to UTC and end it with Z".into());
    }
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => (a, f),
        Some(_) => return Err(bad()),
        None => (time, ""),
    };
    let p: Vec<&str> = hms.split(':').collect();
    let (h, mi, se) = match p.as_slice() {
        [h, m] => (num(h, 2), num(m, 2), Some(0)),
        [h, m, s] => (num(h, 2), num(m, 2), num(s, 2)),
        _ => return Err(bad()),
    };
    let (Some(h), Some(mi), Some(se)) = (h, mi, se) else { return Err(bad()) };
    let days = [
        31,
        if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) || da == 0 || da > days[mo as usize - 1] || h > 23 || mi > 59 || se > 59 {
        return Err("the date or time is out of range".into());
    }
    if frac.len() > 6 && frac[6..].bytes().any(|b| b != b'0') {
        return Err("stored date-times keep microseconds: give at most 6 fractional digits".into());
    }
    let micros = format!("{frac:0<6}");
    Ok(format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{se:02}.{}Z", &micros[..6]))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalizes_utc_forms() {
        assert_eq!(normalize("2026-11-29").unwrap(), "2026-11-29T00:00:00.000000Z");
        assert_eq!(normalize("2026-11-29T18:00:00Z").unwrap(), "2026-11-29T18:00:00.000000Z");
        assert_eq!(normalize("2026-11-29 18:00:01.5+00:00").unwrap(), "2026-11-29T18:00:01.500000Z");
        assert!(normalize("2026-11-29T18:00:00+02:00").is_err());
        assert!(normalize("2026-02-30").is_err());
        assert!(normalize("yesterday").is_err());
    }
}
