//! The transport against the sandbox: tokens, pacing, retries, faults and errors.

use std::time::Duration;

mod common;

use common::{client, sandbox_with, RELAXED, UNPACED};
use futures_util::TryStreamExt;
use kiss_client::{Client, Endpoint, Error, ManualClock, Quota};
use kiss_sandbox::{
    Customer, Fault, RateLimit, Sandbox, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE,
};

#[tokio::test]
async fn one_token_serves_every_call_and_typed_data_matches_the_examples() {
    let sandbox = sandbox_with(50, RELAXED).await;
    let (client, _) = client(&sandbox, UNPACED);
    let products = client.products().await.unwrap();
    let stock = client.stock().await.unwrap();
    let prices = client.prices().await.unwrap();
    assert_eq!((products.len(), stock.len(), prices.len()), (50, 50, 50));
    // The first records are the documentation's examples, field for field.
    use kiss_schema::contract;
    let example_products: Vec<kiss_generated::Product> =
        serde_json::from_str(contract::PRODUCTS_EXAMPLE).unwrap();
    let example_stock: Vec<kiss_generated::StockEntry> =
        serde_json::from_str(contract::STOCK_EXAMPLE).unwrap();
    let example_prices: Vec<kiss_generated::ProductPrice> =
        serde_json::from_str(contract::PRICES_EXAMPLE).unwrap();
    assert_eq!(products[..example_products.len()], example_products[..]);
    assert_eq!(stock[..example_stock.len()], example_stock[..]);
    assert_eq!(prices[..example_prices.len()], example_prices[..]);
    assert_eq!(
        prices[0].price_excl_vat.as_ref().unwrap().to_string(),
        "19.9500"
    );
    assert_eq!(client.api_version().await.unwrap(), "2026-04");
    assert!(client.health().await.unwrap());
    assert_eq!(sandbox.control().request_count("/auth/token"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_cause_one_token_request() {
    let sandbox = sandbox_with(3, RELAXED).await;
    let (client, _) = client(&sandbox, UNPACED);
    let calls = (0..1_000).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.schema(kiss_client::Endpoint::Stock).await })
    });
    for call in futures_util::future::join_all(calls).await {
        assert_eq!(call.unwrap().unwrap().endpoint, "/stock");
    }
    assert_eq!(sandbox.control().request_count("/auth/token"), 1);
    assert_eq!(sandbox.control().request_count("/stock/schema"), 1_000);
}

#[tokio::test]
async fn revocation_mid_run_costs_one_refresh_and_one_retry() {
    let sandbox = sandbox_with(5, RELAXED).await;
    let (client, _) = client(&sandbox, UNPACED);
    client.stock().await.unwrap();
    sandbox.control().revoke_tokens();
    client.stock().await.unwrap();
    assert_eq!(sandbox.control().request_count("/auth/token"), 2);
    assert_eq!(
        sandbox.control().request_count("/stock"),
        3,
        "one 401, then the retry"
    );
}

