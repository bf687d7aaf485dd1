//! The requests the stand-in received, for tests to count and inspect.

use std::collections::VecDeque;

use super::LoggedRequest;

/// How many of the latest requests are kept: far more than any test sends
/// between two looks, and a bound for a demo left running under load (the
/// log used to grow by every request, for as long as the process lived).
const KEPT: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    kept: VecDeque<LoggedRequest>,
    /// Every request since the last clear, kept or not.
    received: usize,
}

impl RequestLog {
    pub(crate) fn push(&mut self, request: LoggedRequest) {
        if self.kept.len() == KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(request);
        self.received += 1;
    }

    /// The latest requests (at most `KEPT`), oldest first.
    pub(crate) fn latest(&self) -> Vec<LoggedRequest> {
        self.kept.iter().cloned().collect()
    }

    pub(crate) fn received(&self) -> usize {
        self.received
    }

    pub(crate) fn clear(&mut self) {
        self.kept.clear();
        self.received = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::AuthKind;

    fn request(n: usize) -> LoggedRequest {
        LoggedRequest {
            method: "GET".into(),
            path: format!("/jsonapi/user/user/{n}"),
            query: String::new(),
            auth: AuthKind::None,
        }
    }

    #[test]
    fn keeps_the_latest_requests_and_counts_them_all() {
        let mut log = RequestLog::default();
        for n in 0..KEPT + 5 {
            log.push(request(n));
        }
        let latest = log.latest();
        assert_eq!(latest.len(), KEPT);
        assert_eq!(latest[0], request(5), "the oldest five were dropped");
        assert_eq!(latest[KEPT - 1], request(KEPT + 4));
        assert_eq!(log.received(), KEPT + 5);

        log.clear();
        assert!(log.latest().is_empty());
        assert_eq!(log.received(), 0);
    }
}
