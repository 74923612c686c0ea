//! The client against small hostile servers of our own on 127.0.0.1: redirects that would
//! carry the API Key or another host's data, and token answers that are not bearer tokens.

use kiss_client::{Client, Error};
use kiss_tests::hostile::{response, response_bytes, server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TOKEN: &str = r#"{"access_token":"t0k3n","token_type":"Bearer","expires_in":3600}"#;
const SECRET_KEY: &str = "the-api-key-that-must-stay-home";

/// A builder for a client of the hostile server at `base`, to adjust before building.
fn builder(base: &str) -> kiss_client::ClientBuilder {
    Client::builder()
        .base_url(base)
        .customer_code("ACME01")
        .api_key(SECRET_KEY)
}

fn client(base: &str) -> Client {
    builder(base).build().unwrap()
}

#[tokio::test]
async fn the_token_request_never_follows_a_redirect_so_the_key_stays_home() {
    let (thief, stolen) = server(|_| response("200 OK", "", TOKEN)).await;
    for status in [
        "307 Temporary Redirect",
        "308 Permanent Redirect",
        "302 Found",
    ] {
        let location = format!("Location: {thief}/auth/token\r\n");
        let (base, _) = server(move |_| response(status, &location, "")).await;
        let err = client(&base).stock().await.unwrap_err();
        assert!(matches!(err, Error::Redirected { .. }), "{status}: {err}");
        assert!(err.to_string().contains("/auth/token"), "{err}");
        assert!(!err.to_string().contains(SECRET_KEY));
    }
    assert!(
        stolen.lock().unwrap().is_empty(),
        "the key reached another host"
    );
}

#[tokio::test]
async fn a_cross_origin_redirect_of_data_is_an_error_not_another_hosts_data() {
    let (other, asked) = server(|_| response("200 OK", "", r#"[{"SKU":"NOT-YOURS"}]"#)).await;
    let location = format!("Location: {other}/stock\r\n");
    let (base, _) = server(move |line| {
        if line.starts_with("POST /auth/token") {
            response("200 OK", "", TOKEN)
        } else {
            response("302 Found", &location, "")
        }
    })
    .await;
    let err = client(&base).stock().await.unwrap_err();
    assert!(
        matches!(&err, Error::Redirected { path, .. } if path == "/stock"),
        "{err}"
    );
    assert!(asked.lock().unwrap().is_empty(), "another host was asked");
}

#[tokio::test]
async fn a_same_origin_redirect_is_followed() {
    let (base, seen) = server(|line| {
        if line.starts_with("POST /auth/token") {
            response("200 OK", "", TOKEN)
        } else if line.starts_with("GET /stock ") {
            response("302 Found", "Location: /v2/stock\r\n", "")
        } else {
            response("200 OK", "", r#"[{"SKU":"A","AvailableQTY":1}]"#)
        }
    })
    .await;
    let stock = client(&base).stock().await.unwrap();
    assert_eq!(stock[0].sku, "A");
    let lines: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.request_line.clone())
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("GET /v2/stock ")),
        "{lines:?}"
    );
    // The key went to the token endpoint only, once.
    let with_key = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.body.contains(SECRET_KEY))
        .count();
    assert_eq!(with_key, 1);
}

