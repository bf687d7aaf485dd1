//! A simulated capacity: the site serves `workers` requests at once, each
//! taking `service`, as PHP-FPM or `PHP_CLI_SERVER_WORKERS` do; the others
//! wait for a free worker, so past `workers` requests in flight latency
//! grows with their number while throughput stays at `workers / service`.
//! Changeable at run time, for tests of the bridge's adaptive limit.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Default)]
pub(crate) struct Workers {
    /// The workers and the service time; `None`: unlimited, no service time.
    /// A change gives a new pool: requests already waiting are served by
    /// the old one, as a PHP-FPM reload lets its old workers finish.
    capacity: Mutex<Option<(Arc<Semaphore>, Duration)>>,
}

/// A busy worker; dropping it frees the worker.
pub(crate) struct Busy {
    _worker: OwnedSemaphorePermit,
}

impl Workers {
    /// From now on, `workers` at once (at least one), `service` each;
    /// `None` lifts the limit.
    pub(crate) fn set(&self, capacity: Option<(usize, Duration)>) {
        *self.capacity.lock().unwrap_or_else(PoisonError::into_inner) =
            capacity.map(|(workers, service)| (Arc::new(Semaphore::new(workers.max(1))), service));
    }

    /// Waits for a free worker, in the order requests came (as a PHP
    /// server takes connections from its listen queue), and spends the
    /// service time on it; `None` without a capacity. Hold the result
    /// while handling the request.
    pub(crate) async fn serve(&self) -> Option<Busy> {
        let (pool, service) = self
            .capacity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        // The pool is never closed.
        let permit = pool.acquire_owned().await.ok()?;
        tokio::time::sleep(service).await;
        Some(Busy { _worker: permit })
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

    #[tokio::test]
    async fn waiting_requests_are_served_in_the_order_they_came() {
        let workers = Arc::new(Workers::default());
        workers.set(Some((1, Duration::from_millis(5))));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (workers, order) = (workers.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _busy = workers.serve().await;
                order.lock().unwrap().push(i);
            }));
            // Each is waiting before the next comes.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..12).collect::<Vec<_>>());
    }
}
