//! The answers the HTTP/1 codec gives on its own, before any of the
//! bridge's code runs, as SCIM error documents.
//!
//! actix-http answers a request it cannot parse (a control character in a
//! header, a URL over 64 KiB), one whose head is too large or has too many
//! headers (431), and one whose headers do not arrive in time (408) with an
//! empty body and no `Content-Type`, then closes the connection. No
//! middleware sees these requests, and actix offers no hook for them.
//!
//! So the connection's write side is watched instead: [`ScimErrors`] wraps
//! each accepted socket, follows the responses written to it (their heads
//! and `Content-Length`), and rewrites exactly those answers, which the
//! application itself never gives (its errors are SCIM documents, its
//! fallback route included): a 4xx or 5xx with `content-length: 0` and no
//! `Content-Type`. Every other byte passes
//! unchanged. Watching the output rather than pre-parsing the input means
//! the codec stays the one judge of what is valid HTTP, and whatever it
//! refuses, today or after an upgrade, gets a SCIM body. When the stream
//! stops looking like the responses expected (a chunked body, an unknown
//! shape), the wrapper stops watching that connection and passes bytes
//! through.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::SCIM_CONTENT_TYPE;
use crate::scim::error::ScimError;

/// The header the HEAD handling (`error::scim_rejections`) puts on the
/// answer to a HEAD, whose body it dropped: the GET's body length. Taken
/// out here and written as the answer's Content-Length, so no client sees
/// it and the HEAD says the GET's length (RFC 9110 §8.6).
pub const HEAD_ANSWER: &str = "x-scim-bridge-head-answer";

/// A response head longer than this is not watched.
const MAX_HEAD: usize = 16 * 1024;

/// A socket whose framework error answers are rewritten as SCIM errors.
pub struct ScimErrors<IO> {
    io: IO,
    state: State,
    /// Bytes accepted from the writer and not yet written to `io`.
    pending: Vec<u8>,
    written: usize,
    /// The answer being written says `Connection: close`.
    closing: bool,
    /// Such an answer was written whole: reads see the end of the stream,
    /// so the server closes the connection even while a request body it
    /// never read is still announced (a chunked body that never comes);
    /// and nothing more is written, not even an answer to a request the
    /// client pipelined behind it (RFC 9112 §9.6, see `closing`).
    ended: bool,
    /// The reader waiting for bytes, woken when the stream ends here.
    reader: Option<std::task::Waker>,
    /// What the connection's `closing::Closing` reads of the answers
    /// written: whether one said `Connection: close`, so that no request
    /// after it runs, and how many there were.
    seen: Arc<AnswersSeen>,
    /// Counts the codec's refusals, when given.
    refused: Option<Counter>,
}

/// The answers a connection's watcher has read the heads of.
#[derive(Debug, Default)]
pub struct AnswersSeen {
    closed: AtomicBool,
    /// Final answers (status 200 and up), the codec's own included.
    heads: AtomicUsize,
    /// Told when the client closes or resets the connection: a write
    /// still waiting for its turn is then not sent (`provisioning::turns`).
    client: Arc<crate::provisioning::turns::ClientLink>,
}

impl AnswersSeen {
    /// An answer saying `Connection: close` was written (its head).
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// The connection is to close: a request asked so.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// How many final answers were written (their heads).
    pub fn answers(&self) -> usize {
        self.heads.load(Ordering::Relaxed)
    }

    /// Whether the client is still there, as the connection's reader saw.
    pub fn client(&self) -> Arc<crate::provisioning::turns::ClientLink> {
        self.client.clone()
    }
}

#[derive(Debug)]
enum State {
    /// At the start of a response (or inside its head, held here until
    /// it ends).
    Head(Vec<u8>),
    /// This many bytes pass unchanged before the next response starts:
    /// the rest of a head already judged, and its body.
    Through(usize),
    /// No longer watched.
    Passthrough,
}

impl<IO> ScimErrors<IO> {
    pub fn new(io: IO) -> ScimErrors<IO> {
        ScimErrors {
            io,
            state: State::Head(Vec::new()),
            pending: Vec::new(),
            written: 0,
            closing: false,
            ended: false,
            reader: None,
            seen: Arc::default(),
            refused: None,
        }
    }

    /// Counts each answer of the codec's own (a refused request) in
    /// `refused`.
    pub fn counting(mut self, refused: Counter) -> ScimErrors<IO> {
        self.refused = Some(refused);
        self
    }

    /// What the connection's requests may know of the answers written.
    pub fn seen(&self) -> Arc<AnswersSeen> {
        self.seen.clone()
    }

