//! placeholder until the helper's version lands

pub fn fixed(x: f64, prec: usize) -> String {
    format!("{x:.prec$}")
}

pub fn percent(x: f64, prec: usize) -> String {
    format!("{:.prec$}%", x * 100.0)
}

pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
