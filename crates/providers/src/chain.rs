//! Retries and fallback over an ordered list of providers.
//!
//! Each provider gets `1 + max_retries` attempts for retryable errors
//! (timeouts, connection errors, 429, 5xx, malformed bodies), with capped
//! jittered backoff or the server's `retry-after`. Then the next provider
//! is tried, unless the error says the request itself is wrong (a 400-class
//! `Request` error): another model would most likely refuse it too, and the
//! user should see the reason.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use picoclaw_core::{
    debug, error, info, warn, Backoff, Completion, CompletionRequest, Provider, ProviderError,
};

use crate::ProviderOptions;

/// How hard to try each provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Extra attempts per provider after the first one.
    pub max_retries: u32,
    /// First backoff delay; doubles per retry, with jitter.
    pub base_delay: Duration,
    /// Longest wait before a retry. A `retry-after` above it means this
    /// provider is out for a while: fall back instead of stalling the turn.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

type Sleep = dyn Fn(Duration) + Send + Sync;

/// Providers in preference order; itself a [`Provider`].
pub struct Chain {
    providers: Vec<Box<dyn Provider>>,
    /// Per provider: its address was found unreachable and that was
    /// logged. Until it answers again each request tries it once, quietly:
    /// a stopped local server is one error line, not a retry stack per
    /// message.
    down: Vec<AtomicBool>,
    policy: RetryPolicy,
    sleep: Box<Sleep>,
}

impl Chain {
    pub fn new(providers: Vec<Box<dyn Provider>>, policy: RetryPolicy) -> Chain {
        Chain {
            down: providers.iter().map(|_| AtomicBool::new(false)).collect(),
            providers,
            policy,
            sleep: Box::new(std::thread::sleep),
        }
    }

    /// Replaces how the chain waits between retries (tests record delays
    /// instead of sleeping).
    pub fn with_sleep(mut self, sleep: impl Fn(Duration) + Send + Sync + 'static) -> Chain {
        self.sleep = Box::new(sleep);
        self
    }

    /// Labels in preference order.
    pub fn labels(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.label()).collect()
    }

    /// Attempts one provider until success, a non-retryable error, or the
    /// retry budget is spent; returns the last error.
    fn attempt(
        &self,
        i: usize,
        p: &dyn Provider,
        req: &CompletionRequest<'_>,
    ) -> Result<Completion, ProviderError> {
        let mut backoff = Backoff::new(self.policy.base_delay, self.policy.max_delay);
        let mut retries = 0;
        let down = &self.down[i];
        let was_down = down.load(Ordering::Relaxed);
        loop {
            let err = match p.complete(req) {
                Ok(c) => {
                    if down.swap(false, Ordering::Relaxed) {
                        info!("{}: reachable again", p.label());
                    }
                    return Ok(c);
                }
                Err(e) => e,
            };
            let unreachable = matches!(err, ProviderError::Unreachable { .. });
            if unreachable && was_down {
                debug!("{}: still down: {err}", p.label());
                return Err(err);
            }
            if !err.is_retryable() || retries >= self.policy.max_retries {
                if unreachable && !down.swap(true, Ordering::Relaxed) {
                    error!(
                        "{}: {err} (said once; until it answers, each message tries it once without retries)",
                        p.label()
                    );
                }
                return Err(err);
            }
            let delay = match &err {
                ProviderError::RateLimited {
                    retry_after: Some(after),
                } => *after,
                _ => backoff.next_delay(),
            };
            if delay > self.policy.max_delay {
                warn!(
                    "{}: {err}; wait of {}s is over the {}s cap, not retrying",
                    p.label(),
                    delay.as_secs(),
                    self.policy.max_delay.as_secs()
                );
                return Err(err);
            }
            retries += 1;
            if unreachable {
                debug!(
                    "{}: {err}; retry {retries}/{} in {}ms",
                    p.label(),
                    self.policy.max_retries,
                    delay.as_millis()
                );
            } else {
                warn!(
                    "{}: {err}; retry {retries}/{} in {}ms",
                    p.label(),
                    self.policy.max_retries,
                    delay.as_millis()
                );
            }
            (self.sleep)(delay);
        }
    }
}

impl Provider for Chain {
    fn label(&self) -> String {
        self.labels().join(" > ")
    }

