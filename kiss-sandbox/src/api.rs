//! The API's own endpoints, answered exactly as the reference documents them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use futures_util::stream;
use serde_json::json;

use crate::catalogue::EPOCH_SECS;
use crate::rate_limit::{Bucket, Limited};
use crate::state::SandboxState;
use crate::tokens::TokenRejection;
use kiss_schema::Endpoint;

type AppState = Arc<SandboxState>;

/// The largest token request body read; more is refused as `invalid_request`.
const MAX_TOKEN_BODY: usize = 16 * 1024;
/// Records are written into chunks of about this size as the body streams.
const CHUNK_TARGET: usize = 64 * 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/token", only(Method::POST, post(token)))
        .route("/products", only(Method::GET, get(products)))
        .route("/stock", only(Method::GET, get(stock)))
        .route("/prices", only(Method::GET, get(prices)))
        .route("/products/schema", only(Method::GET, get(products_schema)))
        .route("/stock/schema", only(Method::GET, get(stock_schema)))
        .route("/api/version", only(Method::GET, get(api_version)))
        .route("/health", only(Method::GET, get(health)))
}

/// A wrong method gets `405` with `Allow` and the standard error body, not axum's empty one.
fn only(allowed: Method, router: MethodRouter<AppState>) -> MethodRouter<AppState> {
    router.fallback(move |method: Method, request: Request| async move {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "Method {method} is not allowed on {}; use {allowed}.",
                request.uri().path()
            ),
        );
        if let Ok(value) = HeaderValue::from_str(allowed.as_str()) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    })
}

pub(crate) async fn not_found(request: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!(
            "No endpoint at {}. The API serves /auth/token, /products, /products/schema, /stock, \
             /stock/schema, /prices, /api/version and /health.",
            request.uri().path()
        ),
    )
}

/// The standard error body: `{"error": "<message>"}`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut response = (
        status,
        axum::Json(json!({ "error": code, "error_description": description })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `429` as documented: headers for both windows' shape and a `message` body.
pub(crate) fn too_many_requests(limited: &Limited) -> Response {
    let body = json!({
        "message": format!(
            "API calls quota exceeded! maximum admitted {} per {}.",
            limited.limit, limited.window
        )
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("retry-after", limited.retry_after_secs.to_string());
    set("x-rate-limit-limit", limited.window.to_owned());
    set("x-rate-limit-remaining", "0".to_owned());
    set(
        "x-rate-limit-reset",
        limited
            .reset
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    response
}

fn invalid_token() -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// What the `Authorization` header says, before the rate limiter and the auth check.
enum Caller {
    /// A valid token of this customer.
    Customer(String),
    /// A token that is not (or no longer) valid, and whom it names, if anyone.
    Rejected(Option<String>),
    /// No `Authorization` header.
    Anonymous,
}

impl Caller {
    fn from_headers(state: &SandboxState, headers: &HeaderMap) -> Caller {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Caller::Anonymous;
        };
        let token = value.to_str().ok().and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        let Some(token) = token else {
            return Caller::Rejected(None);
        };
        match state.tokens.verify(token, state.clock.now()) {
            Ok(claims) => Caller::Customer(claims.sub),
            Err(TokenRejection::Invalid) => Caller::Rejected(None),
            Err(TokenRejection::Expired { customer } | TokenRejection::Revoked { customer }) => {
                Caller::Rejected(Some(customer))
            }
        }
    }

    fn bucket(&self) -> Bucket {
        match self {
            Caller::Customer(code) | Caller::Rejected(Some(code)) => Bucket::Customer(code.clone()),
            Caller::Rejected(None) | Caller::Anonymous => Bucket::Anonymous,
        }
    }
}

/// Counts the request against its bucket and checks the token; the customer code on success.
#[allow(clippy::result_large_err)]
fn authorize(state: &SandboxState, headers: &HeaderMap) -> Result<String, Response> {
    let caller = Caller::from_headers(state, headers);
    state
        .rate_limiter
        .admit(&caller.bucket(), state.clock.now())
        .map_err(|limited| too_many_requests(&limited))?;
    match caller {
        Caller::Customer(code) if state.customer(&code).is_some() => Ok(code),
        _ => Err(invalid_token()),
    }
}

/// For the metered endpoints that need no token: a valid token counts against its customer,
/// anything else against the anonymous bucket.
#[allow(clippy::result_large_err)]
fn meter_open_endpoint(state: &SandboxState, headers: &HeaderMap) -> Result<(), Response> {
    let bucket = match Caller::from_headers(state, headers) {
        Caller::Customer(code) => Bucket::Customer(code),
        _ => Bucket::Anonymous,
    };
    state
        .rate_limiter
        .admit(&bucket, state.clock.now())
        .map_err(|limited| too_many_requests(&limited))
}

async fn token(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    let body = axum::body::to_bytes(body, MAX_TOKEN_BODY).await;
    let form: Option<Vec<(String, String)>> = body
        .as_ref()
        .ok()
        .and_then(|bytes| serde_urlencoded::from_bytes(bytes).ok());
    let params: HashMap<&str, &str> = form
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let client_id = params.get("client_id").copied();
    let bucket = match client_id.and_then(|id| state.customer(id)) {
        Some(customer) => Bucket::Customer(customer.code.clone()),
        None => Bucket::Anonymous,
    };
    if let Err(limited) = state.rate_limiter.admit(&bucket, state.clock.now()) {
        return too_many_requests(&limited);
    }
    let invalid_request =
        |description: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description);
    if !form_type {
        return invalid_request(
            "The token request must be sent as application/x-www-form-urlencoded.",
        );
    }
    if body.is_err() {
        return invalid_request("The token request body is larger than 16 KiB.");
    }
    let Some(form) = &form else {
        return invalid_request("The token request body is not valid form encoding.");
    };
    let mut seen = std::collections::HashSet::new();
    if let Some((name, _)) = form.iter().find(|(k, _)| !seen.insert(k.as_str())) {
        return invalid_request(&format!("The parameter {name} is repeated."));
    }
    let Some(grant_type) = params.get("grant_type") else {
        return invalid_request("The grant_type parameter is missing; use client_credentials.");
    };
    if *grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only the client_credentials grant type is supported.",
        );
    }
    let (Some(client_id), Some(secret)) = (client_id, params.get("client_secret")) else {
        return invalid_request(
            "The client_id (Customer Code) and client_secret (API Key) parameters are required.",
        );
    };
    let authenticated = state.customer(client_id).filter(|c| {
        // Compare in constant time so the sandbox does not teach timing attacks.
        c.api_key.len() == secret.len()
            && c.api_key
                .bytes()
                .zip(secret.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    let Some(customer) = authenticated else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The Customer Code or API Key is not valid.",
        );
    };
    let token = state
        .tokens
        .issue(&customer.code, state.clock.now(), state.token_ttl_secs);
    let mut response = axum::Json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: state.token_ttl_secs,
    })
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The token response, in the documented key order.
#[derive(serde::Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