    /// The head of `response` was just read: whether it closes the
    /// connection, and one more final answer.
    fn head_read(&mut self, response: &Response) {
        self.closing = response.closes;
        if response.closes {
            self.seen.closed.store(true, Ordering::Relaxed);
        }
        if response.status >= 200 {
            self.seen.heads.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The answer now being written has ended.
    fn answer_ended(&mut self) {
        self.state = State::Head(Vec::new());
        if self.closing {
            self.end_reads();
        }
    }

    /// Reads see the end of the stream from now on; a waiting reader is
    /// told at once.
    fn end_reads(&mut self) {
        self.ended = true;
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
    }

    /// The socket beneath.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// How many bytes at the start of `buf` pass unchanged, when they can
    /// be written as they are: inside an answer already judged, or at the
    /// start of one whose whole head is in `buf` and is not rewritten.
    /// `None` when `buf` must go through [`ScimErrors::transform`].
    fn unchanged(&mut self, buf: &[u8]) -> Option<usize> {
        match &self.state {
            State::Passthrough => Some(buf.len()),
            State::Through(left) => Some((*left).min(buf.len())),
            State::Head(held) if held.is_empty() && buf.starts_with(b"HTTP/1.") => {
                let (end, response) = read_head(buf)?;
                let response = response?;
                if response.is_framework_error() || response.head_of.is_some() {
                    return None;
                }
                self.head_read(&response);
                self.state = match response.body_length() {
                    Some(length) => State::Through(end + length),
                    None => State::Passthrough,
                };
                self.unchanged(buf)
            }
            State::Head(_) => None,
        }
    }

    /// `n` bytes that passed unchanged were written.
    fn passed(&mut self, n: usize) {
        if let State::Through(left) = &mut self.state {
            *left -= n.min(*left);
            if *left == 0 {
                self.answer_ended();
            }
        }
    }

    /// Follows `bytes`, appending what must be written to `pending`.
    fn transform(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.ended {
            match &mut self.state {
                State::Passthrough => {
                    self.pending.extend_from_slice(bytes);
                    return;
                }
                State::Through(left) => {
                    let take = (*left).min(bytes.len());
                    self.pending.extend_from_slice(&bytes[..take]);
                    *left -= take;
                    if *left == 0 {
                        self.answer_ended();
                    }
                    bytes = &bytes[take..];
                }
                State::Head(head) => {
                    let before = head.len();
                    head.extend_from_slice(bytes);
                    let prefix = &head[..head.len().min(7)];
                    if !b"HTTP/1.".starts_with(prefix) {
                        let head = std::mem::take(head);
                        self.pending.extend_from_slice(&head);
                        self.state = State::Passthrough;
                        return;
                    }
                    let Some((end, response)) = read_head(head) else {
                        if head.len() > MAX_HEAD {
                            let head = std::mem::take(head);
                            self.pending.extend_from_slice(&head);
                            self.state = State::Passthrough;
                        }
                        return;
                    };
                    let head = std::mem::take(head);
                    let consumed = end - before;
                    let next = match response {
                        Some(response) => {
                            if response.is_framework_error() && response.head_of.is_none() {
                                if let Some(refused) = &self.refused {
                                    refused.inc();
                                }
                            }
                            match response.rewritten(&head[..end]) {
                                Some(scim) => self.pending.extend_from_slice(&scim),
                                None => self.pending.extend_from_slice(&head[..end]),
                            }
                            self.head_read(&response);
                            match response.body_length() {
                                Some(0) => {
                                    if self.closing {
                                        self.end_reads();
                                    }
                                    State::Head(Vec::new())
                                }
                                Some(n) => State::Through(n),
                                None => State::Passthrough,
                            }
                        }
                        None => {
                            self.pending.extend_from_slice(&head[..end]);
                            State::Passthrough
                        }
                    };
                    self.state = next;
                    bytes = &bytes[consumed..];
                }
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> ScimErrors<IO> {
    /// Writes `pending` to the socket; ready once all of it is written.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ScimErrors<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        match &read {
            Poll::Pending => this.reader = Some(cx.waker().clone()),
            // The end of the stream (nothing read into room there was), or
            // a reset: the client has gone. actix keeps polling the reader
            // while a request is handled, so this is seen at once.
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                this.seen.client.depart()
            }
            Poll::Ready(Err(_)) => this.seen.client.depart(),
            Poll::Ready(Ok(())) => {}
        }
        read
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ScimErrors<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        if this.ended {
            // After the answer that closed the connection: dropped.
            return Poll::Ready(Ok(buf.len()));
        }
        if let Some(through) = this.unchanged(buf) {
            // Straight to the socket: no copy of what passes unchanged,
            // which is every answer but the framework's own errors.
            let written = Pin::new(&mut this.io).poll_write(cx, &buf[..through]);
            if let Poll::Ready(Ok(n)) = written {
                this.passed(n);
            }
            return written;
        }
        this.transform(buf);
        // What cannot be written now is written by the next write or the
        // flush that follows (the waker is registered).
        if let Poll::Ready(Err(e)) = this.drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A head held back because it never ended goes out as it is.
        if let State::Head(head) = &mut this.state {
            let head = std::mem::take(head);
            this.pending.extend_from_slice(&head);
        }
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_shutdown(cx),
            other => other,
        }
    }
}

/// The head at the start of `bytes`, read in one pass over its bytes (no
/// text conversion: this runs on every answer): where it ends (after its
/// blank line) and what it says, `None` when it cannot be read. `None`
/// while the head has not ended. Line ends and colons are found with
/// `memchr`, several bytes at a time: a byte-by-byte search was most of
/// the wrapper's cost on every answer.
fn read_head(bytes: &[u8]) -> Option<(usize, Option<Response>)> {
    let mut response = None;
    let mut start = 0;
    loop {
        let at = start + memchr::memchr(b'\n', &bytes[start..])?;
        if at >= 3 && &bytes[at - 3..=at] == b"\r\n\r\n" {
            return Some((at + 1, response));
        }
        let line = &bytes[start..at];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if start == 0 {
            response = Response::of_status_line(line);
        } else if !line.is_empty() {
            response = response.and_then(|r| r.with_header(line));
        }
        start = at + 1;
    }
}

/// `bytes` without the ASCII whitespace around it.
fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(start), Some(end)) => &bytes[start..=end],
        _ => &[],
    }
}

