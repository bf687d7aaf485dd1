//! Injected faults for resilience tests: latency, error answers, dropped
//! connections, cut-off bodies and bodies that trickle in.

use std::sync::Arc;
use std::time::Duration;

/// An answer as the stand-in is about to send it, for a test to rewrite:
/// a hostile or broken Drupal, or a proxy in front of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`null` when it is none).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn set_json(&mut self, body: &serde_json::Value) {
        self.body = serde_json::to_vec(body).unwrap_or_default();
    }

    /// Replaces the header `name` (any case) with `value`.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }
}

/// A test's rewrite of the answers to one method and path.
#[derive(Clone)]
pub(crate) struct Rewrite(pub(crate) Arc<dyn Fn(&mut Answer) + Send + Sync>);

impl std::fmt::Debug for Rewrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rewrite")
    }
}

/// An answer of `bytes` bytes streamed in place of the real one, with a
/// `Content-Length` when `announced`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Padded {
    pub(crate) bytes: u64,
    pub(crate) announced: bool,
}

/// What to do with the next request before handling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answer with this status and a Drupal-like error body; nothing is changed.
    Fail(u16),
    /// Drop the connection without a complete response; nothing is changed.
    Reset,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) latency: Duration,
    /// How many requests the site serves at once, and how fast.
    pub(crate) workers: std::sync::Arc<super::capacity::Workers>,
    failures: u32,
    failure_status: u16,
    resets: u32,
    malformed: u32,
    /// Requests handled whose answer is then replaced by an error with
    /// this status: a proxy's 502 or 504 after Drupal wrote, or Drupal's
    /// own 500 from a hook after its save.
    failures_after: u32,
    failure_after_status: u16,
    /// Paths that fail every time, with their status: a fault that hits
    /// chosen accounts however requests interleave.
    failing_paths: Vec<(String, u16)>,
    /// Requests of a method to paths under a prefix that fail every time,
    /// with their status: e.g. every term DELETE.
    failing_under: Vec<(String, String, u16)>,
    slow_bodies: u32,
    body_delay: Duration,
    /// Requests (method, path) a stopped site holds, then handles once it
    /// resumes, whether or not their client still waits.
    held: Vec<(String, String, Duration)>,
    /// Requests (method, path) handled once each, then answered with the
    /// status instead of their own answer: a write applied whose answer a
    /// failing Drupal or gateway lost.
    lost_answers: Vec<(String, String, u16)>,
    /// Requests handled, then answered with their own answer plus a
    /// `Set-Cookie` deleting the session cookie, as Drupal does when the
    /// session it was sent ended meanwhile.
    sessions_ended_after: u32,
    /// The `Retry-After` every injected failure answer carries, if any.
    failure_retry_after: Option<String>,
    /// Answers (method, path) rewritten after handling, every time.
    rewrites: Vec<(String, String, Rewrite)>,
    /// Answers (method, path) replaced by a long streamed body, every time.
    padded: Vec<(String, String, Padded)>,
}

impl Faults {
    pub(crate) fn fail_next(&mut self, count: u32, status: u16) {
        self.failures = count;
        self.failure_status = status;
    }

    pub(crate) fn reset_next(&mut self, count: u32) {
        self.resets = count;
    }

    pub(crate) fn malformed_next(&mut self, count: u32) {
        self.malformed = count;
    }

    pub(crate) fn fail_after_handling_next(&mut self, count: u32, status: u16) {
        self.failures_after = count;
        self.failure_after_status = status;
    }

    pub(crate) fn end_session_after_handling_next(&mut self, count: u32) {
        self.sessions_ended_after = count;
    }

    /// Whether the next answer, once its request is handled, must delete
    /// the session cookie.
    pub(crate) fn take_session_ended_after(&mut self) -> bool {
        if self.sessions_ended_after > 0 {
            self.sessions_ended_after -= 1;
            return true;
        }
        false
    }

    pub(crate) fn set_failure_retry_after(&mut self, value: Option<&str>) {
        self.failure_retry_after = value.map(str::to_string);
    }

    pub(crate) fn failure_retry_after(&self) -> Option<String> {
        self.failure_retry_after.clone()
    }

    /// The status replacing the next answer, after its request is handled.
    pub(crate) fn take_failure_after(&mut self) -> Option<u16> {
        if self.failures_after > 0 {
            self.failures_after -= 1;
            return Some(self.failure_after_status);
        }
        None
    }

    pub(crate) fn slow_body_next(&mut self, count: u32, delay: Duration) {
        self.slow_bodies = count;
        self.body_delay = delay;
    }

    /// How long the next response body stalls halfway, if it must.
    pub(crate) fn take_slow_body(&mut self) -> Option<Duration> {
        if self.slow_bodies > 0 {
            self.slow_bodies -= 1;
            return Some(self.body_delay);
        }
        None
    }

    /// A zero `delay` stops holding them.
    pub(crate) fn hold(&mut self, method: &str, path: &str, delay: Duration) {
        self.held.retain(|(m, p, _)| m != method || p != path);
        if !delay.is_zero() {
            self.held
                .push((method.to_string(), path.to_string(), delay));
        }
    }

    /// How long a request of `method` to `path` is held before it is
    /// handled, if it is.
    pub(crate) fn held_for(&self, method: &str, path: &str) -> Option<Duration> {
        self.held
            .iter()
            .find(|(m, p, _)| m == method && p == path)
            .map(|(_, _, delay)| *delay)
    }

    pub(crate) fn fail_path(&mut self, path: &str, status: u16) {
        self.failing_paths.push((path.to_string(), status));
    }

    pub(crate) fn lose_answer(&mut self, method: &str, path: &str, status: u16) {
        self.lost_answers
            .push((method.to_string(), path.to_string(), status));
    }

