//! The clock port: every use case reads the time through it, so tests decide what "now" is.

use std::fmt::Debug;
use std::sync::Mutex;

use chrono::{DateTime, SubsecRound, Utc};

/// Where the current time comes from.
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time at the precision storage keeps (microseconds), so a value read back
    /// equals the value written.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock: the clock of every production composition.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that stands still until told to move: for tests of deadlines and expiry.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `at` (truncated to microseconds, like [`SystemClock`]).
    pub fn at(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at.trunc_subsecs(6)))
    }

    /// A clock showing the system time of its creation.
    pub fn starting_now() -> Self {
        Self::at(Utc::now())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::starting_now();
        let before = clock.now();
        assert_eq!(clock.now(), before);
        clock.advance(chrono::Duration::minutes(5));
        assert_eq!(clock.now(), before + chrono::Duration::minutes(5));
    }

    #[test]
    fn the_system_clock_keeps_microseconds_only() {
        assert_eq!(SystemClock.now().timestamp_subsec_nanos() % 1_000, 0);
    }
}
