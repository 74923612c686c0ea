//! A faithful local emulator of the Kiss Customer API: a real HTTP server on loopback.
//!
//! It serves all eight endpoints of the reference with their exact status codes, headers and
//! bodies: OAuth token exchange with signed, expiring JWTs; `401` with
//! `WWW-Authenticate: Bearer error="invalid_token"` for bad tokens; per-customer rate limits on
//! both windows with the documented `429`; a deterministic catalogue (the documentation's own
//! examples first) shaped by the served schema documents, streamed rather than built in memory.
//! Tests drive it through [`SandboxControl`] (in process) or the `/_sandbox/` control plane
//! (over HTTP, loopback only): swap the profile, revoke tokens, queue faults, read request
//! counters, move the clock.
//!
//! It is not a client and has no opinion on how clients behave; it only answers like the API.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kiss_sandbox::{Sandbox, SandboxConfig};
//!
//! let sandbox = Sandbox::start(SandboxConfig::default()).await?;
//! println!("the API is at {}", sandbox.base_url());
//! assert_eq!(sandbox.control().request_count("/auth/token"), 0);
//! sandbox.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod api;
mod catalogue;
#[cfg(feature = "cli")]
mod cli;
mod clock;
mod config;
mod faults;
mod json;
mod profile;
mod rate_limit;
mod server;
mod state;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use catalogue::EPOCH_SECS;
#[cfg(feature = "cli")]
pub use cli::{serve_until_ctrl_c, SandboxArgs};
pub use config::{Customer, RateLimit, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE};
pub use faults::Fault;
pub use profile::{Profile, ProfileError, ServedSchema};
pub use state::SandboxControl;

/// The data endpoints, as every crate of kiss-rs names them.
pub use kiss_schema::Endpoint;

/// A sandbox that could not start.
#[derive(Debug, Error)]
pub enum SandboxError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another process using the port? port 0 picks a free one)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
}

/// A running sandbox. Dropping it stops the server.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    control: SandboxControl,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds `config.addr` and serves in the background of the current tokio runtime.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let addr = config.addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let state = Arc::new(state::SandboxState::new(config));
        let router = server::router(state.clone());
        let (shutdown, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, router, stopped));
        Ok(Sandbox {
            addr,
            control: SandboxControl { state },
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give a client, such as `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Control of the running sandbox (faults, counters, profile, clock, revocation).
    pub fn control(&self) -> &SandboxControl {
        &self.control
    }

    /// Stops accepting, drops open connections, and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
