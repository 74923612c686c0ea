//! Clients that send headers and then stall or trickle their body: each is answered `408` and
//! disconnected once the body deadline passes, costs one file descriptor while it lasts, and
//! never keeps the sandbox from answering everyone else.

mod common;

use std::time::Duration;

use common::*;
use kiss_sandbox::SandboxConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_get_408_and_are_closed_one_descriptor_each() {
    let sandbox = start(SandboxConfig {
        body_timeout: Duration::from_millis(300),
        ..SandboxConfig::relaxed(3)
    })
    .await;
    let addr = sandbox.addr();
    let before = open_descriptors();
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                b"POST /auth/token HTTP/1.1\r\nHost: kiss\r\n\
                  Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngr",
            )
            .await
            .unwrap();
        stalled.push(stream);
    }
    // While they stall, everyone else is served.
    let health = client()
        .get(format!("{}/health", sandbox.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // Our 200 client sockets plus one per server-side connection (not two).
    if before > 0 {
        let open = open_descriptors();
        assert!(
            open <= before + 2 * 200 + 16,
            "{open} descriptors open, {before} before"
        );
    }
    // Each stalled client gets its 408 and the connection ends (bounded wait, generous).
    for mut stream in stalled {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer));
        read.await
            .expect("the server closes the connection")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    assert_eq!(
        sandbox.control().request_count("/auth/token"),
        0,
        "a request whose body never came is not served"
    );
}
