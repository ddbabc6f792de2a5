//! Names of tiers, subtests, runs and judge slots (docs/format.md#names).

use std::cmp::Ordering;
use std::fmt;

/// `T` followed by digits (`T0` … `T6`; the runner accepts any `T` prefix, darn wants a number).
pub fn is_tier(name: &str) -> bool {
    name.len() >= 2 && name.starts_with('T') && name[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A subtest directory name: all digits (`00`, `01`).
pub fn is_subtest(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// `run_NN` → NN (1-based).
pub fn parse_run_dir(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("run_")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n >= 1)
}

/// NN → `run_NN` (zero-padded to two digits, like Python's `f"run_{n:02d}"`).
pub fn run_dir_name(run: u32) -> String {
    format!("run_{run:02}")
}

/// Slot number (1-based) → `judge_NN`.
pub fn slot_dir_name(slot: usize) -> String {
    format!("judge_{slot:02}")
}

/// Orders tiers by their number (T2 before T10), then by name.
pub fn tier_order(a: &str, b: &str) -> Ordering {
    let num = |t: &str| t.get(1..).and_then(|d| d.parse::<u64>().ok());
    num(a).cmp(&num(b)).then_with(|| a.cmp(b))
}

/// Identifies one run: tier, subtest and 1-based run number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunKey {
    pub tier: String,
    pub subtest: String,
    pub run: u32,
}

impl RunKey {
    pub fn new(tier: impl Into<String>, subtest: impl Into<String>, run: u32) -> Self {
        RunKey { tier: tier.into(), subtest: subtest.into(), run }
    }

    /// The logical id `T0/00/run_01` (the same in both layouts).
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.tier, self.subtest, run_dir_name(self.run))
    }

    /// Parses `T0/00/run_01`.
    pub fn parse(id: &str) -> Option<Self> {
        let mut parts = id.split('/');
        let (tier, subtest, run) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !is_tier(tier) || !is_subtest(subtest) {
            return None;
        }
        Some(RunKey::new(tier, subtest, parse_run_dir(run)?))
    }
}

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.tier, self.subtest, run_dir_name(self.run))
    }
}

impl Ord for RunKey {
    fn cmp(&self, other: &Self) -> Ordering {
        tier_order(&self.tier, &other.tier)
            .then_with(|| self.subtest.cmp(&other.subtest))
            .then_with(|| self.run.cmp(&other.run))
    }
}

impl PartialOrd for RunKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        assert!(is_tier("T0") && is_tier("T12") && !is_tier("T") && !is_tier("Tx") && !is_tier("repo"));
        assert!(is_subtest("00") && !is_subtest(".failed") && !is_subtest(""));
        assert_eq!(parse_run_dir("run_01"), Some(1));
        assert_eq!(parse_run_dir("run_100"), Some(100));
        assert_eq!(parse_run_dir("run_00"), None);
        assert_eq!(parse_run_dir("run_01_attempt_01"), None);
        assert_eq!(run_dir_name(7), "run_07");
        assert_eq!(run_dir_name(123), "run_123");
        assert_eq!(slot_dir_name(3), "judge_03");
        let key = RunKey::parse("T1/02/run_03").expect("valid id");
        assert_eq!(key.id(), "T1/02/run_03");
        assert!(RunKey::parse("T1/02").is_none());
    }

    #[test]
    fn runs_sort_by_tier_number() {
        let mut keys = [RunKey::new("T10", "00", 1), RunKey::new("T2", "01", 2), RunKey::new("T2", "01", 1)];
        keys.sort();
        let ids: Vec<String> = keys.iter().map(RunKey::id).collect();
        assert_eq!(ids, ["T2/01/run_01", "T2/01/run_02", "T10/00/run_01"]);
    }
}
