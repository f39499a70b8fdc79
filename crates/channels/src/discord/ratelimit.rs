//! Discord's REST rate limits, as documented
//! (<https://discord.com/developers/docs/topics/rate-limits>): every answer
//! says how many requests remain in its bucket (`X-RateLimit-Remaining`)
//! and when it refills (`X-RateLimit-Reset-After`); routes that share a
//! bucket share its `X-RateLimit-Bucket` hash, and a bucket is per major
//! parameter (the channel id). A 429 carries `retry_after` and `global`.
//!
//! Pure bookkeeping: the caller asks [`Limits::wait`] before a request and
//! reports every answer; nothing here sleeps.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Bucket {
    remaining: u64,
    reset_at: Instant,
}

/// What is known about the limits; one per bot.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    /// Route ("POST /channels/{id}/messages") → bucket hash, once seen.
    routes: HashMap<&'static str, String>,
    /// (bucket hash, or the route until one is known; major parameter).
    buckets: HashMap<(String, String), Bucket>,
    global_until: Option<Instant>,
}

/// Buckets kept at most; expired ones are dropped past this.
const MAX_BUCKETS: usize = 256;

/// Why a request must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    Global(Duration),
    Route(Duration),
}

impl Limits {
    fn key(&self, route: &'static str, major: &str) -> (String, String) {
        let bucket = self
            .routes
            .get(route)
            .cloned()
            .unwrap_or_else(|| route.to_owned());
        (bucket, major.to_owned())
    }

    /// Whether a request on `route` for `major` must wait first, and how
    /// long.
    pub(crate) fn wait(&self, route: &'static str, major: &str, now: Instant) -> Option<Hold> {
        if let Some(until) = self.global_until.filter(|u| *u > now) {
            return Some(Hold::Global(until - now));
        }
        let b = self.buckets.get(&self.key(route, major))?;
        (b.remaining == 0 && b.reset_at > now).then(|| Hold::Route(b.reset_at - now))
    }

    /// Learns from an answer's headers (`header` looks one up by name).
    pub(crate) fn update(
        &mut self,
        route: &'static str,
        major: &str,
        header: &dyn Fn(&str) -> Option<String>,
        now: Instant,
    ) {
        if let Some(hash) = header("x-ratelimit-bucket").filter(|h| !h.is_empty()) {
            self.routes.insert(route, hash);
        }
        let remaining = header("x-ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok());
        let reset_after = header("x-ratelimit-reset-after").and_then(|v| secs(&v));
        if let (Some(remaining), Some(after)) = (remaining, reset_after) {
            self.set(route, major, remaining, now + after, now);
        }
    }

    /// Records a 429.
    pub(crate) fn limited(
        &mut self,
        route: &'static str,
        major: &str,
        retry_after: Duration,
        global: bool,
        now: Instant,
    ) {
        if global {
            self.global_until = Some(now + retry_after);
        } else {
            self.set(route, major, 0, now + retry_after, now);
        }
    }

    fn set(
        &mut self,
        route: &'static str,
        major: &str,
        remaining: u64,
        reset_at: Instant,
        now: Instant,
    ) {
        if self.buckets.len() >= MAX_BUCKETS {
            self.buckets.retain(|_, b| b.reset_at > now);
        }
        let key = self.key(route, major);
        self.buckets.insert(
            key,
            Bucket {
                remaining,
                reset_at,
            },
        );
    }
}

/// Seconds with a fraction ("1.234"), as Discord writes them.
pub(crate) fn secs(v: &str) -> Option<Duration> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "POST /channels/{id}/messages";
    const TYPING: &str = "POST /channels/{id}/typing";

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn an_exhausted_bucket_holds_its_route_and_channel_until_reset() {
        let t0 = Instant::now();
        let mut l = Limits::default();
        l.update(
            MSG,
            "1",
            &headers(&[
                ("X-RateLimit-Bucket", "abcd"),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset-After", "1.5"),
            ]),
            t0,
        );
        assert_eq!(
            l.wait(MSG, "1", t0),
            Some(Hold::Route(Duration::from_millis(1500)))
        );
        // Another channel has its own bucket; another route too.
        assert_eq!(l.wait(MSG, "2", t0), None);
        assert_eq!(l.wait(TYPING, "1", t0), None);
        assert_eq!(l.wait(MSG, "1", t0 + Duration::from_secs(2)), None);
    }

    #[test]
    fn routes_sharing_a_bucket_hash_share_its_state() {
        let t0 = Instant::now();
        let mut l = Limits::default();
        l.update(MSG, "1", &headers(&[("x-ratelimit-bucket", "same")]), t0);
        l.update(
            TYPING,
            "1",
            &headers(&[
                ("x-ratelimit-bucket", "same"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset-after", "3"),
            ]),
            t0,
        );
        assert_eq!(
            l.wait(MSG, "1", t0),
            Some(Hold::Route(Duration::from_secs(3)))
        );
    }

    #[test]
    fn a_global_429_holds_every_route() {
        let t0 = Instant::now();
        let mut l = Limits::default();
        l.limited(MSG, "1", Duration::from_secs(2), /*global*/ true, t0);
        assert_eq!(
            l.wait(TYPING, "9", t0),
            Some(Hold::Global(Duration::from_secs(2)))
        );
        l.limited(MSG, "1", Duration::from_secs(4), /*global*/ false, t0);
        assert_eq!(
            l.wait(MSG, "1", t0 + Duration::from_secs(3)),
            Some(Hold::Route(Duration::from_secs(1)))
        );
    }

    #[test]
    fn fractional_seconds_parse_and_nonsense_does_not() {
        assert_eq!(secs("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(secs("-1"), None);
        assert_eq!(secs("soon"), None);
    }
}
