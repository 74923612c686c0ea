//! What every example starts with: a client for your deployment when `KISS_BASE_URL`,
//! `KISS_CUSTOMER_CODE` and `KISS_API_KEY` are set, otherwise a sandbox started in this
//! process (sample data), which the example says.
#![allow(dead_code)] // each example uses what it needs

use kiss::{Client, ClientBuilder};
use kiss_sandbox::{
    Sandbox, SandboxConfig, SandboxControl, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE,
};

/// A client, and the in-process sandbox it talks to when no deployment was configured.
pub struct Connection {
    pub client: Client,
    sandbox: Option<Sandbox>,
}

impl Connection {
    /// The sandbox's control plane, when running against the sandbox: examples use it to stage
    /// what they show (a new field, a `429`), which a real deployment does on its own time.
    pub fn sandbox(&self) -> Option<&SandboxControl> {
        self.sandbox.as_ref().map(Sandbox::control)
    }

    /// A builder for another client of the same deployment (or sandbox), to change settings.
    pub fn builder(&self) -> Result<ClientBuilder, kiss::Error> {
        match &self.sandbox {
            Some(sandbox) => Ok(sandbox_builder(sandbox)),
            None => ClientBuilder::from_env(),
        }
    }
}

fn sandbox_builder(sandbox: &Sandbox) -> ClientBuilder {
    Client::builder()
        .base_url(sandbox.base_url())
        .customer_code(DEFAULT_CUSTOMER_CODE)
        .api_key(DEFAULT_API_KEY)
}

/// Connects to your deployment, or to a sandbox (saying so on stderr).
pub async fn connect() -> Result<Connection, Box<dyn std::error::Error>> {
    if std::env::var_os("KISS_BASE_URL").is_some() {
        return Ok(Connection {
            client: Client::from_env()?,
            sandbox: None,
        });
    }
    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    eprintln!(
        "(no KISS_BASE_URL set: running against a sandbox with sample data at {})",
        sandbox.base_url()
    );
    let client = sandbox_builder(&sandbox).build()?;
    Ok(Connection {
        client,
        sandbox: Some(sandbox),
    })
}
