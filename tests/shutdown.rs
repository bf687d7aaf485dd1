//! SIGTERM lets requests in flight finish, then the process exits 0: the
//! real binary (`demo`, with a slow stand-in), a request under way, a signal.

// A test crate: a failed unwrap is a failed test (clippy.toml allows
// them in #[test] functions; this extends that to the helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "shutdown-test-token-0123456789";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Kills the child if the test fails before it exits by itself.
struct Bridge(Child);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_until_ready(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(answer) = client.get(format!("{base}/healthz")).send().await {
            if answer.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bridge did not start");
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_zero() {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_drupal-scim-bridge"))
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--drupal-listen",
            &format!("127.0.0.1:{}", free_port()),
            "--token",
            TOKEN,
            "--drupal-latency-ms",
            "700",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the bridge");
    let mut bridge = Bridge(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_ready(&client, &base).await;

    // A login and a read at 700 ms each: well over a second in flight.
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/scim/v2/Users?filter=userName%20eq%20%22admin%22");
        async move { client.get(url).bearer_auth(TOKEN).send().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Command::new("kill")
        .args(["-TERM", &bridge.0.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(signalled.success());

    let answer = in_flight.await.unwrap().expect("the request is answered");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["totalResults"], 1);

    // New connections are refused while (or once) it winds down.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(client
        .get(format!("{base}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_err());

    let started = Instant::now();
    let status = loop {
        if let Some(status) = bridge.0.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
}
