//! CPython (3.12 and later) float arithmetic that the aggregate files depend on, bit for bit.
//!
//! The runner computes subtest statistics with the builtin `sum` and the `statistics` module
//! (docs/format.md#subtest-statistics, docs/format.md#float-summation). Each has its own rounding behaviour, and a naive Rust port differs in the
//! last bit, which changes the JSON bytes:
//!
//! * builtin `sum` of floats is Neumaier-compensated since 3.12 ([`py_sum`]);
//! * `statistics.mean` sums exactly (as fractions) and rounds once ([`mean`]);
//! * `statistics.median` averages the middle pair in plain float arithmetic ([`median`]);
//! * `statistics.stdev` takes the correctly rounded square root of the exact sample variance
//!   ([`stdev`]).
//!
//! Exact arithmetic uses `num-bigint`: every finite double is `m * 2^e` with integer `m`, so
//! sums, squares and ratios of doubles are ratios of big integers, converted back to a double by
//! [`ratio_to_f64`] with a single round-half-to-even. Tests pin the results to CPython 3.13.

use num_bigint::{BigInt, BigUint, Sign};
use num_traits::{ToPrimitive, Zero};

/// The builtin `sum(xs)` of floats, as CPython 3.12+ computes it.
///
/// Python starts from the integer `0`; the first float turns the running total into
/// `0 + x0` (so `sum([-0.0])` is `0.0`), and every further float is added with Neumaier's
/// compensation. The compensation is added once at the end, and only when it is non-zero (to
/// keep the sign of a negative zero total) and finite (so an overflowed total stays infinite
/// instead of becoming NaN). An empty slice gives `0.0` (Python would give the integer `0`).
/// How `sum()` adds floats: CPython 3.12 and later compensate (Neumaier), 3.11 and before add
/// left to right. Runners ran on either; the experiment's own totals tell which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Summation {
    Compensated,
    Naive,
}

/// `sum(xs)` as the experiment's Python computed it.
pub fn sum(how: Summation, xs: &[f64]) -> f64 {
    match how {
        Summation::Compensated => py_sum(xs),
        Summation::Naive => xs.iter().fold(0.0, |total, x| total + x),
    }
}

pub fn py_sum(xs: &[f64]) -> f64 {
    let Some((&first, rest)) = xs.split_first() else {
        return 0.0;
    };
    let mut total = 0.0 + first;
    let mut compensation = 0.0;
    for &x in rest {
        let t = total + x;
        if total.abs() >= x.abs() {
            compensation += (total - t) + x;
        } else {
            compensation += (x - t) + total;
        }
        total = t;
    }
    if compensation != 0.0 && compensation.is_finite() {
        total += compensation;
    }
    total
}

/// `statistics.mean(xs)`: the exact sum divided by the count, rounded once to the nearest
/// double (ties to even). `None` for an empty slice, where Python raises.
///
/// Non-finite inputs follow Python: the finite values are ignored and the non-finite ones are
/// added in float arithmetic, then divided by the count (so `inf` stays `inf`, and `inf` with
/// `-inf` gives NaN).
pub fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len();
    if xs.iter().any(|x| !x.is_finite()) {
        let special = xs.iter().filter(|x| !x.is_finite()).fold(0.0, |acc, x| acc + x);
        return Some(special / n as f64);
    }
    let (scaled, exp) = common_scale(xs);
    let total: BigInt = scaled.iter().sum();
    Some(ratio_to_f64(total.sign() == Sign::Minus, total.magnitude(), &BigUint::from(n), exp))
}

/// `statistics.median(xs)`: the middle value of the sorted data, or the float average
/// `(a + b) / 2` of the two middle values for an even count. `None` for an empty slice.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut sorted = xs.to_vec();
    // Stable like Python's sort; NaN (which Python orders arbitrarily) compares as equal.
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = sorted.len();
    if n % 2 == 1 { Some(sorted[n / 2]) } else { Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0) }
}

