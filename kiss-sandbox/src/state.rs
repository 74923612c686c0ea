//! The shared state of a running sandbox, and the control operations tests use on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::catalogue::Catalogue;
use crate::clock::Clock;
use crate::config::{Customer, SandboxConfig};
use crate::faults::{Fault, FaultQueue};
use crate::profile::{Profile, ProfileError, ServedSchema};
use crate::rate_limit::RateLimiter;
use crate::tokens::TokenIssuer;
use kiss_schema::{ArraySchema, Endpoint, FieldSchema};

#[derive(Debug)]
pub(crate) struct SandboxState {
    pub customers: Vec<Customer>,
    pub token_ttl_secs: i64,
    pub catalogue: Catalogue,
    pub clock: Clock,
    pub tokens: TokenIssuer,
    pub rate_limiter: RateLimiter,
    pub body_timeout: Duration,
    pub faults: FaultQueue,
    startup_profile: Profile,
    profile: RwLock<Arc<Profile>>,
    counters: Mutex<BTreeMap<String, u64>>,
    /// Fields set by the control plane: per endpoint, per SKU, wire key and JSON text.
    overrides: RwLock<HashMap<Endpoint, Arc<Overrides>>>,
}

/// Fields the control plane set on records of one endpoint: SKU → (wire key, JSON text).
pub(crate) type Overrides = HashMap<String, Vec<(String, String)>>;