/// A decimal number of ASCII digits only, as `str::parse` reads it.
fn number<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// What the watcher needs of a response head.
#[derive(Debug, PartialEq)]
struct Response {
    status: u16,
    content_length: Option<usize>,
    chunked: bool,
    content_type: bool,
    /// `Connection: close`, or HTTP/1.0 without keep-alive.
    closes: bool,
    /// Answers a HEAD: the GET's body length, for Content-Length.
    head_of: Option<usize>,
}

impl Response {
    /// The response a status line (`HTTP/1.1 200 OK`) starts.
    fn of_status_line(line: &[u8]) -> Option<Response> {
        Some(Response {
            status: number(line.split(|&b| b == b' ').nth(1)?)?,
            content_length: None,
            chunked: false,
            content_type: false,
            // HTTP/1.0 closes unless the answer says keep-alive (RFC
            // 9112 §9.3); the codec writes no `Connection: close` then.
            closes: line.starts_with(b"HTTP/1.0"),
            head_of: None,
        })
    }

    /// The response with one more header line; `None` when it cannot be
    /// read (no colon, a length that is not a number).
    fn with_header(mut self, line: &[u8]) -> Option<Response> {
        let colon = memchr::memchr(b':', line)?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"content-length") {
            self.content_length = Some(number(trim(value))?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.chunked = true;
        } else if name.eq_ignore_ascii_case(b"content-type") {
            self.content_type = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            self.closes = trim(value).eq_ignore_ascii_case(b"close");
        } else if name.eq_ignore_ascii_case(HEAD_ANSWER.as_bytes()) {
            self.head_of = Some(number(trim(value))?);
        }
        Some(self)
    }

    /// The codec's own answer: an error with an empty body and no type,
    /// which the application never gives.
    fn is_framework_error(&self) -> bool {
        self.status >= 400 && self.content_length == Some(0) && !self.content_type
    }

    /// Bytes of body that follow the head; `None` when unknown.
    fn body_length(&self) -> Option<usize> {
        if self.status < 200 || self.status == 204 || self.status == 304 {
            return Some(0);
        }
        if self.chunked {
            return None;
        }
        self.content_length
    }

