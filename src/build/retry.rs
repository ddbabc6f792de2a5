//! When a failed execution is tried again: after a rate limit (once the limit passes, unless it
//! lasts longer than darn may wait), or after a transient infrastructure failure (exponential
//! backoff); never for a failure that retrying cannot fix.

use crate::exec::Executed;
use crate::rules::FailureClass;
use std::time::Duration;

/// The longest wait between retries of a transient failure.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The retry settings of one reconcile.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// The first wait before retrying a transient failure (doubling after that).
    pub backoff: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Pause every new launch for this long, then try again.
    WaitForLimit(Duration),
    /// The limit lasts longer than darn may wait: stop launching (its message).
    StopLaunching(String),
    /// Try this execution again after this long.
    Backoff(Duration),
    /// Give up on it.
    GiveUp,
}

impl RetryPolicy {
    /// Decides after attempt `attempt` (from 1) ended with `result`.
    pub fn next(&self, result: &Executed, attempt: u32) -> Next {
        if let Some((wait, too_long, message)) = &result.rate_limited {
            if *too_long {
                return Next::StopLaunching(message.clone());
            }
            return if attempt <= self.retries { Next::WaitForLimit(*wait) } else { Next::GiveUp };
        }
        if result.failure == Some(FailureClass::Infrastructure) && !result.permanent && attempt <= self.retries {
            return Next::Backoff(crate::exec::backoff(self.backoff, attempt, MAX_BACKOFF));
        }
        Next::GiveUp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_failure() {
        let p = RetryPolicy { retries: 2, backoff: Duration::from_secs(1) };
        let limited =
            Executed { rate_limited: Some((Duration::from_secs(5), false, "429".into())), ..Executed::default() };
        assert_eq!(p.next(&limited, 1), Next::WaitForLimit(Duration::from_secs(5)));
        assert_eq!(p.next(&limited, 3), Next::GiveUp);
        let weekly = Executed {
            rate_limited: Some((Duration::from_secs(9999), true, "resets 4pm".into())),
            ..Executed::default()
        };
        assert_eq!(p.next(&weekly, 1), Next::StopLaunching("resets 4pm".into()));
        let crash = Executed { failure: Some(FailureClass::Infrastructure), ..Executed::default() };
        assert!(matches!(p.next(&crash, 1), Next::Backoff(_)));
        let missing_program = Executed { permanent: true, ..crash.clone() };
        assert_eq!(p.next(&missing_program, 1), Next::GiveUp);
        let agent_error = Executed { failure: Some(FailureClass::AgentError), ..Executed::default() };
        assert_eq!(p.next(&agent_error, 1), Next::GiveUp);
    }
}
