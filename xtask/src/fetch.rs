//! A minimal fetch of what regen needs from a deployment: the profile, the schema documents
//! and a sample of data. (To be replaced by kiss-client once it exists.)

use std::fmt;

use thiserror::Error;

/// Where and as whom to fetch. The API Key never reaches `Debug`.
pub struct Deployment {
    pub base_url: String,
    pub customer_code: String,
    pub api_key: String,
}

impl fmt::Debug for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deployment")
            .field("base_url", &self.base_url)
            .field("customer_code", &self.customer_code)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("{url}: {source} (is the deployment reachable?)")]
    Transport { url: String, source: reqwest::Error },
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} did not answer the JSON expected: {reason}")]
    Body { url: String, reason: String },
}

/// What regen reads from a deployment.
pub struct Fetched {
    pub profile: String,
    pub products_schema: Vec<u8>,
    pub stock_schema: Vec<u8>,
    /// `(endpoint, body)` of each data endpoint, for the wire-key check.
    pub data: Vec<(&'static str, Vec<u8>)>,
}

pub async fn fetch(deployment: &Deployment) -> Result<Fetched, FetchError> {
    let http = reqwest::Client::builder()
        .user_agent(concat!("kiss-rs-xtask/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| FetchError::Transport {
            url: deployment.base_url.clone(),
            source,
        })?;
    let base = deployment.base_url.trim_end_matches('/');
    let token_url = format!("{base}/auth/token");
    let response = http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", deployment.customer_code.as_str()),
            ("client_secret", deployment.api_key.as_str()),
        ])
        .send()
        .await
        .map_err(|source| FetchError::Transport {
            url: token_url.clone(),
            source,
        })?;
    let token_body = read(&token_url, response).await?;
    let token: serde_json::Value =
        serde_json::from_slice(&token_body).map_err(|e| FetchError::Body {
            url: token_url.clone(),
            reason: e.to_string(),
        })?;
    let token = token["access_token"]
        .as_str()
        .ok_or_else(|| FetchError::Body {
            url: token_url.clone(),
            reason: "no access_token".into(),
        })?
        .to_owned();
    let get = |path: &'static str| {
        let url = format!("{base}{path}");
        let request = http.get(&url).bearer_auth(&token);
        async move {
            let response = request
                .send()
                .await
                .map_err(|source| FetchError::Transport {
                    url: url.clone(),
                    source,
                })?;
            read(&url, response).await
        }
    };
    let version = get("/api/version").await?;
    let version: serde_json::Value =
        serde_json::from_slice(&version).map_err(|e| FetchError::Body {
            url: format!("{base}/api/version"),
            reason: e.to_string(),
        })?;
    let profile = version["apiVersion"]
        .as_str()
        .ok_or_else(|| FetchError::Body {
            url: format!("{base}/api/version"),
            reason: "no apiVersion".into(),
        })?
        .to_owned();
    let products_schema = get("/products/schema").await?;
    let stock_schema = get("/stock/schema").await?;
    let mut data = Vec::new();
    for path in ["/products", "/stock", "/prices"] {
        data.push((path, get(path).await?));
    }
    Ok(Fetched {
        profile,
        products_schema,
        stock_schema,
        data,
    })
}

async fn read(url: &str, response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|source| FetchError::Transport {
            url: url.to_owned(),
            source,
        })?;
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            body: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
        });
    }
    Ok(bytes.to_vec())
}
