//! The token cache: one token per client, fetched once however many callers ask at once,
//! refreshed a little before it expires, forgotten when the server refuses it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::Rng;
use serde::Deserialize;

use crate::client::{CachedToken, Client};
use crate::error::Error;
use crate::response::{failure, read_document, unexpected};
use crate::retry::Auth;
use crate::secret::Secret;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: String,
}

pub(crate) const TOKEN_PATH: &str = "/auth/token";

impl Client {
    /// The cached token, or a new one: one request however many callers ask at once.
    pub(crate) async fn token(&self) -> Result<(Secret, u64), Error> {
        let mut cached = self.inner.token.lock().await;
        if let Some(token) = &*cached {
            if self.inner.clock.now() < token.refresh_at {
                return Ok((token.token.clone(), token.generation));
            }
        }
        // Boxed: the exchange goes through `send`, which asks here for tokens of other requests.
        let (token, expires_in) = Box::pin(self.fetch_token()).await?;
        let lifetime = Duration::from_secs(expires_in);
        // Refresh a few minutes early, and at a random moment within a window, so that a
        // fleet started together does not refresh in step.
        let margin = (lifetime / 5).min(Duration::from_secs(180));
        let spread =
            u64::try_from((lifetime / 10).min(Duration::from_secs(60)).as_millis()).unwrap_or(0);
        let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..=spread));
        let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.inner.clock.now();
        // `expires_in` comes off the wire: a lifetime too long for the clock is "never".
        let refresh_at = now
            .checked_add(lifetime.saturating_sub(margin + jitter))
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        *cached = Some(CachedToken {
            token: token.clone(),
            refresh_at,
            generation,
        });
        Ok((token, generation))
    }

    /// Drops the cached token if it is still the one that was refused.
    pub(crate) async fn forget_token(&self, generation: u64) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.generation == generation) {
            *cached = None;
        }
    }

    /// The credentials exchange. It goes through the same loop as every request (issuing a
    /// token changes nothing on the server, so it is retried like a GET).
    async fn fetch_token(&self) -> Result<(Secret, u64), Error> {
        let customer_code = self.inner.customer_code.as_str();
        let api_key = self.inner.api_key.expose();
        let deadline = self.inner.document_timeout;
        let answer = self
            .send(TOKEN_PATH, Auth::None, |http, url, _| {
                http.post(url).timeout(deadline).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", customer_code),
                    ("client_secret", api_key),
                ])
            })
            .await?;
        match answer.status {
            200 => {
                let body = read_document(
                    TOKEN_PATH,
                    answer.response,
                    self.inner.max_document_bytes,
                    deadline,
                )
                .await?;
                let token: TokenResponse =
                    serde_json::from_slice(&body).map_err(|e| Error::InvalidBody {
                        path: TOKEN_PATH.to_owned(),
                        detail: format!("token response: {e}"),
                    })?;
                // Only bearer tokens are documented, and only they can be sent as we send them.
                if !token.token_type.eq_ignore_ascii_case("bearer") {
                    return Err(Error::InvalidBody {
                        path: TOKEN_PATH.to_owned(),
                        detail: format!(
                            "the token is of type {:?}, not Bearer, so it cannot be used",
                            token.token_type.chars().take(40).collect::<String>()
                        ),
                    });
                }
                // A token that cannot be a header's value would fail every request as it is
                // built (which looks like a network failure and is retried): refused here,
                // once, as what it is. Its text is never shown.
                let unusable = if token.access_token.is_empty() {
                    Some("an empty access_token")
                } else if !token.access_token.bytes().all(|b| b.is_ascii_graphic()) {
                    Some(
                        "an access_token holding characters that no request header can carry \
                         (spaces, control characters or non-ASCII)",
                    )
                } else {
                    None
                };
                if let Some(what) = unusable {
                    return Err(Error::InvalidBody {
                        path: TOKEN_PATH.to_owned(),
                        detail: format!(
                            "the token endpoint answered 200 with {what}, so it cannot be used; \
                             nothing else was requested (report it to Kiss if it persists)"
                        ),
                    });
                }
                tracing::debug!(expires_in = token.expires_in, "obtained an access token");
                Ok((Secret::new(token.access_token), token.expires_in))
            }
            400 | 401 => {
                let status = answer.status;
                let body = answer.response.bytes().await.unwrap_or_default();
                let oauth: Option<OAuthError> = serde_json::from_slice(&body).ok();
                Err(self.scrubbed(match oauth {
                    Some(e) if e.error == "invalid_client" => Error::InvalidClient,
                    Some(e) if e.error == "unsupported_grant_type" => Error::UnsupportedGrantType,
                    Some(e) => Error::OAuth {
                        code: e.error,
                        description: e.error_description,
                    },
                    None => unexpected(status, TOKEN_PATH, &body),
                }))
            }
            _ => Err(self.scrubbed(failure(TOKEN_PATH, answer).await)),
        }
    }
}
