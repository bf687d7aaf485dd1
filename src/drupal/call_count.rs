//! Counts the Drupal requests made while serving one SCIM request, so the
//! request log shows what each SCIM operation cost. The counter lives in a
//! task-local: every Drupal call made inside `count_calls` adds to it, and
//! calls made elsewhere (start-up checks) are not counted.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

tokio::task_local! {
    static CALLS: Arc<AtomicUsize>;
}

/// Runs `work` and returns its output with the number of Drupal requests
/// it made.
pub async fn count_calls<F: Future>(work: F) -> (F::Output, usize) {
    let counter = Arc::new(AtomicUsize::new(0));
    let output = CALLS.scope(counter.clone(), work).await;
    (output, counter.load(Ordering::Relaxed))
}

/// Adds one request to the count of the SCIM request being served, if any.
pub(crate) fn record_call() {
    // Outside `count_calls` there is nothing to add to.
    let _ = CALLS.try_with(|calls| calls.fetch_add(1, Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_inside_the_scope_are_counted_and_outside_ignored() {
        record_call();
        let ((), n) = count_calls(async {
            record_call();
            record_call();
        })
        .await;
        assert_eq!(n, 2);
    }
}