#[tokio::test]
async fn tokens_are_refreshed_ahead_of_expiry_without_a_401() {
    let sandbox = Sandbox::start(SandboxConfig {
        products: 3,
        rate_limit: RELAXED,
        token_ttl: Duration::from_secs(600),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let (client, clock) = client(&sandbox, UNPACED);
    client.stock().await.unwrap();
    // Most of the lifetime passes, for the client and the server alike.
    clock.advance(Duration::from_secs(500));
    sandbox.control().advance_clock(Duration::from_secs(500));
    client.stock().await.unwrap();
    assert_eq!(sandbox.control().request_count("/auth/token"), 2);
    assert_eq!(
        sandbox.control().request_count("/stock"),
        2,
        "no request was refused"
    );
}

#[tokio::test]
async fn pacing_keeps_within_the_quota_so_the_server_never_says_429() {
    let sandbox = sandbox_with(
        3,
        RateLimit {
            per_minute: 3,
            per_hour: 100,
        },
    )
    .await;
    let (client, clock) = client(
        &sandbox,
        Quota {
            per_minute: 3,
            per_hour: 100,
        },
    );
    for _ in 0..5 {
        client.stock().await.unwrap();
    }
    // 1 token + 5 data requests at 3 a minute: two waits of a minute, no 429 retries.
    assert_eq!(sandbox.control().request_count("/stock"), 5);
    let waits = clock.slept();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(waits[0] >= Duration::from_secs(60), "{waits:?}");
}

#[tokio::test]
async fn a_minute_429_is_waited_out_per_retry_after() {
    let sandbox = sandbox_with(
        3,
        RateLimit {
            per_minute: 2,
            per_hour: 100,
        },
    )
    .await;
    let (client, clock) = client(&sandbox, UNPACED);
    client.stock().await.unwrap(); // token + stock: the minute is spent
    client.stock().await.unwrap();
    let waits = clock.slept();
    assert_eq!(waits.len(), 1);
    assert!(
        waits[0] >= Duration::from_secs(55) && waits[0] <= Duration::from_secs(61),
        "{waits:?}"
    );
}

#[tokio::test]
async fn an_hour_429_past_the_ceiling_is_a_typed_error_with_the_reset_time() {
    let sandbox = sandbox_with(
        3,
        RateLimit {
            per_minute: 100,
            per_hour: 2,
        },
    )
    .await;
    let (client, clock) = client(&sandbox, UNPACED);
    client.stock().await.unwrap();
    let err = client.stock().await.unwrap_err();
    match &err {
        Error::RateLimited {
            window,
            reset,
            retry_after,
            ..
        } => {
            assert_eq!(window, "1h");
            assert!(reset.is_some());
            assert!(*retry_after > Duration::from_secs(3000));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("resets at"), "{err}");
    assert!(
        clock.slept().is_empty(),
        "never retried immediately, nor waited an hour"
    );
}

#[tokio::test]
async fn repeated_429s_back_off_exponentially_then_give_up() {
    let sandbox = sandbox_with(3, RELAXED).await;
    let (client, clock) = client(&sandbox, UNPACED);
    client.stock().await.unwrap();
    sandbox
        .control()
        .queue_fault(
            "/stock",
            Fault::RateLimited {
                retry_after_secs: 2,
            },
            10,
        )
        .unwrap();
    let err = client.stock().await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    let waits: Vec<u64> = clock.slept().iter().map(|d| d.as_secs()).collect();
    assert_eq!(waits, [2, 4, 8, 16], "doubling from Retry-After");
}

#[tokio::test]
async fn each_5xx_and_a_reset_connection_are_retried_with_backoff() {
    let sandbox = sandbox_with(3, RELAXED).await;
    let (client, clock) = client(&sandbox, UNPACED);
    client.stock().await.unwrap();
    for status in [500, 502, 503, 504] {
        sandbox
            .control()
            .queue_fault("/stock", Fault::Status { status }, 1)
            .unwrap();
        client.stock().await.unwrap();
    }
    sandbox
        .control()
        .queue_fault("/stock", Fault::ConnectionReset, 1)
        .unwrap();
    client.stock().await.unwrap();
    assert_eq!(clock.slept().len(), 5);
    assert_eq!(sandbox.control().request_count("/stock"), 1 + 2 * 5);

    // Repeated failures of one request wait longer each time: between half and all of a
    // bound that doubles from the policy's base delay (500 ms).
    sandbox
        .control()
        .queue_fault("/stock", Fault::Status { status: 503 }, 3)
        .unwrap();
    let before = clock.slept().len();
    client.stock().await.unwrap();
    let waits: Vec<Duration> = clock.slept()[before..].to_vec();
    assert_eq!(waits.len(), 3, "{waits:?}");
    for (attempt, wait) in (1u32..).zip(&waits) {
        let bound = Duration::from_millis(500) * 2u32.pow(attempt);
        assert!(
            *wait >= bound / 2 && *wait <= bound,
            "attempt {attempt}: {wait:?} not within [{:?}, {bound:?}]",
            bound / 2
        );
    }
    assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
    sandbox
        .control()
        .queue_fault("/stock", Fault::Status { status: 503 }, 10)
        .unwrap();
    let err = client.stock().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Server {
                status: 503,
                attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );
}

/// The sandbox's next `times` answers to `/products` cut short after 20,000 bytes.
fn cut_products_short(sandbox: &Sandbox, times: usize) {
    sandbox
        .control()
        .queue_fault(
            "/products",
            Fault::TruncatedBody {
                after_bytes: Some(20_000),
            },
            times,
        )
        .unwrap();
}

#[tokio::test]
async fn cut_and_malformed_bodies_are_errors_never_shorter_lists() {
    let sandbox = sandbox_with(300, RELAXED).await;
    let (client, _) = client(&sandbox, UNPACED);
    cut_products_short(&sandbox, 1);
    let err = client.products().await.unwrap_err();
    assert!(matches!(err, Error::BodyCutShort { .. }), "{err:?}");
    sandbox
        .control()
        .queue_fault("/prices", Fault::MalformedJson, 1)
        .unwrap();
    let err = client.prices().await.unwrap_err();
    assert!(matches!(err, Error::InvalidBody { .. }), "{err:?}");
    assert!(err.to_string().contains("byte"), "says where: {err}");
    sandbox
        .control()
        .queue_fault(
            "/stock",
            Fault::SlowBody {
                bytes_per_sec: 200_000,
            },
            1,
        )
        .unwrap();
    assert_eq!(client.stock().await.unwrap().len(), 300);
}

#[tokio::test]
async fn wrong_credentials_and_a_missing_customer_are_typed() {
    let mut ghost = Customer::new("GHOST01", "ghost-key");
    ghost.missing = true;
    let sandbox = Sandbox::start(SandboxConfig {
        products: 3,
        customers: vec![Customer::new(DEFAULT_CUSTOMER_CODE, DEFAULT_API_KEY), ghost],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let wrong = Client::builder()
        .base_url(sandbox.base_url())
        .customer_code(DEFAULT_CUSTOMER_CODE)
        .api_key("not-the-key")
        .build()
        .unwrap();
    assert!(matches!(wrong.stock().await, Err(Error::InvalidClient)));
    let missing = Client::builder()
        .base_url(sandbox.base_url())
        .customer_code("GHOST01")
        .api_key("ghost-key")
        .build()
        .unwrap();
    assert!(matches!(
        missing.stock().await,
        Err(Error::CustomerNotFound)
    ));
}

#[test]
fn plain_http_is_refused_off_loopback() {
    let build = |url: &str| {
        Client::builder()
            .base_url(url)
            .customer_code("A")
            .api_key("k")
            .build()
    };
    assert!(matches!(
        build("http://api.kiss.example.com"),
        Err(Error::InsecureUrl { .. })
    ));
    assert!(matches!(
        build("http://192.0.2.1:8080"),
        Err(Error::InsecureUrl { .. })
    ));
    assert!(build("http://127.0.0.1:9").is_ok());
    assert!(build("http://localhost:9").is_ok());
    assert!(build("http://[::1]:9").is_ok());
    assert!(build("https://api.kiss.example.com").is_ok());
    let opted_in = Client::builder()
        .base_url("http://192.0.2.1:8080")
        .customer_code("A")
        .api_key("k")
        .allow_insecure_http(true)
        .build();
    assert!(opted_in.is_ok());
    assert!(matches!(build("ftp://x"), Err(Error::Config(_))));
}

#[tokio::test]
async fn dynamic_records_and_the_surface_check_follow_the_live_schema() {
    let sandbox = sandbox_with(20, RELAXED).await;
    let (client, _) = client(&sandbox, UNPACED);
    let check = client.check_surface().await.unwrap();
    assert!(check.is_in_step(), "{check}");
    let (schema, records) = client.records_stream(Endpoint::Stock).await.unwrap();
    let records: Vec<_> = records.try_collect().await.unwrap();
    assert_eq!(schema.endpoint, "/stock");
    assert_eq!(records.len(), 20);
    assert_eq!(records[0].get_str("SKU").unwrap(), Some("DRAC001"));

    let bin = kiss_schema::FieldSchema::new("binLocation", kiss_schema::FieldType::String, false);
    sandbox
        .control()
        .add_field(Endpoint::Stock, None, bin)
        .unwrap();
    let check = client.check_surface().await.unwrap();
    assert!(!check.is_in_step());
    assert!(
        check.to_string().contains("+ BinLocation: string"),
        "{check}"
    );
    let (_, records) = client.records_stream(Endpoint::Stock).await.unwrap();
    let records: Vec<_> = records.try_collect().await.unwrap();
    assert!(records[0].get_str("BinLocation").unwrap().is_some());
    // The typed path keeps the new field as unknown.
    let typed = client.stock().await.unwrap();
    assert!(typed[0].unknown_fields.get_raw("BinLocation").is_some());
}

#[tokio::test]
async fn a_surface_check_against_unreadable_generated_schemas_fails_loudly() {
    let sandbox = sandbox_with(3, RELAXED).await;
    let (client, _) = client(&sandbox, UNPACED);
    let stock = kiss_schema::contract::STOCK_SCHEMA;
    let products = kiss_schema::contract::PRODUCTS_SCHEMA;
    let in_step = client
        .check_surface_against("2026-04", &[("/products", products), ("/stock", stock)])
        .await
        .unwrap();
    assert!(in_step.is_in_step(), "{in_step}");
    for (documents, problem) in [
        (
            vec![("/products", "{not json"), ("/stock", stock)],
            "does not parse",
        ),
        (vec![("/products", products)], "is missing"),
    ] {
        let err = client
            .check_surface_against("2026-04", &documents)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::GeneratedSchema { .. }) && err.to_string().contains(problem),
            "{err}"
        );
    }
}

#[tokio::test]
async fn the_token_request_is_retried_like_any_other_after_a_5xx() {
    let sandbox = sandbox_with(3, RELAXED).await;
    let (client, clock) = client(&sandbox, UNPACED);
    // Three failures, then the fourth and last attempt of the default policy succeeds.
    for status in [500, 502, 503] {
        sandbox
            .control()
            .queue_fault("/auth/token", Fault::Status { status }, 1)
            .unwrap();
    }
    assert_eq!(client.stock().await.unwrap().len(), 3);
    assert_eq!(sandbox.control().request_count("/auth/token"), 4);
    assert_eq!(clock.slept().len(), 3, "a backoff before each retry");
}

#[tokio::test]
async fn a_token_refused_twice_is_an_invalid_token_error() {
    let sandbox = sandbox_with(3, RELAXED).await;
    let (client, _) = client(&sandbox, UNPACED);
    sandbox
        .control()
        .queue_fault("/stock", Fault::Status { status: 401 }, 2)
        .unwrap();
    let err = client.stock().await.unwrap_err();
    assert!(matches!(err, Error::InvalidToken), "{err:?}");
    assert_eq!(
        sandbox.control().request_count("/auth/token"),
        2,
        "one forced refresh"
    );
    assert_eq!(
        sandbox.control().request_count("/stock"),
        2,
        "one retry, no more"
    );
}

#[tokio::test]
async fn a_stalled_response_is_a_timeout_after_the_retry_budget() {
    let sandbox = sandbox_with(3, RELAXED).await;
    let clock = ManualClock::new();
    let client = Client::builder()
        .base_url(sandbox.base_url())
        .customer_code(DEFAULT_CUSTOMER_CODE)
        .api_key(DEFAULT_API_KEY)
        .quota(UNPACED)
        .read_timeout(Duration::from_millis(200))
        .clock(clock.clone())
        .build()
        .unwrap();
    client.api_version().await.unwrap();
    sandbox
        .control()
        .queue_fault("/stock", Fault::DelayHeaders { millis: 2_000 }, 4)
        .unwrap();
    let err = client.stock().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("stalled"), "{err}");
    assert_eq!(
        clock.slept().len(),
        3,
        "backed off between the four attempts"
    );
}

#[test]
fn a_time_scale_is_refused_for_any_api_but_one_on_loopback() {
    let clock = kiss_client::ScaledClock::new(60, std::time::SystemTime::now()).unwrap();
    let build = |url: &str| {
        Client::builder()
            .base_url(url)
            .customer_code("A")
            .api_key("k")
            .time_scale(clock)
            .build()
    };
    assert!(matches!(
        build("https://api.kiss.example.com"),
        Err(Error::Config(message)) if message.contains("real time")
    ));
    assert!(build("http://127.0.0.1:9").is_ok());
    // Scales that are no speed-up, or beyond an hour a second, and epochs yet to come.
    assert!(kiss_client::ScaledClock::new(1, std::time::SystemTime::now()).is_none());
    assert!(kiss_client::ScaledClock::new(3601, std::time::SystemTime::now()).is_none());
    let tomorrow = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
    assert!(kiss_client::ScaledClock::new(60, tomorrow).is_none());
}

/// Every record of `records`, compact, read on a thread (and runtime) of its own.
fn read_elsewhere(mut records: kiss_client::RawRecords) -> Result<Vec<String>, Error> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut seen = Vec::new();
            while records
                .next_chunk(|record| {
                    let mut compact = Vec::new();
                    record.write_compact(&mut compact);
                    seen.push(String::from_utf8(compact).unwrap());
                    Ok::<(), Error>(())
                })
                .await?
            {}
            Ok(seen)
        })
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_read_ahead_elsewhere_gives_the_same_records_and_the_same_errors() {
    let sandbox = sandbox_with(300, RELAXED).await;
    let (client, _) = client(&sandbox, UNPACED);
    let (_, direct) = client.raw_records(Endpoint::Products).await.unwrap();
    let direct = read_elsewhere(direct).unwrap();
    assert_eq!(direct.len(), 300);
    // Pieces far smaller than the body, one waiting at a time: many hand-overs.
    let (_, ahead) = client.raw_records(Endpoint::Products).await.unwrap();
    let ahead = read_elsewhere(ahead.read_ahead(4 << 10, 1)).unwrap();
    assert_eq!(ahead, direct);
    cut_products_short(&sandbox, 2);
    let (_, cut) = client.raw_records(Endpoint::Products).await.unwrap();
    let direct = read_elsewhere(cut).unwrap_err();
    let (_, cut) = client.raw_records(Endpoint::Products).await.unwrap();
    let ahead = read_elsewhere(cut.read_ahead(4 << 10, 1)).unwrap_err();
    assert!(matches!(ahead, Error::BodyCutShort { .. }), "{ahead:?}");
    // The network's own error, not only the unclosed array it leaves.
    assert_eq!(ahead.to_string(), direct.to_string());
}