#[tokio::test]
async fn a_token_that_is_not_a_bearer_token_is_a_clear_error() {
    let (base, seen) = server(|_| {
        response(
            "200 OK",
            "",
            r#"{"access_token":"t","token_type":"MAC","expires_in":3600}"#,
        )
    })
    .await;
    let err = client(&base).stock().await.unwrap_err();
    assert!(err.to_string().contains("not Bearer"), "{err}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "no data request with an unusable token"
    );
    // Any capitalisation of "Bearer" is a bearer token.
    let (base, _) = server(|line| {
        if line.starts_with("POST") {
            response(
                "200 OK",
                "",
                r#"{"access_token":"t","token_type":"bEARER","expires_in":60}"#,
            )
        } else {
            response("200 OK", "", "[]")
        }
    })
    .await;
    assert!(client(&base).stock().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_empty_or_unsendable_token_is_refused_at_once_for_what_it_is() {
    for (body, said) in [
        (
            r#"{"access_token":"","token_type":"Bearer","expires_in":3600}"#,
            "an empty access_token",
        ),
        (
            r#"{"access_token":"t0k\r\nX-Injected: 1","token_type":"Bearer","expires_in":3600}"#,
            "no request header can carry",
        ),
        (
            r#"{"access_token":"t0k\u00e9n","token_type":"Bearer","expires_in":3600}"#,
            "no request header can carry",
        ),
    ] {
        let (base, seen) = server(move |_| response("200 OK", "", body)).await;
        let err = client(&base).stock().await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(said) && text.contains("token endpoint"),
            "{text}"
        );
        assert!(
            !text.contains("network") && !text.contains("X-Injected"),
            "{text}"
        );
        assert_eq!(
            seen.lock().unwrap().len(),
            1,
            "one token request, no retry and no data request"
        );
    }
}

/// A server that sends the head of a 200 at once, then its body one byte every `gap`.
async fn trickling_server(body: &'static str, gap: std::time::Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                let _ = socket.read(&mut chunk).await;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for byte in body.as_bytes() {
                    tokio::time::sleep(gap).await;
                    if socket.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    base
}

#[tokio::test]
async fn a_trickled_token_meets_the_total_deadline() {
    // One byte every 200 ms resets any read timeout; only a total deadline ends it.
    let base = trickling_server(TOKEN, std::time::Duration::from_millis(200)).await;
    let client = builder(&base)
        .document_timeout(std::time::Duration::from_millis(800))
        .retry_policy(kiss_client::RetryPolicy {
            max_attempts: 1,
            ..kiss_client::RetryPolicy::default()
        })
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = client.stock().await.unwrap_err();
    assert!(
        matches!(err, Error::Deadline { .. } | Error::Timeout { .. }),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn oversized_documents_and_records_are_refused_with_the_limit_named() {
    let big_schema = format!(
        r#"{{"endpoint":"/stock","apiVersion":"2026-04","description":"{}","fields":[]}}"#,
        "x".repeat(200_000)
    );
    let big_record = format!(
        r#"[{{"SKU":"A"}},{{"SKU":"B","Junk":"{}"}}]"#,
        "y".repeat(50_000)
    );
    let (base, _) = server(move |line| {
        if line.starts_with("POST /auth/token") {
            response("200 OK", "", TOKEN)
        } else if line.starts_with("GET /stock/schema") {
            response("200 OK", "", &big_schema)
        } else {
            response("200 OK", "", &big_record)
        }
    })
    .await;
    let client = builder(&base)
        .max_document_bytes(100_000)
        .max_record_bytes(10_000)
        .build()
        .unwrap();
    let err = client
        .schema(kiss_client::Endpoint::Stock)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::TooLarge { limit: 100_000, .. })
            && err.to_string().contains("document"),
        "{err}"
    );
    let err = client.stock().await.unwrap_err();
    assert!(
        matches!(&err, Error::TooLarge { what, limit: 10_000, .. } if what == "record 1"),
        "{err}"
    );
}

#[tokio::test]
async fn an_absurd_token_lifetime_is_no_panic() {
    let (base, _) = server(|line| {
        if line.starts_with("POST") {
            response(
                "200 OK",
                "",
                r#"{"access_token":"t","token_type":"Bearer","expires_in":18446744073709551615}"#,
            )
        } else {
            response("200 OK", "", "[]")
        }
    })
    .await;
    let client = client(&base);
    assert!(client.stock().await.unwrap().is_empty());
    assert!(
        client.stock().await.unwrap().is_empty(),
        "the cached token is reused"
    );
}

#[tokio::test]
async fn an_unreadable_retry_after_is_reported_as_such() {
    let (base, _) = server(|line| {
        if line.starts_with("POST") {
            response("200 OK", "", TOKEN)
        } else {
            response(
                "429 Too Many Requests",
                "Retry-After: whenever\r\nX-Rate-Limit-Limit: 1m\r\n",
                r#"{"message":"API calls quota exceeded! maximum admitted 60 per 1m."}"#,
            )
        }
    })
    .await;
    let client = builder(&base)
        .retry_policy(kiss_client::RetryPolicy {
            max_rate_limit_waits: 0,
            ..kiss_client::RetryPolicy::default()
        })
        .build()
        .unwrap();
    let err = client.stock().await.unwrap_err();
    assert!(
        matches!(&err, Error::RateLimited { retry_after_unreadable: Some(raw), .. } if raw == "whenever"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("neither seconds nor a date"),
        "{err}"
    );
    assert!(!err.to_string().contains("in 1s"), "{err}");
}

#[tokio::test]
async fn server_text_never_carries_the_key_or_terminal_escapes_to_the_user() {
    let echo = format!(
        r#"{{"error":"invalid_request","error_description":"bad key {SECRET_KEY}\u001b[2J\u001b]0;pwned\u0007"}}"#
    );
    let (base, _) = server(move |_| response("400 Bad Request", "", &echo)).await;
    let err = client(&base).stock().await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, Error::OAuth { .. }), "{shown}");
    assert!(!shown.contains(SECRET_KEY), "{shown}");
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    assert!(shown.contains("bad key <redacted>"), "{shown}");

    let (base, _) = server(|line| {
        if line.starts_with("POST") {
            response("200 OK", "", TOKEN)
        } else {
            // A server echoing the bearer token in an error body, with a raw escape byte (so
            // not even JSON: it is shown as text, cleaned).
            response("418 I'm a teapot", "", "token t0k3n is \x1b[31mred")
        }
    })
    .await;
    let err = client(&base).stock().await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("t0k3n") && !shown.contains('\u{1b}'),
        "{shown:?}"
    );
}

/// `text` gzip-compressed: a few kilobytes that inflate to many megabytes.
fn gzip(text: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(text).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_by_its_inflated_size() {
    let mut schema = br#"{"endpoint":"/stock","apiVersion":"2026-04","description":""#.to_vec();
    schema.extend(std::iter::repeat_n(b' ', 20_000_000));
    schema.extend_from_slice(br#"","fields":[]}"#);
    let schema = gzip(&schema);
    let mut stock = br#"[{"SKU":""#.to_vec();
    stock.extend(std::iter::repeat_n(b'x', 20_000_000));
    stock.extend_from_slice(br#""}]"#);
    let stock = gzip(&stock);
    assert!(
        schema.len() < 100_000 && stock.len() < 100_000,
        "small on the wire"
    );
    let (base, _) = server(move |line| {
        let gzipped = "Content-Encoding: gzip\r\n";
        if line.starts_with("POST /auth/token") {
            response("200 OK", "", TOKEN).into_bytes()
        } else if line.starts_with("GET /stock/schema") {
            response_bytes("200 OK", gzipped, &schema)
        } else {
            response_bytes("200 OK", gzipped, &stock)
        }
    })
    .await;
    let client = builder(&base).max_record_bytes(1_000_000).build().unwrap();
    let err = client
        .schema(kiss_client::Endpoint::Stock)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { .. }),
        "the default 16 MiB cap: {err}"
    );
    let err = client.stock().await.unwrap_err();
    assert!(
        matches!(&err, Error::TooLarge { what, .. } if what == "record 0"),
        "{err}"
    );
}
