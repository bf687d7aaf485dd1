//! The adaptive concurrency limit against a stand-in that serves N requests
//! at once: it settles near N, and backs off when N drops. Bounds are wide
//! and nothing is timed: the test watches where the limit goes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{spawn_app, TestApp};

const SERVICE: Duration = Duration::from_millis(100);
/// IdP requests at once: far more than the site's workers (12, then 2).
/// Fewer for 2 workers, so that no request waits near the tests' 2-s
/// Drupal timeout on a loaded machine: 16 still keep the site saturated.
const IDP_CONCURRENCY: [usize; 2] = [32, 16];

/// The limit's values while the IdP keeps reading for `period`, sampled
/// every 50 ms, and the statuses other than 200 the IdP got.
async fn load(
    app: &Arc<TestApp>,
    ids: &Arc<Vec<String>>,
    concurrency: usize,
    period: Duration,
) -> (Vec<usize>, Vec<u16>) {
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let idp: Vec<_> = (0..concurrency)
        .map(|_| {
            let (app, ids, stop, next) = (app.clone(), ids.clone(), stop.clone(), next.clone());
            tokio::spawn(async move {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let id = &ids[next.fetch_add(1, Ordering::Relaxed) % ids.len()];
                    let answer = app.get(&format!("/Users/{id}")).await;
                    if answer.status != 200 {
                        failures.push(answer.status);
                    }
                }
                failures
            })
        })
        .collect();
    let mut limits = Vec::new();
    let samples = (period.as_millis() / 50) as usize;
    for _ in 0..samples {
        tokio::time::sleep(Duration::from_millis(50)).await;
        limits.push(app.provisioner.drupal().concurrency_limit());
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for task in idp {
        failures.extend(task.await.expect("IdP task"));
    }
    (limits, failures)
}

/// The median of the second half: where the limit settled.
fn settled(limits: &[usize]) -> usize {
    let mut tail = limits[limits.len() / 2..].to_vec();
    tail.sort_unstable();
    tail[tail.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_settles_near_the_sites_workers_and_backs_off_when_they_drop() {
    let app = Arc::new(spawn_app().await);
    app.log_in().await;
    app.warm_role_cache().await;
    let ids: Arc<Vec<String>> = Arc::new(
        (0..50)
            .map(|i| app.seed_user(&format!("load{i}"), &format!("load{i}@example.org")))
            .collect(),
    );
    assert_eq!(
        app.provisioner.drupal().concurrency_limit(),
        8,
        "starts where the fixed default was"
    );

    // The law holds a short queue inside Drupal (3 to 8 requests at these
    // limits) beyond its workers, and now and then tries a quarter more:
    // with W workers it settles between W + 1 and W + 8, plus a quarter.
    // The two capacities are far enough apart that the two bands do not
    // meet, so that the machine's own noise cannot blur which is which.
    //
    // 120 requests a second at most: the site, not this machine's cores,
    // is the bottleneck.
    app.drupal.set_capacity(12, SERVICE);
    let (wide, failures) = load(&app, &ids, IDP_CONCURRENCY[0], Duration::from_secs(5)).await;
    assert!(
        failures.is_empty(),
        "no request failed: {failures:?}: {wide:?}"
    );
    let at_twelve = settled(&wide);
    assert!(
        (13..=26).contains(&at_twelve),
        "12 workers: settled on {at_twelve}: {wide:?}"
    );

    app.drupal.set_capacity(2, SERVICE);
    let (narrow, failures) = load(&app, &ids, IDP_CONCURRENCY[1], Duration::from_secs(5)).await;
    assert!(
        failures.is_empty(),
        "no request failed: {failures:?}: {narrow:?}"
    );
    let at_two = settled(&narrow);
    assert!(
        (2..=12).contains(&at_two) && at_two < at_twelve,
        "2 workers: settled on {at_two} (from {at_twelve}): {narrow:?}"
    );
}