    fn complete(&self, req: &CompletionRequest<'_>) -> Result<Completion, ProviderError> {
        let mut last = None;
        for (i, p) in self.providers.iter().enumerate() {
            let was_down = self.down[i].load(Ordering::Relaxed);
            match self.attempt(i, p.as_ref(), req) {
                Ok(mut c) => {
                    if c.served_by.is_empty() {
                        c.served_by = p.label();
                    }
                    debug!(
                        "{}: {:?}, {} in / {} out tokens",
                        c.served_by, c.finish, c.usage.input_tokens, c.usage.output_tokens
                    );
                    return Ok(c);
                }
                Err(e) if !e.allows_fallback() => return Err(e),
                Err(e) if was_down && matches!(e, ProviderError::Unreachable { .. }) => {
                    debug!("{} is down; trying the next provider", p.label());
                    last = Some(e);
                }
                Err(e) => {
                    if let Some(next) = self.providers.get(i + 1) {
                        warn!(
                            "{} failed ({e}); falling back to {}",
                            p.label(),
                            next.label()
                        );
                    } else if self.providers.len() > 1 {
                        warn!("{} failed ({e}); no provider left", p.label());
                    }
                    last = Some(e);
                }
            }
        }
        // Each failure was logged with its provider above; the caller gets
        // the last one, whose class still says what went wrong.
        Err(last.unwrap_or_else(|| ProviderError::Request {
            status: 0,
            message: String::from("no providers configured"),
        }))
    }
}