/// `statistics.stdev(xs)` (sample, n − 1), as CPython 3.12+ computes it: the exact sum of
/// squared deviations from the exact mean, divided by `n − 1`, then a correctly rounded square
/// root. `None` for fewer than two values, where Python raises. Non-finite inputs give NaN
/// (Python raises there too).
pub fn stdev(xs: &[f64]) -> Option<f64> {
    let n = xs.len();
    if n < 2 {
        return None;
    }
    if xs.iter().any(|x| !x.is_finite()) {
        return Some(f64::NAN);
    }
    let (scaled, exp) = common_scale(xs);
    let sum: BigInt = scaled.iter().sum();
    let sum_sq: BigInt = scaled.iter().map(|x| x * x).sum();
    let count = BigInt::from(n);
    // n·Σx² − (Σx)² = n·Σ(x − mean)², exact and never negative.
    let spread = (&count * sum_sq - &sum * &sum).magnitude().clone();
    let mut numerator = spread;
    let mut denominator = BigUint::from(n) * BigUint::from(n - 1);
    // The values were scaled by 2^exp, their squares by 2^(2·exp).
    let shift = 2 * exp.unsigned_abs();
    if exp >= 0 {
        numerator <<= shift;
    } else {
        denominator <<= shift;
    }
    Some(float_sqrt_of_frac(&numerator, &denominator))
}

/// Writes every finite `x` as `X · 2^exp` with a shared exponent, so exact sums are integer sums.
fn common_scale(xs: &[f64]) -> (Vec<BigInt>, i64) {
    let parts: Vec<(bool, u64, i64)> = xs.iter().map(|&x| decompose(x)).collect();
    let exp = parts.iter().filter(|(_, m, _)| *m != 0).map(|(_, _, e)| *e).min().unwrap_or(0);
    let scaled = parts
        .iter()
        .map(|&(negative, m, e)| {
            if m == 0 {
                return BigInt::zero();
            }
            let magnitude = BigUint::from(m) << (e - exp).unsigned_abs();
            BigInt::from_biguint(if negative { Sign::Minus } else { Sign::Plus }, magnitude)
        })
        .collect();
    (scaled, exp)
}

/// The exact value of a finite double as `(negative, m, e)` with `|x| = m · 2^e`.
fn decompose(x: f64) -> (bool, u64, i64) {
    let bits = x.to_bits();
    let negative = bits >> 63 == 1;
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0 { (negative, fraction, -1074) } else { (negative, fraction | (1u64 << 52), biased - 1075) }
}

/// CPython's `_float_sqrt_of_frac(n, m)`: `sqrt(n / m)` correctly rounded, by taking an integer
/// square root with round-to-odd at 109 bits and letting the final division round once.
fn float_sqrt_of_frac(n: &BigUint, m: &BigUint) -> f64 {
    if m.is_zero() {
        return f64::NAN;
    }
    const SQRT_BIT_WIDTH: i64 = 2 * 53 + 3;
    let q = (n.bits() as i64 - m.bits() as i64 - SQRT_BIT_WIDTH).div_euclid(2);
    if q >= 0 {
        let root = integer_sqrt_of_frac_rto(n, &(m << (2 * q) as u64)) << q as u64;
        ratio_to_f64(false, &root, &BigUint::from(1u8), 0)
    } else {
        let root = integer_sqrt_of_frac_rto(&(n << (-2 * q) as u64), m);
        ratio_to_f64(false, &root, &BigUint::from(1u8), q)
    }
}

/// `isqrt(n // m)`, with the lowest bit set when the root is inexact (round-to-odd).
fn integer_sqrt_of_frac_rto(n: &BigUint, m: &BigUint) -> BigUint {
    let a = (n / m).sqrt();
    let exact = &a * &a * m == *n;
    if exact { a } else { a | BigUint::from(1u8) }
}

