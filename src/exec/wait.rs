//! How long to wait before trying again (docs/format.md#rate-limits): rate-limit waits read from the limit
//! message, and exponential backoff for transient failures.
//!
//! Everything here is a pure function of its inputs; the current time is a parameter, so tests
//! (and `darn plan`) get the same answer on any machine and on any day.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use regex::Regex;
use std::sync::LazyLock;
use std::time::Duration;

/// The wait when a limit message says nothing about when it ends.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// A wait longer than this makes a limit "long" (weekly-style), as in the runner.
pub const LONG_LIMIT: Duration = Duration::from_secs(3600);

/// The zone of a `resets 4pm` message without `(Zone/Name)`: the one Claude Code reports in.
pub const DEFAULT_ZONE: &str = "America/Los_Angeles";

/// Texts that mark a long limit, whatever the computed wait (matched lower-cased).
const LONG_TEXTS: &[&str] = &["weekly usage limit", "hit your limit", "upgrade to continue", "resets "];

// Constant patterns: `None` cannot happen (the tests exercise both), but a panic-free fallback
// costs nothing.
static RETRY_AFTER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i)retry-after:\s*(\d+)").ok());

static RESETS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\bresets\s+(\d{1,2})(?::(\d{2}))?\s*([ap]m)\b(?:\s*\(([^)\s]+)\))?").ok());

/// Where a wait came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitSource {
    /// `Retry-After: <n>` seconds.
    RetryAfter { seconds: u64 },
    /// `resets H[:MM]am|pm (Zone)`: the next such wall-clock time in that zone.
    Resets { at: Timestamp, zone: String },
    /// Nothing parsed: [`DEFAULT_WAIT`].
    Default,
}

/// What to do about one rate-limit message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitWait {
    /// How long to wait from `now` (10 % added to parsed times, as the runner does, so the
    /// retry lands after the limit has really lifted).
    pub wait: Duration,
    /// `now + wait`.
    pub until: Timestamp,
    /// A weekly-style limit: stop launching rather than sleep (docs/format.md#rate-limits, docs/format.md#notes-for-writers).
    pub long: bool,
    pub source: WaitSource,
}

impl RateLimitWait {
    /// True when this wait is longer than the user allows (`[execution] max_rate_limit_wait`):
    /// darn then stops launching and says when the limit lifts, instead of sleeping for hours
    /// inside one command.
    pub fn exceeds(&self, max_wait: Duration) -> bool {
        self.wait > max_wait
    }
}

/// Reads a rate-limit message (stdout, stderr or the extracted error text; they may be joined)
/// and decides how long to wait, as seen at `now`. `Retry-After` wins over `resets`.
pub fn rate_limit_wait(message: &str, now: Timestamp) -> RateLimitWait {
    let parsed = retry_after(message).or_else(|| resets_at(message, now));
    let (wait, source) = match parsed {
        Some((raw, source)) => (plus_ten_percent(raw), source),
        None => (DEFAULT_WAIT, WaitSource::Default),
    };
    let long = is_long(message, Some(wait));
    RateLimitWait { wait, until: add(now, wait), long, source }
}

/// A weekly-style limit: a wait over an hour, or a message naming a usage cap or a reset time.
/// `wait` is the computed wait (10 % included), when there is one.
pub fn is_long(message: &str, wait: Option<Duration>) -> bool {
    if wait.is_some_and(|w| w > LONG_LIMIT) {
        return true;
    }
    let lower = message.to_lowercase();
    LONG_TEXTS.iter().any(|t| lower.contains(t))
}

/// The `Retry-After: <n>` value, before the 10 % margin.
fn retry_after(message: &str) -> Option<(Duration, WaitSource)> {
    let caps = RETRY_AFTER.as_ref()?.captures(message)?;
    let seconds: u64 = caps.get(1)?.as_str().parse().ok()?;
    Some((Duration::from_secs(seconds), WaitSource::RetryAfter { seconds }))
}

/// The time until the next `resets H[:MM]am|pm` in the named zone, before the 10 % margin.
fn resets_at(message: &str, now: Timestamp) -> Option<(Duration, WaitSource)> {
    let caps = RESETS.as_ref()?.captures(message)?;
    let hour12: i8 = caps.get(1)?.as_str().parse().ok()?;
    let minute: i8 = match caps.get(2) {
        Some(m) => m.as_str().parse().ok()?,
        None => 0,
    };
    if !(1..=12).contains(&hour12) || !(0..=59).contains(&minute) {
        return None;
    }
    let pm = caps.get(3)?.as_str().eq_ignore_ascii_case("pm");
    let hour = hour12 % 12 + if pm { 12 } else { 0 };
    // An unknown zone name is still most likely Claude's own zone; guessing it beats the
    // 60-second default, which would only hit the limit again.
    let named = caps.get(4).map(|m| m.as_str());
    let (tz, zone) = match named.and_then(|n| TimeZone::get(n).ok().map(|tz| (tz, n))) {
        Some((tz, n)) => (tz, n.to_string()),
        None => (TimeZone::get(DEFAULT_ZONE).ok()?, DEFAULT_ZONE.to_string()),
    };
    let at = next_wall_time(now, &tz, hour, minute)?;
    let wait = Duration::try_from(at.duration_since(now)).ok()?;
    Some((wait, WaitSource::Resets { at, zone }))
}

