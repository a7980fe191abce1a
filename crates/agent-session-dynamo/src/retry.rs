//! The one backoff the store uses for what the SDK does not retry itself: transactions
//! cancelled for conflicts or throttling, `UnprocessedItems` of batch writes, and run numbers
//! taken by a concurrent `begin_run`.

use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

/// Exponential backoff with full jitter, bounded by a number of attempts and a deadline.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    attempt: u32,
    max_attempts: u32,
    base: Duration,
    cap: Duration,
    deadline: Instant,
}

impl Backoff {
    /// `max_attempts` tries in all, waits growing from `base` to `cap`, none past `deadline`
    /// from now.
    pub(crate) fn new(
        max_attempts: u32,
        base: Duration,
        cap: Duration,
        deadline: Duration,
    ) -> Self {
        Self {
            attempt: 0,
            max_attempts,
            base,
            cap,
            deadline: Instant::now() + deadline,
        }
    }

    /// For transactions cancelled by conflicts or throttling: 6 tries, 25 ms to 1 s.
    pub(crate) fn transaction() -> Self {
        Self::new(
            6,
            Duration::from_millis(25),
            Duration::from_secs(1),
            Duration::from_secs(20),
        )
    }

    /// For `UnprocessedItems`: 10 tries, 50 ms to 2 s.
    pub(crate) fn batch() -> Self {
        Self::new(
            10,
            Duration::from_millis(50),
            Duration::from_secs(2),
            Duration::from_secs(30),
        )
    }

    /// For contention on run numbers: no attempt limit, only the 30 s deadline, so no run
    /// starves while others begin.
    pub(crate) fn contention() -> Self {
        Self::new(
            u32::MAX,
            Duration::from_millis(5),
            Duration::from_millis(500),
            Duration::from_secs(30),
        )
    }

    /// For `update_state` writes that find the state moved: 32 tries, 5 ms to 500 ms, none
    /// past 30 s (a few concurrent writers of one session's state, forks of one source say,
    /// all get through; a state that never stops changing is an error, not a hang).
    pub(crate) fn state_writes() -> Self {
        Self::new(
            32,
            Duration::from_millis(5),
            Duration::from_millis(500),
            Duration::from_secs(30),
        )
    }

    /// How many waits have been taken.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Waits before the next try; `false` (without waiting) when no try is left.
    pub(crate) async fn wait(&mut self) -> bool {
        self.attempt = self.attempt.saturating_add(1);
        if self.attempt >= self.max_attempts {
            return false;
        }
        let exp = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.cap);
        let delay = jitter(exp);
        let now = Instant::now();
        if now + delay >= self.deadline {
            return false;
        }
        tokio::time::sleep(delay).await;
        true
    }
}

/// A random duration in `[max / 2, max]`.
fn jitter(max: Duration) -> Duration {
    let random = (Uuid::now_v7().as_u128() & 0xffff) as u32;
    let half = max / 2;
    half + (max - half).mul_f64(f64::from(random) / 65535.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backoff_stops_at_its_attempts_and_its_deadline() {
        let mut backoff = Backoff::new(
            3,
            Duration::from_millis(10),
            Duration::from_secs(1),
            Duration::from_secs(60),
        );
        assert!(backoff.wait().await);
        assert!(backoff.wait().await);
        assert!(!backoff.wait().await);
        let started = Instant::now();
        let mut forever = Backoff::contention();
        while forever.wait().await {}
        let waited = started.elapsed();
        assert!(waited <= Duration::from_secs(30), "{waited:?}");
        assert!(waited >= Duration::from_secs(29), "{waited:?}");
        assert!(forever.attempts() > 50);
    }
}