/// A server that holds its answer to `/stock/schema` until the request for `/stock` has
/// arrived (for at most 5 s), and records whether it arrived while the schema was held.
async fn schema_held_for_the_body() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let body_asked = std::sync::Arc::new(tokio::sync::Notify::new());
    let overlapped = std::sync::Arc::new(AtomicBool::new(false));
    let said = overlapped.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (body_asked, overlapped) = (body_asked.clone(), overlapped.clone());
            tokio::spawn(async move {
                loop {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match socket.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(str::to_owned)
                        })
                        .and_then(|n| n.trim().parse().ok())
                        .unwrap_or(0);
                    let mut request_body = vec![0u8; length];
                    if socket.read_exact(&mut request_body).await.is_err() {
                        return;
                    }
                    let line = head.lines().next().unwrap_or("").to_owned();
                    let body = if line.starts_with("POST /auth/token") {
                        r#"{"access_token":"t","token_type":"Bearer","expires_in":3600}"#.to_owned()
                    } else if line.starts_with("GET /stock/schema") {
                        let held =
                            tokio::time::timeout(Duration::from_secs(5), body_asked.notified())
                                .await;
                        overlapped.store(held.is_ok(), Ordering::SeqCst);
                        kiss_schema::contract::STOCK_SCHEMA.to_owned()
                    } else {
                        body_asked.notify_one();
                        kiss_schema::contract::STOCK_EXAMPLE.to_owned()
                    };
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, said)
}

#[tokio::test]
async fn the_schema_and_the_body_are_asked_for_side_by_side() {
    let (base, overlapped) = schema_held_for_the_body().await;
    let client = Client::builder()
        .base_url(base)
        .customer_code("C1")
        .api_key("k")
        .build()
        .unwrap();
    let (schema, mut records) = client.raw_records(Endpoint::Stock).await.unwrap();
    assert_eq!(schema.api_version, kiss_schema::contract::PROFILE);
    let mut count = 0;
    while records
        .next_chunk(|_| {
            count += 1;
            Ok::<(), Error>(())
        })
        .await
        .unwrap()
    {}
    assert_eq!(count, 2);
    assert!(
        overlapped.load(std::sync::atomic::Ordering::SeqCst),
        "the body was asked for only after the schema had come"
    );
}
