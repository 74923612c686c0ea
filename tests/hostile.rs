//! Small hostile HTTP servers on 127.0.0.1 for tests: each answers every request with what
//! the test says (any status, headers and bytes, redirects included) and records what it was
//! sent, so a test can check that nothing reached a host it should not.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET /stock HTTP/1.1`.
    pub request_line: String,
    /// The body, as text.
    pub body: String,
}

/// A server answering each request with what `answer` returns for its request line; it
/// records every request. Returns its base URL and the record.
pub async fn server<A: Into<Vec<u8>>>(
    answer: impl Fn(&str) -> A + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (record, answer) = (record.clone(), answer.clone());
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as much body as Content-Length says.
                let (head, mut body) = loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                        break (head, buffer[end + 4..].to_vec());
                    }
                };
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length: ")
                            .or(l.strip_prefix("Content-Length: "))
                    })
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                while body.len() < length {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
                let request_line = head.lines().next().unwrap_or("").to_owned();
                record.lock().unwrap().push(Seen {
                    request_line: request_line.clone(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let _ = socket.write_all(&answer(&request_line).into()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (base, seen)
}

/// A whole HTTP/1.1 answer: status line, `headers` (each ending in CRLF), then `body`.
pub fn response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

/// A whole HTTP/1.1 answer with a binary body (compressed, say).
pub fn response_bytes(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

/// A whole API in one call, for the data a test wants served: a bearer token from
/// `/auth/token`, `schema` at `{endpoint}/schema`, and `body` for anything else.
pub async fn api(endpoint: &'static str, schema: &'static str, body: impl Into<String>) -> String {
    let body = body.into();
    let schema_line = format!("GET {endpoint}/schema ");
    let (base, _) = server(move |line| {
        if line.starts_with("POST /auth/token") {
            response(
                "200 OK",
                "",
                r#"{"access_token":"t","token_type":"Bearer","expires_in":3600}"#,
            )
        } else if line.starts_with(&schema_line) {
            response("200 OK", "", schema)
        } else {
            response("200 OK", "", &body)
        }
    })
    .await;
    base
}
