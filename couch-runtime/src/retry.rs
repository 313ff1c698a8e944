//! Which requests are sent again after a failure, and after how long.

use couch_semantics::ids::random_u64;
use std::time::Duration;

/// When and how requests that may safely be repeated are retried.
///
/// Reads (`GET`, `_find`, `_all_docs`, `_explain`) and index creation are
/// retried on connection errors and on 408, 429 and 5xx answers, with
/// exponential backoff and full jitter. Document writes are never retried
/// automatically (UPDATE/DELETE retry conflicts themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = off).
    pub max_retries: u32,
    /// Delay ceiling of the first retry; doubles each time.
    pub base_delay: Duration,
    /// Largest delay ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 3, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(2) }
    }
}

impl RetryPolicy {
    /// No retries.
    pub const NONE: RetryPolicy =
        RetryPolicy { max_retries: 0, base_delay: Duration::from_millis(0), max_delay: Duration::from_millis(0) };

    /// The wait before retry number `attempt` (1-based): uniform in [0, ceiling].
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.max_delay);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(if ms == 0 { 0 } else { random_u64() % (ms + 1) })
    }
}
