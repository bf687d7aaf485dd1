//! The last hour, minute by minute, for the status page: SCIM requests,
//! their errors, and Drupal's latency. Prometheus keeps history for those
//! who run it; the site owner who does not still sees the last hour.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Minutes kept.
pub const MINUTES: usize = 60;

/// One minute's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Minute {
    /// Minutes since the Unix epoch.
    pub at: u64,
    pub requests: u64,
    /// SCIM answers with status 500 or more.
    pub errors: u64,
    /// SCIM answers with status 400-499.
    pub rejected: u64,
    pub drupal_calls: u64,
    pub drupal_seconds: f64,
    pub drupal_max_seconds: f64,
}

impl Minute {
    /// Mean Drupal latency in milliseconds, if Drupal was called.
    pub fn drupal_mean_ms(&self) -> Option<f64> {
        (self.drupal_calls > 0).then(|| self.drupal_seconds * 1000.0 / self.drupal_calls as f64)
    }
}

#[derive(Default)]
pub struct History {
    minutes: Mutex<VecDeque<Minute>>,
}

fn minute_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 60
}

impl History {
    fn with_minute(&self, at: u64, change: impl FnOnce(&mut Minute)) {
        let mut minutes = self.minutes.lock().unwrap_or_else(PoisonError::into_inner);
        if minutes.back().is_none_or(|m| m.at < at) {
            minutes.push_back(Minute {
                at,
                ..Minute::default()
            });
        }
        while minutes.len() > MINUTES {
            minutes.pop_front();
        }
        // The clock may step back: such a sample counts in the latest minute.
        if let Some(last) = minutes.back_mut() {
            change(last);
        }
    }

    pub fn scim_request(&self, status: u16) {
        self.scim_request_at(minute_now(), status);
    }

    fn scim_request_at(&self, at: u64, status: u16) {
        self.with_minute(at, |m| {
            m.requests += 1;
            match status {
                500.. => m.errors += 1,
                400..=499 => m.rejected += 1,
                _ => {}
            }
        });
    }

    pub fn drupal_call(&self, latency: Duration) {
        self.drupal_call_at(minute_now(), latency);
    }

    fn drupal_call_at(&self, at: u64, latency: Duration) {
        let seconds = latency.as_secs_f64();
        self.with_minute(at, |m| {
            m.drupal_calls += 1;
            m.drupal_seconds += seconds;
            m.drupal_max_seconds = m.drupal_max_seconds.max(seconds);
        });
    }

    /// The last `MINUTES` minutes up to now, oldest first, quiet minutes
    /// included as zeros.
    pub fn last_hour(&self) -> Vec<Minute> {
        self.last_hour_at(minute_now())
    }

    fn last_hour_at(&self, now: u64) -> Vec<Minute> {
        let minutes = self.minutes.lock().unwrap_or_else(PoisonError::into_inner);
        let first = now.saturating_sub(MINUTES as u64 - 1);
        (first..=now)
            .map(|at| {
                minutes
                    .iter()
                    .find(|m| m.at == at)
                    .copied()
                    .unwrap_or(Minute {
                        at,
                        ..Minute::default()
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_minute_counts_its_own_requests_and_quiet_minutes_are_zero() {
        let history = History::default();
        history.scim_request_at(1000, 200);
        history.scim_request_at(1000, 503);
        history.scim_request_at(1002, 404);
        history.drupal_call_at(1002, Duration::from_millis(30));
        history.drupal_call_at(1002, Duration::from_millis(10));
        let hour = history.last_hour_at(1002);
        assert_eq!(hour.len(), MINUTES);
        let last = hour[MINUTES - 1];
        assert_eq!((last.requests, last.rejected, last.errors), (1, 1, 0));
        assert_eq!(last.drupal_mean_ms().map(|ms| ms.round()), Some(20.0));
        assert_eq!(hour[MINUTES - 2].requests, 0);
        assert_eq!(
            (hour[MINUTES - 3].requests, hour[MINUTES - 3].errors),
            (2, 1)
        );
    }

    #[test]
    fn only_the_last_hour_is_kept() {
        let history = History::default();
        for at in 0..200 {
            history.scim_request_at(at, 200);
        }
        assert!(history.minutes.lock().unwrap().len() <= MINUTES);
        assert_eq!(history.last_hour_at(199)[0].at, 140);
    }
}