/// The double nearest to `±num · 2^exp2 / den` (ties to even), like Python's exact `int / int`.
///
/// Computes a quotient of 55–56 significant bits plus a sticky bit for the remainder, then rounds
/// once to 53 bits (fewer for subnormal results). Zero gives `+0.0`; a zero denominator NaN.
fn ratio_to_f64(negative: bool, num: &BigUint, den: &BigUint, exp2: i64) -> f64 {
    if den.is_zero() {
        return f64::NAN;
    }
    if num.is_zero() {
        return 0.0;
    }
    // num/den lies in [2^(e-1), 2^(e+1)); scaling by 2^(55-e) puts the quotient in [2^54, 2^56).
    let e = num.bits() as i64 - den.bits() as i64;
    let shift = 55 - e;
    let (n, d) = if shift >= 0 { (num << shift as u64, den.clone()) } else { (num.clone(), den << (-shift) as u64) };
    let quotient = &n / &d;
    let sticky = !(&n - &quotient * &d).is_zero();
    let Some(q) = quotient.to_u64() else {
        return f64::NAN; // unreachable: the quotient has at most 56 bits
    };
    let q_bits = 64 - i64::from(q.leading_zeros());
    // The true value is (q + fraction) · 2^scale, its leading bit at 2^top.
    let scale = exp2 - shift;
    let top = q_bits - 1 + scale;
    let signed = |x: f64| if negative { -x } else { x };
    if top > 1023 {
        return signed(f64::INFINITY);
    }
    if top < -1076 {
        return signed(0.0);
    }
    // Normal results keep 53 bits; subnormal ones keep bits down to 2^-1074 only.
    let keep = if top >= -1022 { 53 } else { top + 1075 };
    let drop = (q_bits - keep) as u32; // between 2 and 57
    let mantissa = q >> drop;
    let rest = q & ((1u64 << drop) - 1);
    let half = 1u64 << (drop - 1);
    let round_up = rest > half || (rest == half && (sticky || mantissa & 1 == 1));
    let mantissa = mantissa + u64::from(round_up);
    signed(scale_by_power_of_two(mantissa as f64, scale + i64::from(drop)))
}

