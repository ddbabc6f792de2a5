//! placeholder until the exact statistics land

/// CPython >= 3.12 builtin `sum` over floats (Neumaier compensation).
pub fn py_sum(xs: &[f64]) -> f64 {
    let mut total = 0.0f64;
    let mut c = 0.0f64;
    for &x in xs {
        let t = total + x;
        if total.abs() >= x.abs() {
            c += (total - t) + x;
        } else {
            c += (x - t) + total;
        }
        total = t;
    }
    if c != 0.0 && c.is_finite() { total + c } else { total }
}
