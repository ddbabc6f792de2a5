//! Timestamps as the runner writes them: `datetime.now(UTC).isoformat()`.

/// `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` for microseconds since the Unix epoch (the fraction is
/// omitted when it is exactly zero, like Python).
pub fn iso_micros(micros: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_microsecond(micros) else {
        return "1970-01-01T00:00:00+00:00".to_string();
    };
    let base = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = micros.rem_euclid(1_000_000);
    if frac == 0 { format!("{base}+00:00") } else { format!("{base}.{frac:06}+00:00") }
}

/// The current time in the runner's format.
pub fn now_iso() -> String {
    iso_micros(jiff::Timestamp::now().as_microsecond())
}

/// Parses the runner's timestamps (any RFC 3339 form) into microseconds.
pub fn parse_iso(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_microsecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python() {
        let t = parse_iso("2026-01-20T06:13:51.742325+00:00").expect("valid");
        assert_eq!(iso_micros(t), "2026-01-20T06:13:51.742325+00:00");
        assert_eq!(iso_micros(t - 742_325), "2026-01-20T06:13:51+00:00");
        assert_eq!(iso_micros(t - 742_325 + 5), "2026-01-20T06:13:51.000005+00:00");
    }
}
