//! What the Drupal calls made while serving one SCIM request share, in
//! one task-local set per SCIM request ([`serving`]): their count, so the
//! request log shows what each SCIM operation cost, and the queue limit's
//! decision for the request as a whole (see `admission`). Calls made
//! elsewhere (start-up checks, background work) are neither counted nor
//! admitted together. One task-local, allocated once: the GET by id pays
//! for it on every request.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::admission::Ticket;

#[derive(Default)]
struct PerRequest {
    calls: AtomicUsize,
    ticket: Ticket,
}

tokio::task_local! {
    static REQUEST: Arc<PerRequest>;
}

/// Runs `work` (the serving of one SCIM request) and returns its output
/// with the number of Drupal requests it made. Its Drupal calls are
/// admitted or shed together.
pub async fn serving<F: Future>(work: F) -> (F::Output, usize) {
    let request = Arc::new(PerRequest::default());
    let output = REQUEST.scope(request.clone(), work).await;
    (output, request.calls.load(Ordering::Relaxed))
}

/// Adds one request to the count of the SCIM request being served, if any.
pub(crate) fn record_call() {
    // Outside `serving` there is nothing to add to.
    let _ = REQUEST.try_with(|request| request.calls.fetch_add(1, Ordering::Relaxed));
}

/// `decide` with the admission ticket of the SCIM request being served
/// (`None` outside one).
pub(crate) fn with_ticket<R>(decide: impl Fn(Option<&Ticket>) -> R) -> R {
    REQUEST
        .try_with(|request| decide(Some(&request.ticket)))
        .unwrap_or_else(|_| decide(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_inside_the_scope_are_counted_and_outside_ignored() {
        record_call();
        let ((), n) = serving(async {
            record_call();
            record_call();
        })
        .await;
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn each_request_has_its_own_ticket_and_outside_one_there_is_none() {
        assert!(with_ticket(|t| t.is_none()));
        let ((a, b), _) = serving(async {
            (
                with_ticket(|t| t.map(|t| t as *const Ticket)),
                with_ticket(|t| t.map(|t| t as *const Ticket)),
            )
        })
        .await;
        assert!(a.is_some() && a == b);
        let (c, _) = serving(async { with_ticket(|t| t.is_some()) }).await;
        assert!(c);
    }
}