/// The first instant strictly after `now` whose wall-clock time in `tz` is `hour:minute`. On a
/// day where that time does not exist (spring forward) the instant after the gap is used; where
/// it occurs twice (fall back), the first.
fn next_wall_time(now: Timestamp, tz: &TimeZone, hour: i8, minute: i8) -> Option<Timestamp> {
    let today: Date = now.to_zoned(tz.clone()).date();
    for day in [today, today.tomorrow().ok()?, today.checked_add(2.days()).ok()?] {
        let civil: DateTime = day.at(hour, minute, 0, 0);
        let at = tz.to_ambiguous_timestamp(civil).compatible().ok()?;
        if at > now {
            return Some(at);
        }
    }
    None
}

fn plus_ten_percent(d: Duration) -> Duration {
    d + d / 10
}

fn add(now: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d).ok().and_then(|s| now.checked_add(s).ok()).unwrap_or(Timestamp::MAX)
}

/// The wait before retry number `attempt` (1 for the first retry) of a transient failure:
/// `base`, then doubling, never more than `cap`. Attempt 0 (no retry yet) waits nothing.
pub fn backoff(base: Duration, attempt: u32, cap: Duration) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(Duration::MAX).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn tz_database_is_available() {
        assert!(TimeZone::get(DEFAULT_ZONE).is_ok(), "America/Los_Angeles must resolve (system or bundled tzdb)");
    }

    #[test]
    fn retry_after_seconds_plus_ten_percent() {
        let now = ts("2026-03-01T12:00:00Z");
        let w = rate_limit_wait("API Error: 429 rate_limit_error (Retry-After: 30)", now);
        assert_eq!(w.wait, Duration::from_secs(33));
        assert_eq!(w.source, WaitSource::RetryAfter { seconds: 30 });
        assert_eq!(w.until, ts("2026-03-01T12:00:33Z"));
        assert!(!w.long);
        let w = rate_limit_wait("retry-after:1", now);
        assert_eq!(w.wait, Duration::from_millis(1100));
        // Over an hour: long.
        let w = rate_limit_wait("HTTP 429\nRetry-After: 3300", now);
        assert_eq!(w.wait, Duration::from_secs(3630));
        assert!(w.long);
        let w = rate_limit_wait("HTTP 429\nRetry-After: 3200", now);
        assert!(!w.long, "3520 s is not over an hour");
    }

    #[test]
    fn nothing_parsed_means_sixty_seconds() {
        let now = ts("2026-03-01T12:00:00Z");
        let w = rate_limit_wait("Error: Overloaded (529)", now);
        assert_eq!((w.wait, w.source.clone(), w.long), (DEFAULT_WAIT, WaitSource::Default, false));
        assert!(rate_limit_wait("weekly usage limit reached", now).long);
        assert!(rate_limit_wait("Please UPGRADE TO CONTINUE", now).long);
        // Malformed reset times fall back to the default but the text still marks a long limit.
        let w = rate_limit_wait("limit · resets 13pm", now);
        assert_eq!((w.wait, w.long), (DEFAULT_WAIT, true));
    }

    #[test]
    fn resets_later_today_in_los_angeles() {
        // 2026-01-15 10:00 PST = 18:00Z; 4pm PST = 00:00Z next day: 6 h, +10 % = 6.6 h.
        let now = ts("2026-01-15T18:00:00Z");
        let w = rate_limit_wait("You've hit your limit · resets 4pm (America/Los_Angeles)", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-01-16T00:00:00Z"), zone: DEFAULT_ZONE.into() });
        assert_eq!(w.wait, Duration::from_secs(23_760)); // 6 h + 10 %
        assert!(w.long);
        // No zone: Los Angeles.
        let w2 = rate_limit_wait("resets 4pm", now);
        assert_eq!(w2.wait, w.wait);
        // Minutes, upper case, no space before am/pm.
        let w3 = rate_limit_wait("Limit reached, RESETS 4:30PM", now);
        assert_eq!(w3.source, WaitSource::Resets { at: ts("2026-01-16T00:30:00Z"), zone: DEFAULT_ZONE.into() });
    }

    #[test]
    fn resets_already_past_today_means_tomorrow_across_midnight() {
        // 23:30 PST on Jan 15; "resets 1am" is 1.5 h later, on Jan 16.
        let now = ts("2026-01-16T07:30:00Z");
        let w = rate_limit_wait("resets 1am", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-01-16T09:00:00Z"), zone: DEFAULT_ZONE.into() });
        assert_eq!(w.wait, Duration::from_secs(5_940)); // 1.5 h + 10 %
        // Exactly at the reset time: the next one, a day later.
        let now = ts("2026-01-16T00:00:00Z"); // 16:00 PST
        let w = rate_limit_wait("resets 4pm", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-01-17T00:00:00Z"), zone: DEFAULT_ZONE.into() });
        // 12am is midnight, 12pm is noon.
        let now = ts("2026-01-15T18:00:00Z"); // 10:00 PST
        let w = rate_limit_wait("resets 12am", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-01-16T08:00:00Z"), zone: DEFAULT_ZONE.into() });
        let w = rate_limit_wait("resets 12pm", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-01-15T20:00:00Z"), zone: DEFAULT_ZONE.into() });
    }

    #[test]
    fn resets_across_dst_changes() {
        // Spring forward in Los Angeles: 2026-03-08 02:00 PST → 03:00 PDT. From 2026-03-07
        // 20:00 PST (04:00Z), "resets 4am" is 8 wall-clock hours away but the night is an hour
        // short: 4am PDT = 11:00Z, 7 real hours.
        let now = ts("2026-03-08T04:00:00Z");
        let w = rate_limit_wait("resets 4am", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-03-08T11:00:00Z"), zone: DEFAULT_ZONE.into() });
        assert_eq!(w.wait, Duration::from_secs(27_720)); // 7 h + 10 %
        // A time inside the gap (2:30am does not exist that night): the instant after the gap.
        let w = rate_limit_wait("resets 2:30am", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-03-08T10:30:00Z"), zone: DEFAULT_ZONE.into() });
        // Fall back: 2026-11-01 02:00 PDT → 01:00 PST. 1:30am happens twice; the first counts.
        let now = ts("2026-11-01T07:00:00Z"); // 00:00 PDT
        let w = rate_limit_wait("resets 1:30am", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-11-01T08:30:00Z"), zone: DEFAULT_ZONE.into() });
        // 4am that day is 4 wall-clock hours after midnight but 5 real hours (01:00–02:00 repeats).
        let w = rate_limit_wait("resets 4am", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-11-01T12:00:00Z"), zone: DEFAULT_ZONE.into() });
        assert_eq!(w.wait, Duration::from_secs(19_800)); // 5 h + 10 %
    }

    #[test]
    fn other_zones_and_unknown_zones() {
        let now = ts("2026-06-01T10:00:00Z"); // 12:00 in Berlin (CEST)
        let w = rate_limit_wait("resets 3pm (Europe/Berlin)", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-06-01T13:00:00Z"), zone: "Europe/Berlin".into() });
        let w = rate_limit_wait("resets 3pm (UTC)", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-06-01T15:00:00Z"), zone: "UTC".into() });
        // An unknown zone is read as Los Angeles (03:00 PDT now; 3pm PDT = 22:00Z).
        let w = rate_limit_wait("resets 3pm (Mars/Olympus_Mons)", now);
        assert_eq!(w.source, WaitSource::Resets { at: ts("2026-06-01T22:00:00Z"), zone: DEFAULT_ZONE.into() });
    }

    #[test]
    fn retry_after_wins_over_resets() {
        let now = ts("2026-01-15T18:00:00Z");
        let w = rate_limit_wait("resets 4pm\nRetry-After: 10", now);
        assert_eq!(w.wait, Duration::from_secs(11));
        assert!(w.long, "the text still names a reset time");
        assert!(w.exceeds(Duration::from_secs(10)));
        assert!(!w.exceeds(Duration::from_secs(11)));
    }

    #[test]
    fn exponential_backoff() {
        let base = Duration::from_secs(5);
        let cap = Duration::from_secs(60);
        let waits: Vec<u64> = (0..7).map(|a| backoff(base, a, cap).as_secs()).collect();
        assert_eq!(waits, [0, 5, 10, 20, 40, 60, 60]);
        assert_eq!(backoff(base, 40, cap), cap, "no overflow on huge attempt numbers");
        assert_eq!(backoff(Duration::from_secs(u64::MAX / 2), 3, Duration::MAX), Duration::MAX);
    }
}