    /// The status to answer a request of `method` to `path` with once it
    /// is handled, if its answer must be lost; consumed.
    pub(crate) fn take_lost_answer(&mut self, method: &str, path: &str) -> Option<u16> {
        let at = self
            .lost_answers
            .iter()
            .position(|(m, p, _)| m == method && p == path)?;
        Some(self.lost_answers.remove(at).2)
    }

    /// `None` stops rewriting them.
    pub(crate) fn rewrite(&mut self, method: &str, path: &str, rewrite: Option<Rewrite>) {
        self.rewrites.retain(|(m, p, _)| m != method || p != path);
        if let Some(rewrite) = rewrite {
            self.rewrites
                .push((method.to_string(), path.to_string(), rewrite));
        }
    }

    pub(crate) fn rewrite_for(&self, method: &str, path: &str) -> Option<Rewrite> {
        self.rewrites
            .iter()
            .find(|(m, p, _)| m == method && p == path)
            .map(|(_, _, rewrite)| rewrite.clone())
    }

    /// `None` stops padding them.
    pub(crate) fn pad(&mut self, method: &str, path: &str, padded: Option<Padded>) {
        self.padded.retain(|(m, p, _)| m != method || p != path);
        if let Some(padded) = padded {
            self.padded
                .push((method.to_string(), path.to_string(), padded));
        }
    }

    pub(crate) fn padded_for(&self, method: &str, path: &str) -> Option<Padded> {
        self.padded
            .iter()
            .find(|(m, p, _)| m == method && p == path)
            .map(|(_, _, padded)| *padded)
    }

    pub(crate) fn heal_path(&mut self, path: &str) {
        self.failing_paths.retain(|(p, _)| p != path);
    }

    pub(crate) fn fail_under(&mut self, method: &str, prefix: &str, status: u16) {
        self.failing_under
            .push((method.to_string(), prefix.to_string(), status));
    }

    pub(crate) fn heal_under(&mut self, method: &str, prefix: &str) {
        self.failing_under
            .retain(|(m, p, _)| m != method || p != prefix);
    }

    /// Consumes the fault (if any) that applies to the next request, a
    /// `method` request to `path`.
    pub(crate) fn take_for(&mut self, method: &str, path: &str) -> Option<Fault> {
        if let Some((_, _, status)) = self
            .failing_under
            .iter()
            .find(|(m, p, _)| m == method && path.starts_with(p.as_str()))
        {
            return Some(Fault::Fail(*status));
        }
        self.take(path)
    }

    /// Consumes the fault (if any) that applies to the next request, which
    /// goes to `path`.
    pub(crate) fn take(&mut self, path: &str) -> Option<Fault> {
        if let Some((_, status)) = self.failing_paths.iter().find(|(p, _)| p == path) {
            return Some(Fault::Fail(*status));
        }
        if self.failures > 0 {
            self.failures -= 1;
            return Some(Fault::Fail(self.failure_status));
        }
        if self.resets > 0 {
            self.resets -= 1;
            return Some(Fault::Reset);
        }
        None
    }

    /// Whether the next response body must be cut off (the request itself is
    /// handled, so the client cannot tell whether its write happened).
    pub(crate) fn take_malformed(&mut self) -> bool {
        if self.malformed > 0 {
            self.malformed -= 1;
            return true;
        }
        false
    }
}

/// The `detail` Drupal gives for the statuses a flaky site produces.
pub(crate) fn failure_detail(status: u16) -> &'static str {
    match status {
        500 => "The website encountered an unexpected error. Try again later.",
        503 => "Drupal is currently under maintenance. We should be back shortly. Thank you for your patience.",
        429 => "Too many requests.",
        _ => "The request could not be handled.",
    }
}

/// Half of a body: still starts like JSON but cannot be parsed.
pub(crate) fn cut_off(body: &[u8]) -> Vec<u8> {
    if body.is_empty() {
        return b"{\"jsonapi\":{\"version\":".to_vec();
    }
    body.iter().take(body.len() / 2).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_consumed_before_resets_and_counted_down() {
        let mut faults = Faults::default();
        faults.fail_next(1, 503);
        faults.reset_next(1);
        assert_eq!(faults.take("/x"), Some(Fault::Fail(503)));
        assert_eq!(faults.take("/x"), Some(Fault::Reset));
        assert_eq!(faults.take("/x"), None);
    }

    #[test]
    fn a_failing_path_fails_every_time_and_only_there() {
        let mut faults = Faults::default();
        faults.fail_path("/jsonapi/user/user/a/relationships/roles", 500);
        for _ in 0..3 {
            assert_eq!(
                faults.take("/jsonapi/user/user/a/relationships/roles"),
                Some(Fault::Fail(500))
            );
        }
        assert_eq!(
            faults.take("/jsonapi/user/user/b/relationships/roles"),
            None
        );
    }

    #[test]
    fn malformed_bodies_do_not_parse() {
        let mut faults = Faults::default();
        faults.malformed_next(1);
        assert!(faults.take_malformed());
        assert!(!faults.take_malformed());
        let cut = cut_off(br#"{"data":{"id":"x"}}"#);
        assert!(serde_json::from_slice::<serde_json::Value>(&cut).is_err());
        assert!(serde_json::from_slice::<serde_json::Value>(&cut_off(b"")).is_err());
    }

    #[test]
    fn slow_bodies_are_counted_down_with_their_delay() {
        let mut faults = Faults::default();
        faults.slow_body_next(1, Duration::from_millis(5));
        assert_eq!(faults.take_slow_body(), Some(Duration::from_millis(5)));
        assert_eq!(faults.take_slow_body(), None);
    }
}