/// Builds a chain from resolved config, first entry primary.
pub fn build(opts: &[ProviderOptions], policy: RetryPolicy) -> Result<Chain, ProviderError> {
    if opts.is_empty() {
        return Err(ProviderError::Request {
            status: 0,
            message: String::from("no providers configured"),
        });
    }
    let providers = opts
        .iter()
        .map(crate::provider)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Chain::new(providers, policy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use picoclaw_core::{ChatMessage, FinishReason, Usage};
    use std::sync::{Arc, Mutex};

    /// Answers from a fixed list of outcomes, recording each call.
    struct Scripted {
        name: &'static str,
        outcomes: Mutex<Outcomes>,
        calls: Arc<Mutex<Vec<&'static str>>>,
    }

    impl Provider for Scripted {
        fn label(&self) -> String {
            format!("{}/m", self.name)
        }

        fn complete(&self, _: &CompletionRequest<'_>) -> Result<Completion, ProviderError> {
            self.calls.lock().unwrap().push(self.name);
            let next = self.outcomes.lock().unwrap().remove(0);
            next.map(|text| Completion {
                message: ChatMessage::assistant(text),
                usage: Usage::default(),
                finish: FinishReason::Stop,
                served_by: String::new(),
            })
        }
    }

    type Outcomes = Vec<Result<&'static str, ProviderError>>;
    type Log<T> = Arc<Mutex<Vec<T>>>;

    /// A chain of scripted providers, the log of which was called, and the
    /// delays the chain asked to sleep.
    fn chain(
        script: Vec<(&'static str, Outcomes)>,
        policy: RetryPolicy,
    ) -> (Chain, Log<&'static str>, Log<Duration>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let slept = Arc::new(Mutex::new(Vec::new()));
        let providers = script
            .into_iter()
            .map(|(name, outcomes)| {
                Box::new(Scripted {
                    name,
                    outcomes: Mutex::new(outcomes),
                    calls: calls.clone(),
                }) as Box<dyn Provider>
            })
            .collect();
        let slept2 = slept.clone();
        let chain =
            Chain::new(providers, policy).with_sleep(move |d| slept2.lock().unwrap().push(d));
        (chain, calls, slept)
    }

    fn ask(chain: &Chain) -> Result<Completion, ProviderError> {
        let history = [ChatMessage::user("q")];
        chain.complete(&CompletionRequest {
            system: "",
            messages: &history,
            tools: &[],
        })
    }

    #[test]
    fn retry_after_is_waited_exactly_and_backoff_stays_under_the_cap() {
        let limited = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        let (c, calls, slept) = chain(
            vec![(
                "a",
                vec![
                    Err(limited),
                    Err(ProviderError::Server { status: 502 }),
                    Ok("hi"),
                ],
            )],
            RetryPolicy::default(),
        );
        let done = ask(&c).unwrap();
        assert_eq!(
            (done.message.content.as_str(), done.served_by.as_str()),
            ("hi", "a/m")
        );
        assert_eq!(*calls.lock().unwrap(), vec!["a", "a", "a"]);
        let slept = slept.lock().unwrap().clone();
        assert_eq!(slept[0], Duration::from_secs(3));
        assert!(slept[1] >= Duration::from_millis(250) && slept[1] <= Duration::from_millis(500));
    }

    #[test]
    fn retry_after_over_the_cap_falls_back_without_waiting() {
        let limited = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3600)),
        };
        let (c, calls, slept) = chain(
            vec![("a", vec![Err(limited)]), ("b", vec![Ok("from b")])],
            RetryPolicy::default(),
        );
        assert_eq!(ask(&c).unwrap().served_by, "b/m");
        assert_eq!(*calls.lock().unwrap(), vec!["a", "b"]);
        assert!(slept.lock().unwrap().is_empty());
    }

    #[test]
    fn request_errors_stop_the_chain_and_cancel_is_not_retried() {
        let bad = ProviderError::Request {
            status: 400,
            message: "too long".into(),
        };
        let (c, calls, _) = chain(
            vec![("a", vec![Err(bad)]), ("b", vec![Ok("no")])],
            RetryPolicy::default(),
        );
        assert!(matches!(
            ask(&c),
            Err(ProviderError::Request { status: 400, .. })
        ));
        assert_eq!(*calls.lock().unwrap(), vec!["a"]);

        let (c, calls, _) = chain(
            vec![
                ("a", vec![Err(ProviderError::Cancelled)]),
                ("b", vec![Ok("no")]),
            ],
            RetryPolicy::default(),
        );
        assert!(matches!(ask(&c), Err(ProviderError::Cancelled)));
        assert_eq!(*calls.lock().unwrap(), vec!["a"]);
    }

    #[test]
    fn when_everything_fails_the_last_error_is_returned() {
        let policy = RetryPolicy {
            max_retries: 1,
            ..RetryPolicy::default()
        };
        let (c, calls, slept) = chain(
            vec![
                (
                    "a",
                    vec![
                        Err(ProviderError::Transport("refused".into())),
                        Err(ProviderError::Transport("refused".into())),
                    ],
                ),
                (
                    "b",
                    vec![Err(ProviderError::Auth {
                        status: 401,
                        message: "bad key".into(),
                    })],
                ),
            ],
            policy,
        );
        assert!(matches!(
            ask(&c),
            Err(ProviderError::Auth { status: 401, .. })
        ));
        assert_eq!(*calls.lock().unwrap(), vec!["a", "a", "b"]);
        assert_eq!(slept.lock().unwrap().len(), 1);
    }

    fn refused() -> ProviderError {
        ProviderError::Unreachable {
            url: "http://127.0.0.1:11434/v1".into(),
            reason: "connection refused".into(),
            hint: "start Ollama".into(),
        }
    }

    #[test]
    fn an_unreachable_provider_is_retried_once_then_tried_once_per_request_until_it_answers() {
        let policy = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let (c, calls, slept) = chain(
            vec![(
                "a",
                vec![
                    Err(refused()),
                    Err(refused()),
                    Err(refused()),
                    Err(refused()),
                    Err(refused()),
                    Ok("back"),
                    Err(refused()),
                    Err(refused()),
                    Err(refused()),
                ],
            )],
            policy,
        );
        assert!(matches!(ask(&c), Err(ProviderError::Unreachable { .. })));
        assert_eq!(
            calls.lock().unwrap().len(),
            3,
            "first request: full retries"
        );
        assert!(matches!(ask(&c), Err(ProviderError::Unreachable { .. })));
        assert!(matches!(ask(&c), Err(ProviderError::Unreachable { .. })));
        assert_eq!(calls.lock().unwrap().len(), 5, "then one attempt each");
        assert_eq!(slept.lock().unwrap().len(), 2, "and no waiting");
        assert_eq!(ask(&c).unwrap().message.content, "back");
        // Answered once: the next failure gets its retries again.
        assert!(ask(&c).is_err());
        assert_eq!(calls.lock().unwrap().len(), 9);
    }

    #[test]
    fn an_empty_chain_is_a_configuration_error() {
        assert!(matches!(
            build(&[], RetryPolicy::default()),
            Err(ProviderError::Request { status: 0, .. })
        ));
        let (c, _, _) = chain(vec![], RetryPolicy::default());
        assert!(matches!(
            ask(&c),
            Err(ProviderError::Request { status: 0, .. })
        ));
    }
}
