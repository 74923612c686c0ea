//! The one send-with-retry loop that every request goes through: pacing, a token when the
//! request needs one (and one fresh token after a `401`), `429`s waited out as the server
//! asks, `5xx` and transport failures retried with jittered backoff. Callers get the final
//! response, whatever its status, and say what it means for them.

use std::time::Duration;

use rand::Rng;

use crate::client::Client;
use crate::error::Error;
use crate::response::{throttle, transport, Answer, Throttle};

/// Waits at least this long are logged as warnings (what, why, until when), so that a run
/// that seems to hang says why; shorter ones only at debug level.
const LONG_WAIT: Duration = Duration::from_secs(5);

/// When a wait that starts now ends, in UTC, to the second.
fn until(wait: Duration) -> String {
    let end = chrono::Utc::now()
        .checked_add_signed(chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    end.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether a request carries the customer's bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `/auth/token` itself, `/api/version`, `/health`.
    None,
    /// Data and schema endpoints.
    Bearer,
}

impl Client {
    /// Sends the request `build` makes (given the URL and, for [`Auth::Bearer`], the token)
    /// until it gets an answer worth returning. Every request of this crate goes through here,
    /// so pacing, token refresh, `429` and `5xx` handling are the same for all of them.
    pub(crate) async fn send(
        &self,
        path: &str,
        auth: Auth,
        build: impl Fn(&reqwest::Client, String, Option<&str>) -> reqwest::RequestBuilder,
    ) -> Result<Answer, Error> {
        let retry = &self.inner.retry;
        let (mut attempt, mut throttled, mut refreshed) = (0u32, 0u32, false);
        loop {
            attempt = attempt.saturating_add(1);
            let token = match auth {
                Auth::Bearer => Some(self.token().await?),
                Auth::None => None,
            };
            self.pace().await;
            let request = build(
                &self.inner.http,
                self.url(path),
                token.as_ref().map(|(token, _)| token.expose()),
            );
            let response = match request.send().await {
                Ok(response) => response,
                Err(source) => {
                    if attempt >= retry.max_attempts {
                        return Err(transport(path, attempt, source, self.inner.read_timeout));
                    }
                    let wait = self.backoff(attempt);
                    tracing::warn!(
                        %path, attempt, ?wait, until = %until(wait), error = %source,
                        "request failed; retrying"
                    );
                    self.inner.clock.sleep(wait).await;
                    continue;
                }
            };
            let status = response.status().as_u16();
            tracing::debug!(%path, status, attempt, "response");
            match status {
                401 if !refreshed => {
                    if let Some((_, generation)) = token {
                        // Expired early or revoked: one fresh token, one more try.
                        refreshed = true;
                        self.forget_token(generation).await;
                        continue;
                    }
                }
                429 => {
                    let throttle = throttle(response).await;
                    let wait = self
                        .rate_limit_wait(&throttle, throttled)
                        .ok_or_else(|| throttle.clone().into_error())?;
                    throttled = throttled.saturating_add(1);
                    let until = until(wait);
                    match &throttle.retry_after_unreadable {
                        Some(raw) => tracing::warn!(
                            %path, ?wait, %until, window = %throttle.window, retry_after = %raw,
                            "rate limited, and the server's Retry-After is neither seconds nor a date; waiting"
                        ),
                        None => tracing::warn!(
                            %path, ?wait, %until, window = %throttle.window,
                            "rate limited; waiting"
                        ),
                    }
                    self.inner.clock.sleep(wait).await;
                    continue;
                }
                500 | 502 | 503 | 504 if attempt < retry.max_attempts => {
                    let wait = self.backoff(attempt);
                    tracing::warn!(
                        %path, status, attempt, ?wait, until = %until(wait),
                        "server error; retrying"
                    );
                    self.inner.clock.sleep(wait).await;
                    continue;
                }
                _ => {}
            }
            return Ok(Answer {
                response,
                status,
                attempts: attempt,
            });
        }
    }

    async fn pace(&self) {
        let wait = self.inner.pacer.reserve_shared(&*self.inner.clock).await;
        if !wait.is_zero() {
            if wait >= LONG_WAIT {
                tracing::warn!(
                    ?wait,
                    until = %until(wait),
                    "waiting for the quota (the client keeps within both rate windows)"
                );
            } else {
                tracing::debug!(?wait, "pacing to the quota");
            }
            self.inner.clock.sleep(wait).await;
        }
    }

    /// Equal jitter: half of `base_delay × 2^attempt` (capped at `max_delay`) for sure, plus a
    /// random part up to the other half. Clients started together spread out, and each wait is
    /// at least as long as the one before (full jitter could wait less after more failures).
    fn backoff(&self, attempt: u32) -> Duration {
        let retry = &self.inner.retry;
        let ceiling = retry
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(retry.max_delay);
        let half = u64::try_from(ceiling.as_millis() / 2).unwrap_or(u64::MAX / 2);
        Duration::from_millis(half.saturating_add(rand::thread_rng().gen_range(0..=half)))
    }

    /// The wait for the n-th `429` in a row, or `None` when past the ceiling.
    fn rate_limit_wait(&self, throttle: &Throttle, repeat: u32) -> Option<Duration> {
        let retry = &self.inner.retry;
        if repeat >= retry.max_rate_limit_waits || throttle.retry_after > retry.rate_limit_ceiling {
            return None;
        }
        let doubled = throttle
            .retry_after
            .max(Duration::from_secs(1))
            .saturating_mul(1u32 << repeat.min(16));
        let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..=250));
        Some(doubled.min(retry.rate_limit_ceiling) + jitter)
    }
}
