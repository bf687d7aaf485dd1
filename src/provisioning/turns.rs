//! How long a SCIM write waits for its turn on an account or a group.
//!
//! Writes to one account (or one group) take turns (`user_turns`,
//! `group_turns`). Each is bounded: a write that has waited as long as one
//! Drupal request may take (`drupal.timeout_secs`) is answered 503 with
//! `Retry-After`, nothing written, instead of queueing behind slow writes
//! for minutes and being sent long after the identity provider gave up.
//! And a write whose client went away while it waited is not sent at all:
//! actix keeps running a handler after its client disconnected (HTTP/1
//! half-closed connections are allowed), so the wait watches the
//! connection itself ([`ClientLink`], set for each request by the HTTP
//! layer with [`serving`]).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::drupal::DrupalError;

/// Whether the client of a connection is still there: told by the
/// connection's reader when the client closes or resets it.
#[derive(Debug, Default)]
pub struct ClientLink {
    gone: AtomicBool,
    notify: Notify,
}

impl ClientLink {
    /// The client closed or reset the connection.
    pub fn depart(&self) {
        if !self.gone.swap(true, Ordering::AcqRel) {
            self.notify.notify_waiters();
        }
    }

    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    async fn departed(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_gone() {
                return;
            }
            notified.await;
        }
    }
}

tokio::task_local! {
    static CLIENT: Arc<ClientLink>;
}

/// Runs `request` (a request's handling) with its connection's link, so
/// that the turns it waits for notice its client leaving.
pub async fn serving<F: Future>(link: Arc<ClientLink>, request: F) -> F::Output {
    CLIENT.scope(link, request).await
}

/// Resolves once the client of the request being handled has gone; never
/// outside [`serving`].
async fn client_gone() {
    match CLIENT.try_with(Arc::clone) {
        Ok(link) => link.departed().await,
        Err(_) => std::future::pending().await,
    }
}

/// Waits for `turn` at most `bound`, and not once the client has gone.
pub(crate) async fn wait_for<T>(
    turn: impl Future<Output = T>,
    bound: Duration,
) -> Result<T, DrupalError> {
    tokio::select! {
        biased;
        () = client_gone() => Err(DrupalError::AccountBusy { client_gone: true }),
        got = turn => Ok(got),
        () = tokio::time::sleep(bound) => Err(DrupalError::AccountBusy { client_gone: false }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drupal::account_locks::AccountLocks;

    #[tokio::test]
    async fn a_turn_not_given_within_the_bound_is_refused_and_leaves_the_queue() {
        let locks = AccountLocks::default();
        let held = locks.lock("a").await;
        let waited = wait_for(locks.lock("a"), Duration::from_millis(30)).await;
        assert!(matches!(
            waited,
            Err(DrupalError::AccountBusy { client_gone: false })
        ));
        drop(held);
        // Nobody waits any more: the account is free at once.
        assert_eq!(locks.held(), 0);
        let again = wait_for(locks.lock("a"), Duration::from_millis(30)).await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn a_client_gone_while_waiting_gets_no_turn() {
        let locks = AccountLocks::default();
        let held = locks.lock("a").await;
        let link = Arc::new(ClientLink::default());
        let waiting = serving(
            link.clone(),
            wait_for(locks.lock("a"), Duration::from_secs(30)),
        );
        let leave = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            link.depart();
        };
        let (waited, ()) = tokio::join!(waiting, leave);
        assert!(matches!(
            waited,
            Err(DrupalError::AccountBusy { client_gone: true })
        ));
        drop(held);
        assert_eq!(locks.held(), 0);
        // Gone before it asked: no turn either.
        let waited = serving(link, wait_for(async {}, Duration::from_secs(1))).await;
        assert!(waited.is_err());
    }
}
