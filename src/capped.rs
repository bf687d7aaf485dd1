//! Reading an HTTP answer's body up to a limit: Drupal's answers and a
//! JWKS come from servers the bridge does not control, and one answer
//! that never ends must not take the process's memory.

/// Why a capped read stopped.
#[derive(Debug)]
pub enum CappedError {
    /// The body is longer than the limit: `seen` bytes, by its
    /// `Content-Length` when `announced`, else read so far.
    TooLong { seen: u64, announced: bool },
    /// The connection failed while the body was read.
    Transport(reqwest::Error),
}

/// The body of `response`, at most `limit` bytes: refused at once when its
/// `Content-Length` says more, else read in chunks and refused past the
/// limit, so that no more than the limit and one chunk is ever held.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, CappedError> {
    let announced = response.content_length();
    if let Some(seen) = announced.filter(|&n| n > limit as u64) {
        return Err(CappedError::TooLong {
            seen,
            announced: true,
        });
    }
    let expected = announced.map_or(0, |n| usize::try_from(n).unwrap_or(limit));
    let mut body = Vec::with_capacity(expected.min(limit));
    while let Some(chunk) = response.chunk().await.map_err(CappedError::Transport)? {
        let seen = body.len().saturating_add(chunk.len());
        if seen > limit {
            return Err(CappedError::TooLong {
                seen: seen as u64,
                announced: false,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
