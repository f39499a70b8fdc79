//! The wall clock, behind a trait so tests can drive hours of schedule in
//! milliseconds.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A boxed sleep.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Unix seconds, and a way to wait for one.
pub trait Clock: Send + Sync + 'static {
    /// Now, in unix seconds.
    fn now(&self) -> i64;

    /// Resolves at `at` or later (spurious early wake-ups are allowed: the
    /// caller re-reads [`Clock::now`]).
    fn sleep_until(&self, at: i64) -> Sleep;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// The longest single sleep: the wall clock can jump (NTP setting a board's
/// RTC-less clock after boot, a suspended laptop), and a long monotonic
/// sleep would not notice.
const MAX_NAP: Duration = Duration::from_secs(60);

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    fn sleep_until(&self, at: i64) -> Sleep {
        // To the start of second `at`, so `now()` has reached it on waking.
        let target = UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0));
        let d = target
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(MAX_NAP);
        Box::pin(tokio::time::sleep(d))
    }
}
