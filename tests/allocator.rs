//! The bridge binary's allocator (mimalloc, src/main.rs) is built without
//! transparent huge pages: with them, every 2 MiB of its arena the process
//! touched became resident, about 25 MB more RSS from the start and a peak
//! over the 50 MB target under the list scenario (docs/PERFORMANCE.md). The
//! real binary (`demo`), its memory read from /proc.

// A test crate: a failed unwrap is a failed test (clippy.toml allows
// them in #[test] functions; this extends that to the helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

#[path = "common/demo_process.rs"]
mod demo_process;

use demo_process::Demo;

const TOKEN: &str = "allocator-test-token-0123456789";

/// A `kB` field of /proc/PID/smaps_rollup.
fn rollup_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .map(|kb| kb.parse().unwrap())
        .unwrap_or_else(|| panic!("no {field} in smaps_rollup:\n{text}"))
}

#[tokio::test]
async fn the_bridge_s_heap_gets_no_transparent_huge_pages() {
    // Where the kernel gives huge pages only to memory that asks for them
    // (`madvise`, as on this project's machines),
    // none of the bridge's memory may ask. Under `always` the kernel decides
    // alone (the README says to set MIMALLOC_ALLOW_THP=0 then); under `never`
    // there are none.
    let Ok(setting) = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled") else {
        eprintln!("skipped: no transparent huge pages on this system");
        return;
    };
    if !setting.contains("[madvise]") {
        eprintln!("skipped: transparent huge pages are {setting:?}, not madvise");
        return;
    }
    let bridge = Demo::start(TOKEN, &[], |command| {
        command.env_remove("MIMALLOC_ALLOW_THP");
    });
    let base = &bridge.base;
    let client = reqwest::Client::new();

    // Up, logged in to its stand-in, and a few lists served: the allocator
    // has taken its arena and used it.
    let started = Instant::now();
    let mut served = 0;
    while served < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the bridge did not answer"
        );
        match client
            .get(format!("{base}/scim/v2/Users?count=100"))
            .bearer_auth(TOKEN)
            .send()
            .await
        {
            Ok(answer) if answer.status() == 200 => served += 1,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }

    let pid = bridge.child.id();
    let rss = rollup_kb(pid, "Rss:");
    let huge = rollup_kb(pid, "AnonHugePages:");
    assert_eq!(
        huge, 0,
        "{huge} kB of the bridge's {rss} kB resident are transparent huge pages"
    );
}
