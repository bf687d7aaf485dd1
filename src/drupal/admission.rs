//! Admission of whole SCIM requests under the queue limit.
//!
//! One SCIM request may become many Drupal calls (a group PATCH is a
//! lookup and one write per member, several at once). Shedding some of
//! them would apply part of a request that RFC 7644 §3.5.2 wants atomic,
//! and answer 503 for what is half done. So the queue limit is applied
//! to a request once, at its first Drupal call: refused there, every call
//! of the request is refused and nothing was sent; let through (a slot or
//! a place in the queue), its further calls wait their turn for a slot in
//! the same arrival order as everyone else's, bounded by the call's
//! timeout, and are never refused for the queue's length.
//!
//! The decision lives in the task-local of the SCIM request being served
//! (`per_request`); calls made outside one (start-up checks, background
//! work) are each admitted on their own, as before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What the limiter decided for one SCIM request.
#[derive(Debug, Default)]
pub struct Ticket(Mutex<Decision>);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// No call has reached a limiter yet.
    #[default]
    Open,
    /// Let through by the limiter with this id: further calls queue
    /// without limit.
    Admitted(LimiterId),
    /// Refused by the limiter with this id: so is every further call.
    Shed(LimiterId),
}

/// Tells limiters apart (one per site).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimiterId(u64);

impl LimiterId {
    pub(crate) fn next() -> LimiterId {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        LimiterId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl Decision {
    /// Whether the limiter `id` decides (or decided) for this request.
    pub(crate) fn concerns(&self, id: LimiterId) -> bool {
        match *self {
            Decision::Open => true,
            Decision::Admitted(by) | Decision::Shed(by) => by == id,
        }
    }
}

impl Ticket {
    /// Held while a limiter decides, so that concurrent calls of one
    /// request see one decision.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Decision> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
