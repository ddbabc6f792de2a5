//! "Did you mean": the closest of some known values to what was typed.

/// Edit distance between two strings (insertions, deletions, substitutions).
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known value closest to `typed`: equal ignoring case first, else the nearest within a
/// third of its length (at least one edit).
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let known: Vec<&str> = known.into_iter().collect();
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(typed)) {
        return Some(k);
    }
    let limit = (typed.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|k| (distance(&typed.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_values() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(closest("t0", ["T0", "T1"]), Some("T0"));
        assert_eq!(closest("parital", ["partial", "failed"]), Some("partial"));
        assert_eq!(closest("xyz", ["partial", "failed"]), None);
        assert_eq!(closest("0", ["00", "01"]), Some("00"));
    }
}