async fn products(State(state): State<AppState>, headers: HeaderMap) -> Response {
    data(state, &headers, Endpoint::Products)
}

async fn stock(State(state): State<AppState>, headers: HeaderMap) -> Response {
    data(state, &headers, Endpoint::Stock)
}

async fn prices(State(state): State<AppState>, headers: HeaderMap) -> Response {
    data(state, &headers, Endpoint::Prices)
}

fn json_content_type() -> HeaderValue {
    HeaderValue::from_static("application/json; charset=utf-8")
}

/// Streams the whole data set as one JSON array, generated chunk by chunk.
fn data(state: AppState, headers: &HeaderMap, endpoint: Endpoint) -> Response {
    let customer = match authorize(&state, headers) {
        Ok(customer) => customer,
        Err(response) => return response,
    };
    if state.customer(&customer).is_some_and(|c| c.missing) {
        return error(StatusCode::NOT_FOUND, "Customer not found.");
    }
    let profile = state.profile();
    // One moment of the world for the whole body: the clock may move while it streams.
    let epoch = state.clock.offset().as_secs() / EPOCH_SECS;
    let overrides = state.overrides(endpoint);
    let total = state.catalogue.slots();
    let chunks = stream::unfold(Some((0usize, true)), move |next| {
        let state = state.clone();
        let profile = profile.clone();
        let overrides = overrides.clone();
        async move {
            let (mut index, mut first) = next?;
            let mut chunk = Vec::with_capacity(CHUNK_TARGET + 4096);
            if index == 0 {
                chunk.push(b'[');
            }
            let schema = &profile.schema(endpoint).document;
            while index < total && chunk.len() < CHUNK_TARGET {
                if state.catalogue.is_listed(index, epoch) {
                    if !first {
                        chunk.push(b',');
                    }
                    first = false;
                    let set = overrides
                        .get(&state.catalogue.sku(index))
                        .map_or(&[][..], Vec::as_slice);
                    state
                        .catalogue
                        .write_record_at(endpoint, schema, index, epoch, set, &mut chunk);
                }
                index += 1;
            }
            let next = if index == total {
                chunk.push(b']');
                None
            } else {
                Some((index, first))
            };
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(chunk)), next))
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, json_content_type());
    response
}

async fn products_schema(State(state): State<AppState>, headers: HeaderMap) -> Response {
    schema(&state, &headers, Endpoint::Products)
}

async fn stock_schema(State(state): State<AppState>, headers: HeaderMap) -> Response {
    schema(&state, &headers, Endpoint::Stock)
}

fn schema(state: &SandboxState, headers: &HeaderMap, endpoint: Endpoint) -> Response {
    if let Err(response) = authorize(state, headers) {
        return response;
    }
    let body = state.profile().schema(endpoint).body.clone();
    ([(header::CONTENT_TYPE, json_content_type())], body).into_response()
}

async fn api_version(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(response) = meter_open_endpoint(&state, &headers) {
        return response;
    }
    axum::Json(json!({ "apiVersion": state.profile().api_version() })).into_response()
}

async fn health(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(response) = meter_open_endpoint(&state, &headers) {
        return response;
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        "Healthy",
    )
        .into_response()
}