/// `m · 2^e` for a result that is exactly representable (or overflows): steps of at most
/// 2^±1000 keep every intermediate exact because each lies between `m` and the result.
fn scale_by_power_of_two(mut m: f64, mut e: i64) -> f64 {
    let pow2 = |k: i64| f64::from_bits(((1023 + k) as u64) << 52);
    while e > 1000 {
        m *= pow2(1000);
        e -= 1000;
    }
    while e < -1000 {
        m *= pow2(-1000);
        e += 1000;
    }
    m * pow2(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(repr: &str) -> f64 {
        repr.parse().expect("test literal")
    }

    fn same(got: f64, want: &str, what: &str) {
        let want = f(want);
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "{what}: got {got:?}, want {want:?}"
        );
    }

    /// (inputs, sum, mean, median, stdev or "" when n < 2), printed by CPython 3.13 with repr.
    #[rustfmt::skip]
    const CASES: &[(&[f64], &str, &str, &str, &str)] = &[
        (&[0.1, 0.2, 0.3], "0.6", "0.2", "0.2", "0.09999999999999999"),
        (&[0.9733333333333333], "0.9733333333333333", "0.9733333333333333", "0.9733333333333333", ""),
        (&[0.1351093], "0.1351093", "0.1351093", "0.1351093", ""),
        (&[0.1351093, 0.1273926, 0.1379989, 0.1294133, 0.1684904, 0.06531415, 0.24744315], "1.0111618", "0.1444516857142857", "0.1351093", "0.054914987516711644"),
        (&[0.1294133, 0.1684904, 0.1379989, 0.1351093, 0.1273926, 0.06531415, 0.24744315], "1.0111618", "0.1444516857142857", "0.1351093", "0.054914987516711644"),
        (&[0.9733333333333333, 0.9700000000000001], "1.9433333333333334", "0.9716666666666667", "0.9716666666666667", "0.002357022603955056"),
        (&[0.9833333333333334, 0.9595333333333333, 0.9833333333333334], "2.9262", "0.9754", "0.9833333333333334", "0.013740936406713119"),
        (&[1.0, 0.96, 0.96], "2.92", "0.9733333333333333", "0.96", "0.023094010767585053"),
        (&[0.96, 0.96, 1.0], "2.92", "0.9733333333333333", "0.96", "0.023094010767585053"),
        (&[0.5, 0.5], "1.0", "0.5", "0.5", "0.0"),
        (&[0.0, 1.0], "1.0", "0.5", "0.5", "0.7071067811865476"),
        (&[0.7, 0.3, 0.9, 0.1], "2.0", "0.5", "0.5", "0.3651483716701107"),
        (&[0.2, 0.4, 0.6, 0.8, 1.0], "3.0", "0.6", "0.6", "0.31622776601683794"),
        (&[203.132624, 207.3, 198.5, 179.0, 178.2, 153.130363, 169.5], "1288.762987", "184.10899814285713", "179.0", "19.752378023380384"),
        (&[0.33, 0.66, 0.99, 0.12, 0.45, 0.78], "3.33", "0.555", "0.555", "0.31678068122914316"),
        (&[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], "1.0", "0.1", "0.1", "0.0"),
        (&[0.85, 0.9, 0.95, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5], "7.25", "0.725", "0.725", "0.15138251770487457"),
        (&[1e-09, 2e-09, 3e-09], "6e-09", "2e-09", "2e-09", "1e-09"),
        (&[1e+16, 1.0, -1e+16, 1.0], "2.0", "0.5", "1.0", "8164965809277260.0"),
        (&[1e+100, 1.0, -1e+100], "1.0", "0.3333333333333333", "1.0", "1e+100"),
        (&[-0.5, 0.25, -0.125], "-0.375", "-0.125", "-0.125", "0.375"),
        (&[0.0, 0.0, 0.0], "0.0", "0.0", "0.0", "0.0"),
        (&[5e-324, 1e-323, 1.5e-323], "3e-323", "1e-323", "1e-323", "5e-324"),
        (&[1e+308, -1e+308, 1.0], "1.0", "0.3333333333333333", "1.0", "1e+308"),
        (&[0.06531415, 0.06531415], "0.1306283", "0.06531415", "0.06531415", "0.0"),
        (&[0.12345678901234, 0.98765432109876, 0.5555555555555556], "1.6666666656666556", "0.5555555552222186", "0.5555555555555556", "0.43209876604320996"),
        (&[123456.789, 0.000123, 98765.4321], "222222.221223", "74074.073741", "98765.4321", "65327.192371664474"),
        (&[2.0, 3.0], "5.0", "2.5", "2.5", "0.7071067811865476"),
        (&[0.9, 0.95], "1.85", "0.925", "0.925", "0.03535533905932733"),
        (&[0.4, 0.6, 0.8], "1.8", "0.6", "0.6", "0.2"),
        (&[0.1, 0.7], "0.7999999999999999", "0.39999999999999997", "0.39999999999999997", "0.42426406871192845"),
        (&[3.3, 1.1, 2.2, 4.4], "11.0", "2.75", "2.75", "1.4200938936093863"),
        (&[0.9478653606091, 0.651, 0.8213, 0.37, 0.9097041, 0.03749565844198, 0.41817215], "4.15553726905108", "0.5936481812930114", "0.651", "0.33431315428540653"),
        (&[0.55, 0.8269, 0.95], "2.3269", "0.7756333333333333", "0.8269", "0.204868746599703"),
        (&[0.04958931, 0.04658, 0.28961, 0.5406858855, 0.560257, 0.1030557, 0.372, 0.5643683], "2.5261461955", "0.3157682744375", "0.330805", "0.2282139069293433"),
        (&[0.68039997318179, 0.777228774980807, 0.585561863507639, 0.36158236, 0.79437948, 0.0818550108, 0.52519650381, 0.7294452894, 0.609], "5.144649255680236", "0.5716276950755818", "0.609", "0.22813674465797093"),
        (&[0.511933, 0.75714, 0.93327021218064], "2.20234321218064", "0.7341144040602133", "0.75714", "0.21161024347447163"),
        (&[0.962, 0.76457086621], "1.7265708662099999", "0.8632854331049999", "0.8632854331049999", "0.1396034793066951"),
        (&[0.6952953662736593, 0.579895204282492, 0.069, 0.9446810951079374, 0.697, 0.0606694276, 0.647128854527669], "3.693669947791758", "0.5276671353988225", "0.647128854527669", "0.3356920114016707"),
        (&[0.716627794398, 0.022562928055589, 0.3555, 0.493693, 0.76823, 0.7383633795948], "3.094977102048389", "0.5158295170080648", "0.6051603971989999", "0.29087962431260045"),
    ];

    #[test]
    fn matches_cpython() {
        for (xs, sum, avg, mid, sd) in CASES {
            same(py_sum(xs), sum, &format!("sum {xs:?}"));
            same(mean(xs).expect("non-empty"), avg, &format!("mean {xs:?}"));
            same(median(xs).expect("non-empty"), mid, &format!("median {xs:?}"));
            if sd.is_empty() {
                assert_eq!(stdev(xs), None);
            } else {
                same(stdev(xs).expect("n >= 2"), sd, &format!("stdev {xs:?}"));
            }
        }
    }

    #[test]
    fn known_last_bit_differences() {
        // Naive left-to-right addition gives 0.6000000000000001 and 0.20000000000000004.
        assert_eq!(py_sum(&[0.1, 0.2, 0.3]), 0.6);
        assert_eq!(mean(&[0.1, 0.2, 0.3]), Some(0.2));
        assert_eq!(py_sum(&[1e100, 1.0, -1e100]), 1.0);
    }

    #[test]
    fn empty_and_short_inputs() {
        assert_eq!(py_sum(&[]), 0.0);
        assert_eq!(mean(&[]), None);
        assert_eq!(median(&[]), None);
        assert_eq!(stdev(&[]), None);
        assert_eq!(stdev(&[0.5]), None);
        assert_eq!(stdev(&[0.5, 0.5]), Some(0.0));
        assert_eq!(mean(&[0.0, -0.0]), Some(0.0));
    }

    #[test]
    fn sum_signs_and_overflow() {
        // `0 + -0.0` is `0.0`; a zero compensation is not added, so `-0.0` totals survive later.
        assert!(py_sum(&[-0.0]).is_sign_positive());
        assert_eq!(py_sum(&[1e308, 1e308, -1e308]), f64::INFINITY);
        assert_eq!(py_sum(&[f64::INFINITY, 1.0]), f64::INFINITY);
        assert!(py_sum(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    }

    #[test]
    fn non_finite_inputs_do_not_panic() {
        assert_eq!(mean(&[1.0, f64::INFINITY]), Some(f64::INFINITY));
        assert!(mean(&[f64::INFINITY, f64::NEG_INFINITY]).is_some_and(f64::is_nan));
        assert!(stdev(&[1.0, f64::NAN]).is_some_and(f64::is_nan));
        assert!(median(&[f64::NAN, 1.0, 2.0]).is_some());
    }

    #[test]
    fn ratio_rounding_edges() {
        let one = BigUint::from(1u8);
        // 1/3 and 2/3 round to the nearest double.
        assert_eq!(ratio_to_f64(false, &one, &BigUint::from(3u8), 0), 1.0 / 3.0);
        assert_eq!(ratio_to_f64(true, &BigUint::from(2u8), &BigUint::from(3u8), 0), -2.0 / 3.0);
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: even wins.
        let tie = (BigUint::from(1u8) << 53u32) + 1u8;
        assert_eq!(ratio_to_f64(false, &tie, &one, 0), 9007199254740992.0);
        // 2^53 + 3 ties between +2 and +4: even mantissa is +4.
        let tie_up = (BigUint::from(1u8) << 53u32) + 3u8;
        assert_eq!(ratio_to_f64(false, &tie_up, &one, 0), 9007199254740996.0);
        // A sticky bit below the tie rounds up.
        let above = (BigUint::from(1u8) << 60u32) + (1u64 << 7) + 1u8;
        assert_eq!(ratio_to_f64(false, &above, &one, 0), f64::from_bits(0x43B0_0000_0000_0001));
        // Subnormals: the smallest one, half of it (tie to even: zero), and just above half.
        assert_eq!(ratio_to_f64(false, &one, &one, -1074), 5e-324);
        assert_eq!(ratio_to_f64(false, &one, &one, -1075), 0.0);
        assert_eq!(ratio_to_f64(false, &BigUint::from(3u8), &one, -1076), 5e-324);
        assert_eq!(ratio_to_f64(false, &BigUint::from(3u8), &one, -1075), 1e-323);
        assert_eq!(ratio_to_f64(false, &one, &one, 1024), f64::INFINITY);
        assert_eq!(ratio_to_f64(false, &one, &one, 1023), 2f64.powi(1023));
    }
}
