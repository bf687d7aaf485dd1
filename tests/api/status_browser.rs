//! The status page in a real browser: Debian's `chromium`, headless. The
//! page must load after a scripted IdP flow, show its changes, and make the
//! browser log no console error (the page runs no script; a violation of
//! its Content-Security-Policy would show there too).
//!
//! Without chromium the test says SKIPPED loudly and passes: `scripts/test`
//! installs it. `UPDATE_SCREENSHOT=1` writes docs/status-page.png.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::monitoring::{idp_flow, monitored};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(|name| {
            let found = Command::new("which").arg(name).output().ok()?;
            let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
            (found.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
        })
}

/// Runs chromium headless on `url` with `action` (`--dump-dom` or
/// `--screenshot=...`); returns its standard output and error.
fn run_chromium(browser: &Path, profile: &Path, action: &str, url: &str) -> (String, String) {
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,1400",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
        .arg(url)
        .output()
        .expect("chromium runs");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Console messages of the page (chromium logs them as `CONSOLE(line)`),
/// and the errors a page can cause without a script of its own.
fn page_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE(")
                || l.contains("Uncaught")
                || l.contains("Refused to")
                || l.contains("Content Security Policy")
        })
        .collect()
}

#[tokio::test]
async fn the_status_page_loads_in_chromium_with_the_flow_s_changes_and_no_console_error() {
    let Some(browser) = chromium() else {
        eprintln!("\n*** SKIPPED: status page browser test: no chromium found (apt-get install -y chromium; scripts/test installs it) ***\n");
        return;
    };
    let app = monitored("").await;
    idp_flow(&app).await;
    let url = format!("{}/status", app.monitor.as_ref().expect("monitor"));
    let profile = std::env::temp_dir().join(format!("chromium-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&profile).expect("profile dir");

    let browser_task = browser.clone();
    let (profile_task, url_task) = (profile.clone(), url.clone());
    let (dom, stderr) = tokio::task::spawn_blocking(move || {
        run_chromium(&browser_task, &profile_task, "--dump-dom", &url_task)
    })
    .await
    .expect("chromium task");
    assert!(dom.contains("Ready: serving SCIM."), "{dom}\n{stderr}");
    for change in [
        "user_created",
        "user_deactivated",
        "user_reactivated",
        "group_member_added",
        "group_member_removed",
        "refused_protected",
        "user_deprovisioned",
    ] {
        assert!(
            dom.contains(change),
            "{change} missing from the page: {dom}"
        );
    }
    assert!(dom.contains("id=\"requests-chart\""), "{dom}");
    let errors = page_errors(&stderr);
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    let shot = match std::env::var_os("UPDATE_SCREENSHOT") {
        Some(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png"),
        None => profile.join("status-page.png"),
    };
    let action = format!("--screenshot={}", shot.display());
    let (profile_task, url_task) = (profile.clone(), url.clone());
    let (_, stderr) = tokio::task::spawn_blocking(move || {
        run_chromium(&browser, &profile_task, &action, &url_task)
    })
    .await
    .expect("chromium task");
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(png.starts_with(b"\x89PNG"), "no screenshot: {stderr}");
    let _ = std::fs::remove_dir_all(&profile);
}