impl SandboxState {
    pub(crate) fn new(config: SandboxConfig) -> SandboxState {
        SandboxState {
            customers: config.customers,
            token_ttl_secs: i64::try_from(config.token_ttl.as_secs()).unwrap_or(i64::MAX / 2),
            catalogue: Catalogue::new(config.products, config.seed),
            clock: Clock::scaled(config.time_scale),
            tokens: TokenIssuer::new(),
            rate_limiter: RateLimiter::new(config.rate_limit),
            body_timeout: config.body_timeout,
            faults: FaultQueue::default(),
            profile: RwLock::new(Arc::new(config.profile.clone())),
            startup_profile: config.profile,
            counters: Mutex::new(BTreeMap::new()),
            overrides: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn customer(&self, code: &str) -> Option<&Customer> {
        self.customers.iter().find(|c| c.code == code)
    }

    pub(crate) fn profile(&self) -> Arc<Profile> {
        self.profile
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The fields set on records of `endpoint` (a snapshot: a body in flight keeps its own).
    pub(crate) fn overrides(&self, endpoint: Endpoint) -> Arc<Overrides> {
        self.overrides
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&endpoint)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn count_request(&self, path: &str) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *counters.entry(path.to_owned()).or_insert(0) += 1;
    }
}

/// Control of a running sandbox from the same process: what the `/_sandbox/` control plane
/// does over HTTP.
#[derive(Debug, Clone)]
pub struct SandboxControl {
    pub(crate) state: Arc<SandboxState>,
}

impl SandboxControl {
    /// Serves `profile` from now on (requests already streaming finish with the old one).
    pub fn set_profile(&self, profile: Profile) {
        *self
            .state
            .profile
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(profile);
    }

    /// Serves `text` as the schema of `endpoint` from now on, the rest of the profile unchanged:
    /// "a field was added without a profile bump" in one call.
    ///
    /// # Errors
    /// When `text` is not a schema document of that endpoint.
    pub fn set_schema(
        &self,
        endpoint: Endpoint,
        text: impl Into<bytes::Bytes>,
    ) -> Result<(), ProfileError> {
        let served =
            ServedSchema::parse(endpoint, text, &format!("the {} schema", endpoint.path()))?;
        let mut profile = self.profile();
        *profile.schema_mut(endpoint) = served;
        self.set_profile(profile);
        Ok(())
    }

    /// The profile being served.
    pub fn profile(&self) -> Profile {
        (*self.state.profile()).clone()
    }

    /// Serves the profile the sandbox started with again.
    pub fn reset_profile(&self) {
        self.set_profile(self.state.startup_profile.clone());
    }

    /// Grows the served schema of `endpoint` by one field, the rest of the profile unchanged:
    /// "the API added a field without a profile bump" in one call. `array` names the nested
    /// array to add it to (schema name or wire key; a new array is created when none has that
    /// name), or `None` for a top-level field.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use kiss_sandbox::{Endpoint, Sandbox, SandboxConfig};
    /// use kiss_schema::{FieldSchema, FieldType};
    /// let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    /// let eco = FieldSchema::new("eCOScore", FieldType::Decimal, false);
    /// sandbox.control().add_field(Endpoint::Products, None, eco)?;
    /// let served = sandbox.control().profile().products.document;
    /// assert_eq!(served.fields.last().map(|f| f.wire_key.as_str()), Some("ECOScore"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// Never for documents this sandbox serves; the error type is [`SandboxControl::set_schema`]'s.
    pub fn add_field(
        &self,
        endpoint: Endpoint,
        array: Option<&str>,
        field: FieldSchema,
    ) -> Result<(), ProfileError> {
        let mut document = self.profile().schema(endpoint).document.clone();
        match array {
            None => document.fields.push(field),
            Some(name) => match document.arrays.iter_mut().find(|a| a.matches_key(name)) {
                Some(existing) => existing.fields.push(field),
                None => document.arrays.push(ArraySchema::new(name, vec![field])),
            },
        }
        self.set_schema(endpoint, document.to_pretty_json())
    }

    /// A valid access token for the customer `code`, issued in process: no request is made or
    /// counted. `None` when the sandbox knows no such customer.
    pub fn issue_token(&self, code: &str) -> Option<String> {
        let customer = self.state.customer(code)?;
        Some(self.state.tokens.issue(
            &customer.code,
            self.state.clock.now(),
            self.state.token_ttl_secs,
        ))
    }

    /// Every token issued so far is refused from now on.
    pub fn revoke_tokens(&self) {
        self.state.tokens.revoke_all();
    }

    /// The next `count` requests to `path` (such as `/products`) get `fault`.
    ///
    /// # Errors
    /// When the fault's parameters make no sense (a status outside 400–599, a rate of 0).
    pub fn queue_fault(&self, path: &str, fault: Fault, count: usize) -> Result<(), String> {
        fault.validate()?;
        self.state.faults.push(path, fault, count);
        Ok(())
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Requests received per path, every method and outcome included.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.state
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests received on one path.
    pub fn request_count(&self, path: &str) -> u64 {
        self.counters().get(path).copied().unwrap_or(0)
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        self.state
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Sets one field of the record with this SKU on `endpoint` to `value` (JSON), from now on
    /// and whatever the clock: in place of the generated value, or added when the schema does
    /// not list the key (an unknown field). An error when `value` is not JSON.
    pub fn set_field(
        &self,
        endpoint: Endpoint,
        sku: &str,
        wire_key: &str,
        value: &str,
    ) -> Result<(), String> {
        let value = serde_json::from_str::<Box<serde_json::value::RawValue>>(value)
            .map_err(|e| format!("the value of {wire_key} is not JSON: {e}"))?;
        let mut all = self
            .state
            .overrides
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let mut endpoint_overrides = all
            .get(&endpoint)
            .map(|o| (**o).clone())
            .unwrap_or_default();
        let fields = endpoint_overrides.entry(sku.to_owned()).or_default();
        match fields.iter_mut().find(|(k, _)| k == wire_key) {
            Some(field) => field.1 = value.get().to_owned(),
            None => fields.push((wire_key.to_owned(), value.get().to_owned())),
        }
        all.insert(endpoint, Arc::new(endpoint_overrides));
        Ok(())
    }

    /// Forgets every field set with [`SandboxControl::set_field`].
    pub fn clear_fields(&self) {
        self.state
            .overrides
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Moves the sandbox clock forward: tokens expire and rate windows end as if that much
    /// time had passed, and the catalogue moves on by one state every
    /// [`EPOCH_SECS`](crate::EPOCH_SECS) (stock, some prices, products leaving and launching).
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by);
    }

    /// How many requests the rate limits have refused with a `429` (faults not included).
    pub fn rate_limited_count(&self) -> u64 {
        self.state.rate_limiter.refused()
    }

    /// Forgets every rate-limit count.
    pub fn reset_rate_limits(&self) {
        self.state.rate_limiter.reset();
    }
}