    /// The framework's own empty error answer, as a SCIM error.
    fn rewritten(&self, head: &[u8]) -> Option<Vec<u8>> {
        if let Some(length) = self.head_of {
            return Some(head_answer(head, length));
        }
        if !self.is_framework_error() {
            return None;
        }
        let body = ScimError::new(self.status, None, detail(self.status))
            .to_json()
            .to_string();
        let text = std::str::from_utf8(head).ok()?;
        let mut out = String::with_capacity(head.len() + body.len() + 64);
        for line in text.split("\r\n").filter(|l| !l.is_empty()) {
            let is_length = line
                .split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case("content-length"));
            if !is_length {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str(&format!(
            "content-type: {SCIM_CONTENT_TYPE}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ));
        Some(out.into_bytes())
    }
}

/// The head of a HEAD's answer: Content-Length says `length`, the GET's,
/// and the header that carried it is gone.
fn head_answer(head: &[u8], length: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len());
    for line in head.split_inclusive(|&b| b == b'\n') {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if name.eq_ignore_ascii_case(b"content-length") {
            out.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
        } else if !name.eq_ignore_ascii_case(HEAD_ANSWER.as_bytes()) {
            out.extend_from_slice(line);
        }
    }
    out
}

/// What a person can do about a request the framework refused.
fn detail(status: u16) -> String {
    match status {
        400 => "The request is not valid HTTP/1.1 and was not read: check the request line and the headers (a header value holding a control character such as a newline, a URL longer than 64 KiB, or a malformed header). The connection is closed.".into(),
        408 => "The request's headers did not arrive in time (server.header_timeout_secs). The connection is closed.".into(),
        413 => "The request is larger than this bridge accepts. The connection is closed.".into(),
        431 => "The request's headers are too large or too many for this bridge: at most 96 headers and 128 KiB in all. The connection is closed.".into(),
        500 => "The request could not be handled. The connection is closed.".into(),
        other => format!("The request was refused ({other}). The connection is closed."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(chunks: &[&[u8]]) -> Vec<u8> {
        let mut watcher = ScimErrors::new(());
        for chunk in chunks {
            watcher.transform(chunk);
        }
        watcher.pending
    }

    const EMPTY_400: &[u8] =
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: Sun, 06 Dec 2026 11:00:00 GMT\r\n\r\n";

    #[test]
    fn the_frameworks_empty_error_becomes_a_scim_error() {
        let out = String::from_utf8(through(&[EMPTY_400])).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/scim+json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["status"], "400");
        assert!(json["detail"]
            .as_str()
            .unwrap()
            .contains("control character"));
    }

    #[test]
    fn the_applications_answers_pass_unchanged_in_any_pieces() {
        let scim = b"HTTP/1.1 404 Not Found\r\ncontent-length: 13\r\ncontent-type: application/scim+json\r\n\r\n{\"status\":1}\n";
        let empty_ok = b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n";
        let head = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\ncontent-type: application/scim+json\r\n\r\n";
        let mut all = Vec::new();
        all.extend_from_slice(scim);
        all.extend_from_slice(empty_ok);
        all.extend_from_slice(head);
        assert_eq!(through(&[&all]), all);
        let pieces: Vec<&[u8]> = all.chunks(7).collect();
        assert_eq!(through(&pieces), all);
    }

    #[test]
    fn a_head_answer_says_the_gets_length_loses_the_mark_and_the_next_answer_is_watched() {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n{HEAD_ANSWER}: 512\r\netag: W/\"1\"\r\n\r\n"
        );
        let mut all = head.clone().into_bytes();
        all.extend_from_slice(EMPTY_400);
        for pieces in [vec![&all[..]], all.chunks(5).collect()] {
            let out = String::from_utf8(through(&pieces)).unwrap();
            let (first, rest) = out.split_once("\r\n\r\n").unwrap();
            assert_eq!(
                first, "HTTP/1.1 200 OK\r\ncontent-length: 512\r\netag: W/\"1\"",
                "{out}"
            );
            // No body was counted for the HEAD: the 400 after it is seen.
            assert!(rest.starts_with("HTTP/1.1 400"), "{out}");
            assert!(rest.contains("application/scim+json"), "{out}");
        }
    }

    #[test]
    fn the_codecs_refusals_are_counted_and_nothing_else() {
        let refused = Counter::default();
        let mut watcher = ScimErrors::new(()).counting(refused.clone());
        watcher.transform(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        watcher.transform(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\ncontent-type: application/scim+json\r\n\r\n",
        );
        assert_eq!(refused.get(), 0);
        watcher.transform(EMPTY_400);
        assert_eq!(refused.get(), 1);
    }

    #[test]
    fn an_error_after_other_responses_on_the_connection_is_rewritten_too() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let mut all = ok.to_vec();
        all.extend_from_slice(EMPTY_400);
        let out = through(&[&all]);
        assert!(out.starts_with(ok));
        assert!(String::from_utf8_lossy(&out).contains("application/scim+json"));
    }

    /// A socket that takes at most `per_write` bytes a write.
    struct Trickle {
        out: Vec<u8>,
        per_write: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.per_write);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// What reaches a socket taking `per_write` bytes a write when the
    /// codec writes `chunks`, through `poll_write` as the codec calls it.
    async fn socket_gets(chunks: &[&[u8]], per_write: usize) -> Vec<u8> {
        use tokio::io::AsyncWriteExt;
        let mut socket = ScimErrors::new(Trickle {
            out: Vec::new(),
            per_write,
        });
        for chunk in chunks {
            socket.write_all(chunk).await.unwrap();
        }
        socket.flush().await.unwrap();
        socket.io.out
    }

    #[tokio::test]
    async fn answers_written_straight_to_the_socket_are_followed_as_when_copied() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/scim+json\r\n\r\nok";
        let not_modified = b"HTTP/1.1 304 Not Modified\r\netag: W/\"1\"\r\n\r\n";
        let mut all = ok.to_vec();
        all.extend_from_slice(not_modified);
        all.extend_from_slice(ok);
        all.extend_from_slice(EMPTY_400);
        let copied = through(&[&all]);
        assert!(
            String::from_utf8_lossy(&copied).contains("application/scim+json\r\ncontent-length")
        );
        for per_write in [1, 3, 7, 50, 4096] {
            assert_eq!(socket_gets(&[&all], per_write).await, copied, "{per_write}");
            let pieces: Vec<&[u8]> = all.chunks(per_write.max(2)).collect();
            assert_eq!(socket_gets(&pieces, per_write).await, copied, "{per_write}");
        }
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        let mut after_chunked = chunked.to_vec();
        after_chunked.extend_from_slice(EMPTY_400);
        assert_eq!(socket_gets(&[&after_chunked], 5).await, after_chunked);
    }

    #[tokio::test]
    async fn nothing_is_written_after_an_answer_that_closes_the_connection() {
        let closing = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
        let next = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nno";
        let mut all = closing.to_vec();
        all.extend_from_slice(next);
        assert_eq!(through(&[&all]), closing);
        assert_eq!(through(&[&all[..30], &all[30..]]), closing);
        for per_write in [1, 7, 4096] {
            assert_eq!(
                socket_gets(&[&all], per_write).await,
                closing,
                "{per_write}"
            );
            assert_eq!(
                socket_gets(&[closing, next], per_write).await,
                closing,
                "{per_write}"
            );
        }
        let old = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let mut after_old = old.to_vec();
        after_old.extend_from_slice(next);
        assert_eq!(through(&[&after_old]), old);
        let kept = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok";
        let mut after_kept = kept.to_vec();
        after_kept.extend_from_slice(next);
        assert_eq!(through(&[&after_kept]), after_kept);
        let mut watcher = ScimErrors::new(());
        let seen = watcher.seen();
        watcher.transform(b"HTTP/1.1 100 Continue\r\n\r\n");
        watcher.transform(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert!(!seen.closed());
        assert_eq!(seen.answers(), 1, "the interim 100 is no answer");
        watcher.transform(&closing[..closing.len() - 1]);
        assert!(seen.closed(), "known from the head");
        assert_eq!(seen.answers(), 2);
        let mut after_error = EMPTY_400.to_vec();
        after_error.extend_from_slice(next);
        assert!(!String::from_utf8_lossy(&through(&[&after_error])).contains("201"));
    }

    #[test]
    fn heads_are_read_as_bytes() {
        let head = b"HTTP/1.1 404 Not Found\r\nContent-Length:  12 \r\nx-note: caf\xc3\r\nContent-Type: a/b\r\n\r\n";
        let parse = |head: &[u8]| read_head(head).and_then(|(_, response)| response);
        assert_eq!(read_head(head).map(|(end, _)| end), Some(head.len()));
        assert_eq!(read_head(b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(
            read_head(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1").map(|(end, _)| end),
            Some(27)
        );
        assert_eq!(
            parse(head),
            Some(Response {
                status: 404,
                content_length: Some(12),
                chunked: false,
                content_type: true,
                closes: false,
                head_of: None,
            })
        );
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), None);
        assert_eq!(parse(b"HTTP/1.1 2x0 OK\r\n\r\n"), None);
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"),
            None
        );
    }

    #[test]
    fn what_cannot_be_followed_passes_through() {
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        let mut all = chunked.to_vec();
        all.extend_from_slice(EMPTY_400);
        assert_eq!(through(&[&all]), all, "not watched after a chunked body");
        assert_eq!(through(&[b"garbage\r\n\r\n"]), b"garbage\r\n\r\n");
    }
}
