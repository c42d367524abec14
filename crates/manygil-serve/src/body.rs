//! The request body, pulled from the connection when a worker reads it.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::runtime::Handle;

use crate::cancel::{Cancel, CancelReason};

/// Why a body read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body grew past [`crate::Config::max_body`] bytes.
    TooLarge(u64),
    /// The client sent nothing for [`crate::Config::body_timeout`].
    Timeout(Duration),
    /// The request was cancelled.
    Cancelled(CancelReason),
    /// The body is not valid HTTP/1.1 framing (e.g. a bad chunk size): the client's fault,
    /// answered 400 (the connection cannot carry another request).
    Malformed(String),
    /// The connection failed (e.g. closed in the middle of the body).
    Broken(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge(n) => write!(f, "request body larger than the limit of {n} bytes"),
            BodyError::Timeout(d) => {
                write!(
                    f,
                    "client sent no request body data for {:.1} s",
                    d.as_secs_f64()
                )
            }
            BodyError::Cancelled(r) => write!(f, "request cancelled ({r:?})"),
            BodyError::Malformed(m) => write!(f, "malformed request body: {m}"),
            BodyError::Broken(m) => write!(f, "request body could not be read: {m}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// Reads a request body on a worker thread (blocking), from the connection served by an
/// I/O thread. The first read of a request that sent `Expect: 100-continue` makes the
/// server send `100 Continue`.
///
/// Must not be used on a thread of the front's runtime (it blocks on it).
pub struct BodyReader {
    /// The body stream; `None` once it ended (or failed: `failed` says how).
    incoming: Option<Incoming>,
    /// Data received but not yet returned.
    pending: Bytes,
    /// Bytes received so far (returned or pending).
    received: u64,
    /// [`crate::Config::max_body`].
    limit: u64,
    /// [`crate::Config::body_timeout`].
    timeout: Duration,
    /// A read error, repeated by every later read.
    failed: Option<BodyError>,
    /// Cancellation of this request (wakes a blocked read).
    cancel: Arc<Cancel>,
    /// The front's runtime, which drives the connection.
    handle: Handle,
}

impl std::fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyReader")
            .field("received", &self.received)
            .field("ended", &self.incoming.is_none())
            .finish()
    }
}

impl BodyReader {
    pub(crate) fn new(
        incoming: Incoming,
        limit: u64,
        timeout: Duration,
        cancel: Arc<Cancel>,
        handle: Handle,
    ) -> BodyReader {
        use hyper::body::Body;
        let ended = incoming.is_end_stream();
        BodyReader {
            incoming: (!ended).then_some(incoming),
            pending: Bytes::new(),
            received: 0,
            limit,
            timeout,
            failed: None,
            cancel,
            handle,
        }
    }

    /// Whether the body is known to be fully read (or empty).
    pub fn is_finished(&self) -> bool {
        use hyper::body::Body;
        // A body of known length whose last byte arrived is finished before the stream
        // says so (hyper knows it from the Content-Length).
        self.pending.is_empty()
            && self.failed.is_none()
            && self.incoming.as_ref().is_none_or(Incoming::is_end_stream)
    }

    /// Up to `max` bytes (at least 1 unless the body ended: empty means end of body).
    /// Blocks until data arrives.
    ///
    /// # Errors
    ///
    /// See [`BodyError`]; once a read failed, every later read fails the same way.
    pub fn read(&mut self, max: usize) -> Result<Bytes, BodyError> {
        if max == 0 {
            return Ok(Bytes::new());
        }
        if self.pending.is_empty() && !self.fill()? {
            return Ok(Bytes::new());
        }
        let n = max.min(self.pending.len());
        Ok(self.pending.split_to(n))
    }

    /// Bytes up to and including the next `\n`, at most `max` bytes (`None`: no limit);
    /// shorter only at the end of the body.
    ///
    /// # Errors
    ///
    /// See [`BodyError`].
    pub fn read_line(&mut self, max: Option<usize>) -> Result<Vec<u8>, BodyError> {
        let max = max.unwrap_or(usize::MAX);
        let mut line = Vec::new();
        while line.len() < max {
            if self.pending.is_empty() && !self.fill()? {
                break;
            }
            let room = max - line.len();
            let window = &self.pending[..room.min(self.pending.len())];
            if let Some(pos) = window.iter().position(|&b| b == b'\n') {
                line.extend_from_slice(&window[..=pos]);
                self.pending.advance(pos + 1);
                break;
            }
            let n = window.len();
            line.extend_from_slice(window);
            self.pending.advance(n);
        }
        Ok(line)
    }

    /// The rest of the body, or at most `max` bytes of it.
    ///
    /// # Errors
    ///
    /// See [`BodyError`].
    pub fn read_to_end(&mut self, max: Option<usize>) -> Result<Vec<u8>, BodyError> {
        let max = max.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        while out.len() < max {
            let chunk = self.read(max - out.len())?;
            if chunk.is_empty() {
                break;
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Wait for the next data frame into `pending`; `false` at the end of the body.
    fn fill(&mut self) -> Result<bool, BodyError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        loop {
            let Some(incoming) = self.incoming.as_mut() else {
                return Ok(false);
            };
            if let Some(r) = self.cancel.reason() {
                return Err(self.fail(BodyError::Cancelled(r)));
            }
            let cancel = &self.cancel;
            let timeout = self.timeout;
            let next = self.handle.block_on(async {
                tokio::select! {
                    frame = tokio::time::timeout(timeout, incoming.frame()) => Ok(frame),
                    reason = cancel.cancelled() => Err(reason),
                }
            });
            match next {
                Err(reason) => return Err(self.fail(BodyError::Cancelled(reason))),
                Ok(Err(_elapsed)) => return Err(self.fail(BodyError::Timeout(timeout))),
                Ok(Ok(None)) => {
                    self.incoming = None;
                    return Ok(false);
                }
                Ok(Ok(Some(Err(e)))) => return Err(self.fail(body_error(&e))),
                Ok(Ok(Some(Ok(frame)))) => {
                    // Trailers carry no data: skip them.
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    self.received += data.len() as u64;
                    if self.received > self.limit {
                        return Err(self.fail(BodyError::TooLarge(self.limit)));
                    }
                    self.pending = data;
                    return Ok(true);
                }
            }
        }
    }

    /// Record `e` as the reader's final state and drop the stream.
    fn fail(&mut self, e: BodyError) -> BodyError {
        self.incoming = None;
        self.pending = Bytes::new();
        self.failed = Some(e.clone());
        e
    }
}

/// What a failed body read means: hyper reports bad framing (chunk sizes, chunk ends) as
/// an `InvalidInput`/`InvalidData` I/O error under its own, a closed connection otherwise.
fn body_error(e: &hyper::Error) -> BodyError {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
            ) {
                return BodyError::Malformed(io.to_string());
            }
        }
        source = s.source();
    }
    BodyError::Broken(e.to_string())
}
