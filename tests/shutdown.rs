//! SIGTERM lets requests in flight finish, then the process exits 0: the
//! real binary (`demo`, with a slow stand-in), a request under way, a signal.

// A test crate: a failed unwrap is a failed test (clippy.toml allows
// them in #[test] functions; this extends that to the helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/demo_process.rs"]
mod demo_process;

use demo_process::Demo;

const TOKEN: &str = "shutdown-test-token-0123456789";

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
    let mut bridge = Demo::start(TOKEN, &["--drupal-latency-ms", "700"], |_| {});
    let base = bridge.base.clone();
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
        .args(["-TERM", &bridge.child.id().to_string()])
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
        if let Some(status) = bridge.child.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
}
