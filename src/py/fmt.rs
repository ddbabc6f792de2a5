//! Python's format mini-language, for the numbers the runner's markdown reports print.
//!
//! The reports are built from f-strings such as `f"{x:.3f}"`, `f"{rate:.1%}"` and
//! `f"{tokens:,}"` (docs/format.md#markdown-formatting). Python rounds the exact binary value of a float to the
//! requested digits with ties to even; Rust's `{:.N}` does the same (both expand the exact
//! value), so [`fixed`] only has to spell the non-finite values the way Python does. The tests
//! pin every helper to strings printed by CPython 3.13.

/// `f"{x:.{prec}f}"`: fixed-point with `prec` digits after the point.
///
/// Non-finite values print as Python does: `inf`, `-inf`, `nan`.
pub fn fixed(x: f64, prec: usize) -> String {
    if x.is_nan() {
        "nan".to_string()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{x:.prec$}")
    }
}

/// `f"{x:.{prec}%}"`: Python multiplies by 100 in double arithmetic (so `0.57` prints as
/// `57%` via `56.99999999999999`), formats fixed-point and appends `%`.
pub fn percent(x: f64, prec: usize) -> String {
    let mut s = fixed(x * 100.0, prec);
    s.push('%');
    s
}

/// `f"{n:,}"`: an integer with `,` between groups of three digits.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        // A separator goes before every digit that starts a group of three from the right.
        if i != 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `f"{n:02d}"`: an integer zero-padded to two digits (run numbers in links and headings).
///
/// Python pads after the sign, so `-1` stays `-1`; Rust's `{:02}` agrees.
pub fn two_digits(n: i64) -> String {
    format!("{n:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (value, [.0f, .1f, .2f, .3f, .4f]) as printed by CPython 3.13.
    const FIXED: &[(f64, [&str; 5])] = &[
        (0.125, ["0", "0.1", "0.12", "0.125", "0.1250"]),
        (0.375, ["0", "0.4", "0.38", "0.375", "0.3750"]),
        (2.5, ["2", "2.5", "2.50", "2.500", "2.5000"]),
        (0.5, ["0", "0.5", "0.50", "0.500", "0.5000"]),
        (1.5, ["2", "1.5", "1.50", "1.500", "1.5000"]),
        (0.0, ["0", "0.0", "0.00", "0.000", "0.0000"]),
        (-0.0, ["-0", "-0.0", "-0.00", "-0.000", "-0.0000"]),
        (1.0, ["1", "1.0", "1.00", "1.000", "1.0000"]),
        (0.9733333333333333, ["1", "1.0", "0.97", "0.973", "0.9733"]),
        (0.1351093, ["0", "0.1", "0.14", "0.135", "0.1351"]),
        (0.06531415, ["0", "0.1", "0.07", "0.065", "0.0653"]),
        (203.132624, ["203", "203.1", "203.13", "203.133", "203.1326"]),
        (1.0111618, ["1", "1.0", "1.01", "1.011", "1.0112"]),
        (549.881757, ["550", "549.9", "549.88", "549.882", "549.8818"]),
        (212.529184, ["213", "212.5", "212.53", "212.529", "212.5292"]),
        (0.005, ["0", "0.0", "0.01", "0.005", "0.0050"]),
        (0.015, ["0", "0.0", "0.01", "0.015", "0.0150"]),
        (0.025, ["0", "0.0", "0.03", "0.025", "0.0250"]),
        (1e-7, ["0", "0.0", "0.00", "0.000", "0.0000"]),
        (123456789.125, ["123456789", "123456789.1", "123456789.12", "123456789.125", "123456789.1250"]),
        (0.9999999, ["1", "1.0", "1.00", "1.000", "1.0000"]),
        (2.675, ["3", "2.7", "2.67", "2.675", "2.6750"]),
        (-1.005, ["-1", "-1.0", "-1.00", "-1.005", "-1.0050"]),
        (5e-324, ["0", "0.0", "0.00", "0.000", "0.0000"]),
        (6.531415, ["7", "6.5", "6.53", "6.531", "6.5314"]),
    ];

    #[test]
    fn fixed_matches_python() {
        for (x, expected) in FIXED {
            for (prec, want) in expected.iter().enumerate() {
                assert_eq!(fixed(*x, prec), *want, "{x:?} with .{prec}f");
            }
        }
        assert_eq!(fixed(1e22, 2), "10000000000000000000000.00");
    }

    #[test]
    fn fixed_non_finite() {
        assert_eq!(fixed(f64::INFINITY, 2), "inf");
        assert_eq!(fixed(f64::NEG_INFINITY, 2), "-inf");
        assert_eq!(fixed(f64::NAN, 2), "nan");
    }

    /// (value, [.0%, .1%, .2%]) as printed by CPython 3.13.
    const PERCENT: &[(f64, [&str; 3])] = &[
        (1.0, ["100%", "100.0%", "100.00%"]),
        (0.0, ["0%", "0.0%", "0.00%"]),
        (0.5, ["50%", "50.0%", "50.00%"]),
        (0.3333333333333333, ["33%", "33.3%", "33.33%"]),
        (0.6666666666666666, ["67%", "66.7%", "66.67%"]),
        (0.125, ["12%", "12.5%", "12.50%"]),
        (0.00125, ["0%", "0.1%", "0.12%"]),
        (0.995, ["100%", "99.5%", "99.50%"]),
        (0.9995, ["100%", "100.0%", "99.95%"]),
        (0.1, ["10%", "10.0%", "10.00%"]),
        (0.7, ["70%", "70.0%", "70.00%"]),
        (0.29, ["29%", "29.0%", "29.00%"]),
        (0.57, ["57%", "57.0%", "57.00%"]),
        (0.14285714285714285, ["14%", "14.3%", "14.29%"]),
        (0.0005, ["0%", "0.1%", "0.05%"]),
        (0.015, ["2%", "1.5%", "1.50%"]),
        (-0.0, ["-0%", "-0.0%", "-0.00%"]),
    ];

    #[test]
    fn percent_matches_python() {
        for (x, expected) in PERCENT {
            for (prec, want) in expected.iter().enumerate() {
                assert_eq!(percent(*x, prec), *want, "{x:?} with .{prec}%");
            }
        }
        assert_eq!(percent(f64::INFINITY, 1), "inf%");
        assert_eq!(percent(f64::NAN, 0), "nan%");
    }

    #[test]
    fn thousands_matches_python() {
        let cases: &[(i64, &str)] = &[
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1000, "1,000"),
            (12345, "12,345"),
            (136477, "136,477"),
            (1000213, "1,000,213"),
            (-1234567, "-1,234,567"),
            (i64::MAX, "9,223,372,036,854,775,807"),
            (i64::MIN, "-9,223,372,036,854,775,808"),
        ];
        for (n, want) in cases {
            assert_eq!(thousands(*n), *want);
        }
    }

    #[test]
    fn two_digits_pads() {
        assert_eq!(two_digits(1), "01");
        assert_eq!(two_digits(12), "12");
        assert_eq!(two_digits(123), "123");
        assert_eq!(two_digits(-1), "-1");
    }
}
