//! The HTTP server: routing, fault injection, the control plane and the accept loop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post, put};
use axum::{Json, Router};
use futures_util::{stream, StreamExt, TryStreamExt};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::api;
use crate::faults::{Fault, MALFORMED_JSON};
use crate::profile::{ProfileError, ServedSchema};
use crate::rate_limit::Limited;
use crate::state::{SandboxControl, SandboxState};
use kiss_schema::Endpoint;

type AppState = Arc<SandboxState>;

/// Per-connection handle that lets a handler ask for the connection to be reset.
#[derive(Clone)]
struct ConnectionControl {
    reset: Arc<AtomicBool>,
}

/// The peer of the connection a request came on.
#[derive(Clone, Copy)]
struct PeerAddr(SocketAddr);

pub(crate) fn router(state: AppState) -> Router {
    let api = api::routes()
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            faults_and_counters,
        ));
    Router::new()
        .nest("/_sandbox", control_routes())
        .merge(api)
        .layer(middleware::from_fn_with_state(state.clone(), body_deadline))
        .with_state(state)
}

/// The most a request body may hold: the largest is a control-plane profile (three schema
/// documents); the API's own requests are tiny.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// Reads the whole request body within the configured deadline and size, before any handler
/// runs: a client that sends headers and then trickles or stalls is answered `408` and its
/// connection closed, instead of holding the connection (and memory) forever.
async fn body_deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, MAX_REQUEST_BODY);
    let (status, message) = match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(bytes)) => {
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large or broken.",
        ),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            "The request body did not arrive in time.",
        ),
    };
    let mut response = api::error(status, message);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Counts every request by path, then applies the next queued fault for that path, if any.
async fn faults_and_counters(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    state.count_request(&path);
    let Some(fault) = state.faults.pop(&path) else {
        return next.run(request).await;
    };
    tracing::debug!(?fault, %path, "applying queued fault");
    match fault {
        Fault::Status { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            api::error(
                status,
                "Sandbox fault: the server failed to answer this request.",
            )
        }
        Fault::RateLimited { retry_after_secs } => {
            let retry = i64::try_from(retry_after_secs).unwrap_or(i64::MAX / 2);
            api::too_many_requests(&Limited {
                window: "1m",
                limit: 60,
                reset: state.clock.now() + chrono::TimeDelta::seconds(retry),
                retry_after_secs: retry,
            })
        }
        Fault::MalformedJson => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            MALFORMED_JSON,
        )
            .into_response(),
        Fault::DelayHeaders { millis } => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(request).await
        }
        Fault::ConnectionReset => {
            if let Some(connection) = request.extensions().get::<ConnectionControl>() {
                connection.reset.store(true, Ordering::SeqCst);
            }
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Fault::TruncatedBody { after_bytes } => {
            let response = next.run(request).await;
            let (mut parts, body) = response.into_parts();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from_stream(truncate(body, after_bytes)))
        }
        Fault::SlowBody { bytes_per_sec } => {
            let response = next.run(request).await;
            let (mut parts, body) = response.into_parts();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from_stream(throttle(body, bytes_per_sec)))
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sandbox fault: body cut off")]
struct CutOff;

/// The body's bytes up to the cut, then an error, which makes hyper abort the connection
/// instead of finishing the chunked body.
fn truncate(
    body: Body,
    after_bytes: Option<usize>,
) -> impl futures_util::Stream<Item = Result<Bytes, axum::BoxError>> {
    let sent = stream::unfold(
        (Some(body.into_data_stream()), after_bytes),
        |(chunks, remaining)| async move {
            let mut chunks = chunks?;
            let chunk = match chunks.next().await? {
                Ok(chunk) => chunk,
                Err(e) => return Some((Err(axum::BoxError::from(e)), (None, remaining))),
            };
            let budget = remaining.unwrap_or(chunk.len() / 2);
            if chunk.len() < budget {
                let left = budget - chunk.len();
                Some((Ok(chunk), (Some(chunks), Some(left))))
            } else {
                Some((Ok(chunk.slice(..budget)), (None, Some(0))))
            }
        },
    );
    // hyper polls the body until it is pending before it flushes; yielding once lets the
    // bytes already sent reach the socket before the error aborts the connection.
    sent.chain(stream::once(async {
        tokio::task::yield_now().await;
        Err(axum::BoxError::from(CutOff))
    }))
}

