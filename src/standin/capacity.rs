//! A simulated capacity: the site serves `workers` requests at once, each
//! taking `service`, as PHP-FPM or `PHP_CLI_SERVER_WORKERS` do; the others
//! wait for a free worker, so past `workers` requests in flight latency
//! grows with their number while throughput stays at `workers / service`.
//! Changeable at run time, for tests of the bridge's adaptive limit.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug, Default)]
struct State {
    /// `(workers, service)`; `None`: unlimited, no service time.
    capacity: Option<(usize, Duration)>,
    busy: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Workers {
    state: Mutex<State>,
    freed: Notify,
}

/// A busy worker; dropping it frees the worker.
pub(crate) struct Busy<'a>(&'a Workers);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.lock().busy -= 1;
        self.0.freed.notify_waiters();
    }
}

impl Workers {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, `workers` at once (at least one), `service` each;
    /// `None` lifts the limit.
    pub(crate) fn set(&self, capacity: Option<(usize, Duration)>) {
        self.lock().capacity = capacity.map(|(workers, service)| (workers.max(1), service));
        // More workers may take waiting requests at once.
        self.freed.notify_waiters();
    }

    /// Waits for a free worker and spends the service time on it; `None`
    /// without a capacity. Hold the result while handling the request.
    pub(crate) async fn serve(&self) -> Option<Busy<'_>> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so that no release is missed.
            freed.as_mut().enable();
            let service = {
                let mut state = self.lock();
                let (workers, service) = state.capacity?;
                if state.busy < workers {
                    state.busy += 1;
                    Some(service)
                } else {
                    None
                }
            };
            if let Some(service) = service {
                let busy = Busy(self);
                tokio::time::sleep(service).await;
                return Some(busy);
            }
            freed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    async fn run(workers: &Arc<Workers>, requests: usize) -> Duration {
        let started = Instant::now();
        let tasks: Vec<_> = (0..requests)
            .map(|_| {
                let workers = workers.clone();
                tokio::spawn(async move {
                    let _busy = workers.serve().await;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        started.elapsed()
    }

    #[tokio::test]
    async fn past_the_workers_requests_wait_their_turn() {
        let workers = Arc::new(Workers::default());
        assert!(
            run(&workers, 8).await < Duration::from_millis(50),
            "unlimited"
        );
        workers.set(Some((2, Duration::from_millis(40))));
        let two = run(&workers, 2).await;
        let eight = run(&workers, 8).await;
        assert!(two >= Duration::from_millis(40));
        assert!(
            eight >= Duration::from_millis(160),
            "four rounds: {eight:?}"
        );
        workers.set(Some((8, Duration::from_millis(40))));
        let wider = run(&workers, 8).await;
        assert!(wider < eight, "{wider:?} vs {eight:?}");
    }
}
