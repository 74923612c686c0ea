//! Access tokens: real HS256-signed JWTs with an expiry, checked against the sandbox clock.
//!
//! Each sandbox signs with its own random key, so a token from another sandbox (or forged) is
//! rejected. Revocation bumps a generation number that every token carries.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// What a sandbox token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The Customer Code.
    pub sub: String,
    pub iss: String,
    pub iat: i64,
    /// The standard expiry, in whole seconds (rounded down), for readers of the JWT.
    pub exp: i64,
    /// The exact expiry in milliseconds, which the sandbox checks: whole seconds would let a
    /// token issued late in a second expire up to a second early.
    pub exp_ms: i64,
    pub jti: String,
    /// The revocation generation the token was issued in.
    pub gen: u64,
}

/// Why a token was refused. Expired and revoked tokens still name their customer, which is who
/// the request is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenRejection {
    /// Not a JWT, or signed with another key or algorithm.
    Invalid,
    /// Past its `exp`.
    Expired { customer: String },
    /// Issued before the last revocation.
    Revoked { customer: String },
}

pub(crate) struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    generation: AtomicU64,
    issued: AtomicU64,
}

// The signing key must not reach logs through a derived Debug.
impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

const ISSUER: &str = "kiss-sandbox";

impl TokenIssuer {
    pub(crate) fn new() -> TokenIssuer {
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        TokenIssuer {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            generation: AtomicU64::new(0),
            issued: AtomicU64::new(0),
        }
    }

    pub(crate) fn issue(&self, customer: &str, now: DateTime<Utc>, ttl_secs: i64) -> String {
        let serial = self.issued.fetch_add(1, Ordering::Relaxed);
        // A lifetime too long for the clock saturates: such a token simply never expires.
        let exp_ms = now
            .timestamp_millis()
            .saturating_add(ttl_secs.saturating_mul(1000));
        let claims = Claims {
            sub: customer.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now.timestamp(),
            exp: exp_ms.div_euclid(1000),
            exp_ms,
            jti: format!("{serial:x}-{:x}", rand::thread_rng().next_u64()),
            gen: self.generation.load(Ordering::SeqCst),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_else(|e| unreachable!("HS256 signing of plain claims cannot fail: {e}"))
    }

    pub(crate) fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenRejection> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked below against the sandbox clock, not the system clock.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[ISSUER]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| TokenRejection::Invalid)?
            .claims;
        if claims.gen < self.generation.load(Ordering::SeqCst) {
            return Err(TokenRejection::Revoked {
                customer: claims.sub,
            });
        }
        if now.timestamp_millis() >= claims.exp_ms {
            return Err(TokenRejection::Expired {
                customer: claims.sub,
            });
        }
        Ok(claims)
    }

    /// Every token issued so far stops working.
    pub(crate) fn revoke_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn issued_tokens_verify_until_expiry_or_revocation() {
        let issuer = TokenIssuer::new();
        let now = Utc::now();
        let token = issuer.issue("ACME01", now, 60);
        assert_eq!(issuer.verify(&token, now).unwrap().sub, "ACME01");
        assert_eq!(
            issuer
                .verify(&token, now + TimeDelta::seconds(60))
                .unwrap_err(),
            TokenRejection::Expired {
                customer: "ACME01".into()
            }
        );
        issuer.revoke_all();
        assert_eq!(
            issuer.verify(&token, now).unwrap_err(),
            TokenRejection::Revoked {
                customer: "ACME01".into()
            }
        );
        let fresh = issuer.issue("ACME01", now, 60);
        assert!(issuer.verify(&fresh, now).is_ok());
    }

    #[test]
    fn a_token_issued_late_in_a_second_lives_its_whole_lifetime() {
        let issuer = TokenIssuer::new();
        // Issued at .997 s: whole-second expiry would end it at 59.003 s of life.
        let issued = DateTime::from_timestamp_millis(1_790_000_000_997).unwrap();
        let token = issuer.issue("ACME01", issued, 60);
        let almost = issued + TimeDelta::milliseconds(59_999);
        assert!(issuer.verify(&token, almost).is_ok());
        let expired = issued + TimeDelta::seconds(60);
        assert!(issuer.verify(&token, expired).is_err());
    }

    #[test]
    fn an_absurd_lifetime_saturates_instead_of_wrapping() {
        let issuer = TokenIssuer::new();
        let now = Utc::now();
        let token = issuer.issue("ACME01", now, i64::MAX);
        let claims = issuer
            .verify(&token, now + TimeDelta::days(365 * 100))
            .unwrap();
        assert!(claims.exp > now.timestamp());
    }

    #[test]
    fn foreign_or_garbage_tokens_are_invalid() {
        let ours = TokenIssuer::new();
        let theirs = TokenIssuer::new();
        let now = Utc::now();
        let foreign = theirs.issue("ACME01", now, 60);
        assert_eq!(
            ours.verify(&foreign, now).unwrap_err(),
            TokenRejection::Invalid
        );
        assert_eq!(
            ours.verify("not.a.jwt", now).unwrap_err(),
            TokenRejection::Invalid
        );
        assert_eq!(ours.verify("", now).unwrap_err(), TokenRejection::Invalid);
    }
}
