//! Where the loop and session code take the time from.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

/// A source of the current time, so that time-to-live, heartbeat and time-of-turn logic can be
/// tested with Tokio's paused clock (or a clock of the test's own) instead of waiting in real
/// time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that starts at the wall-clock time it was made and then follows Tokio's clock, so
/// that it stands still, or jumps, when a test pauses or advances Tokio's time. Outside paused
/// tests it runs like the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading the wall-clock time now, then following Tokio's time.
    pub fn new() -> Self {
        Self {
            origin: Timestamp::now(),
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.start.elapsed()).unwrap_or(SignedDuration::MAX);
        self.origin.checked_add(elapsed).unwrap_or(Timestamp::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_follows_paused_time() {
        let clock = TokioClock::new();
        let before = clock.now();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(
            clock.now().duration_since(before),
            SignedDuration::from_secs(90)
        );
    }
}