/// The body re-chunked into twentieths of a second's worth of bytes, one every 50 ms.
fn throttle(
    body: Body,
    bytes_per_sec: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, axum::BoxError>> {
    let piece = usize::try_from((bytes_per_sec / 20).max(1)).unwrap_or(usize::MAX);
    body.into_data_stream()
        .map_err(axum::BoxError::from)
        .map_ok(move |chunk| {
            let pieces: Vec<Bytes> = (0..chunk.len())
                .step_by(piece)
                .map(|start| chunk.slice(start..(start + piece).min(chunk.len())))
                .collect();
            stream::iter(pieces).then(|piece| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, axum::BoxError>(piece)
            })
        })
        .try_flatten()
}

// ---- control plane ----------------------------------------------------------------------

fn control_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/counters",
            axum::routing::get(get_counters).delete(reset_counters),
        )
        .route("/tokens/revoke", post(revoke_tokens))
        .route("/faults", post(queue_fault).delete(clear_faults))
        .route("/profile", put(set_profile).delete(reset_profile))
        .route("/clock/advance", post(advance_clock))
        .route("/records/{endpoint}/{sku}", put(set_fields))
        .route("/records", delete(clear_fields))
        .route(
            "/rate-limits",
            axum::routing::get(get_rate_limits).delete(reset_rate_limits),
        )
        .fallback(|| async {
            api::error(
                StatusCode::NOT_FOUND,
                "No such control endpoint. See the kiss-sandbox documentation for /_sandbox/.",
            )
        })
        .layer(middleware::from_fn(loopback_only))
}

/// The control plane changes what every client sees; only this machine may use it.
async fn loopback_only(request: Request, next: Next) -> Response {
    let from_loopback = request
        .extensions()
        .get::<PeerAddr>()
        .is_some_and(|peer| peer.0.ip().is_loopback());
    if from_loopback {
        next.run(request).await
    } else {
        api::error(
            StatusCode::FORBIDDEN,
            "The sandbox control plane only answers requests from loopback.",
        )
    }
}

fn control(state: &AppState) -> SandboxControl {
    SandboxControl {
        state: state.clone(),
    }
}

async fn get_counters(State(state): State<AppState>) -> Response {
    Json(control(&state).counters()).into_response()
}

async fn reset_counters(State(state): State<AppState>) -> StatusCode {
    control(&state).reset_counters();
    StatusCode::NO_CONTENT
}

async fn revoke_tokens(State(state): State<AppState>) -> StatusCode {
    control(&state).revoke_tokens();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct QueueFault {
    path: String,
    fault: Fault,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

fn bad_control_request(message: String) -> Response {
    api::error(StatusCode::BAD_REQUEST, &message)
}

async fn queue_fault(State(state): State<AppState>, body: Bytes) -> Response {
    let request: QueueFault = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return bad_control_request(format!(
            "expected {{\"path\": \"/products\", \"fault\": {{\"kind\": ...}}, \"count\": 1}}: {e}"
        ))
        }
    };
    match control(&state).queue_fault(&request.path, request.fault, request.count) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(message) => bad_control_request(message),
    }
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    control(&state).clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct SetProfile {
    products: Option<Box<RawValue>>,
    stock: Option<Box<RawValue>>,
    prices: Option<Box<RawValue>>,
}

async fn set_profile(State(state): State<AppState>, body: Bytes) -> Response {
    let request: SetProfile = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return bad_control_request(format!(
                "expected {{\"products\": <schema document>, \"stock\": ..., \"prices\": ...}} \
                 (each optional): {e}"
            ))
        }
    };
    let control = control(&state);
    let mut profile = control.profile();
    let replacements = [
        (Endpoint::Products, request.products),
        (Endpoint::Stock, request.stock),
        (Endpoint::Prices, request.prices),
    ];
    for (endpoint, document) in replacements {
        let Some(document) = document else { continue };
        let text = Bytes::copy_from_slice(document.get().as_bytes());
        let parsed: Result<ServedSchema, ProfileError> =
            ServedSchema::parse(endpoint, text, &format!("the {} schema", endpoint.path()));
        match parsed {
            Ok(served) => *profile.schema_mut(endpoint) = served,
            Err(e) => return bad_control_request(e.to_string()),
        }
    }
    control.set_profile(profile);
    StatusCode::NO_CONTENT.into_response()
}

async fn reset_profile(State(state): State<AppState>) -> StatusCode {
    control(&state).reset_profile();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct AdvanceClock {
    seconds: u64,
}

async fn advance_clock(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<AdvanceClock>(&body) {
        Ok(request) => {
            control(&state).advance_clock(Duration::from_secs(request.seconds));
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_control_request(format!("expected {{\"seconds\": N}}: {e}")),
    }
}

/// `PUT /_sandbox/records/{endpoint}/{sku}` with a JSON object: those fields of that record
/// take those values from now on.
async fn set_fields(
    State(state): State<AppState>,
    axum::extract::Path((endpoint, sku)): axum::extract::Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(endpoint) = kiss_schema::Endpoint::ALL
        .into_iter()
        .find(|e| e.name() == endpoint)
    else {
        return bad_control_request(format!(
            "no endpoint {endpoint:?}: products, stock or prices"
        ));
    };
    // Raw values: a decimal such as 19.9500 keeps its digits.
    let fields = match serde_json::from_slice::<
        std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>,
    >(&body)
    {
        Ok(fields) => fields,
        Err(e) => {
            return bad_control_request(format!(
                "expected a JSON object of wire keys and values: {e}"
            ))
        }
    };
    for (key, value) in fields {
        if let Err(e) = control(&state).set_field(endpoint, &sku, &key, value.get()) {
            return bad_control_request(e);
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_fields(State(state): State<AppState>) -> StatusCode {
    control(&state).clear_fields();
    StatusCode::NO_CONTENT
}

async fn get_rate_limits(State(state): State<AppState>) -> Response {
    Json(serde_json::json!({ "refused": control(&state).rate_limited_count() })).into_response()
}

async fn reset_rate_limits(State(state): State<AppState>) -> StatusCode {
    control(&state).reset_rate_limits();
    StatusCode::NO_CONTENT
}

// ---- accept loop ------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
#[error("connection reset by a sandbox fault")]
struct ResetRequested;

/// Serves connections until `shutdown` fires; open connections are then dropped.
///
/// The loop is ours rather than `axum::serve` because a connection-reset fault needs the
/// socket itself: it sets `SO_LINGER` to zero so closing it sends RST, not FIN.
pub(crate) async fn serve(listener: TcpListener, router: Router, shutdown: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(stream, peer, router.clone()));
    }
    connections.shutdown().await;
}

/// The connection's socket, handed to hyper as its stream. When a connection-reset fault was
/// served, dropping it sets `SO_LINGER` to zero first, so the close sends RST, not FIN. (A
/// wrapper rather than a duplicated descriptor: one descriptor per connection.)
struct Connection {
    stream: tokio::net::TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
    }
}

impl tokio::io::AsyncRead for Connection {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Connection {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, peer: SocketAddr, router: Router) {
    let reset = Arc::new(AtomicBool::new(false));
    let connection = ConnectionControl {
        reset: reset.clone(),
    };
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        let router = router.clone();
        let connection = connection.clone();
        async move {
            request.extensions_mut().insert(connection.clone());
            request.extensions_mut().insert(PeerAddr(peer));
            let response = router
                .oneshot(request.map(Body::new))
                .await
                .unwrap_or_else(|never| match never {});
            if connection.reset.load(Ordering::SeqCst) {
                return Err(ResetRequested);
            }
            Ok(response)
        }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(Connection { stream, reset }), service)
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SandboxConfig;

    async fn call(peer: &str, method: &str, path: &str) -> StatusCode {
        let state = Arc::new(SandboxState::new(SandboxConfig::default()));
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(PeerAddr(peer.parse().unwrap()));
        router(state).oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn the_control_plane_answers_only_loopback_peers() {
        assert_eq!(
            call("127.0.0.1:5000", "GET", "/_sandbox/counters").await,
            StatusCode::OK
        );
        assert_eq!(
            call("[::1]:5000", "GET", "/_sandbox/counters").await,
            StatusCode::OK
        );
        for peer in ["192.0.2.10:5000", "[2001:db8::1]:5000"] {
            assert_eq!(
                call(peer, "GET", "/_sandbox/counters").await,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                call(peer, "POST", "/_sandbox/tokens/revoke").await,
                StatusCode::FORBIDDEN
            );
        }
        // The API itself answers anyone.
        assert_eq!(
            call("192.0.2.10:5000", "GET", "/health").await,
            StatusCode::OK
        );
    }
}
