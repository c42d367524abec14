//! A worker's answer: the head, then the body in one piece or as a bounded stream.

use std::sync::Arc;

use bytes::Bytes;
use hyper::ext::ReasonPhrase;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, StatusCode};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::cancel::Cancel;

/// Why a response head is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// The status line is not `NNN reason` with NNN in 100..=999.
    Status(String),
    /// A header name is not a valid token.
    Name(String),
    /// A header value contains CR, LF or other forbidden bytes.
    Value(String),
    /// A hop-by-hop header (the server manages the connection, PEP 3333).
    HopByHop(String),
    /// A `Content-Length` that is not a decimal number of bytes, or a second one.
    ContentLength(String),
    /// A header the WebSocket handshake sets itself.
    Reserved(String),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::Status(s) => {
                write!(f, "invalid status {s:?}: expected e.g. \"200 OK\"")
            }
            HeadError::Name(n) => write!(f, "invalid header name {n:?}"),
            HeadError::Value(n) => {
                write!(f, "invalid value for header {n:?} (control characters?)")
            }
            HeadError::HopByHop(n) => write!(
                f,
                "hop-by-hop header {n:?} is not allowed in a WSGI response (PEP 3333)"
            ),
            HeadError::ContentLength(v) => write!(
                f,
                "invalid Content-Length {v:?}: expected one header with a number of bytes \
                 in decimal digits"
            ),
            HeadError::Reserved(n) => write!(
                f,
                "header {n:?} is set by the server in a WebSocket handshake (give a \
                 subprotocol as the accept's \"subprotocol\")"
            ),
        }
    }
}

impl std::error::Error for HeadError {}

/// Status and headers of a response, validated.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status code.
    pub(crate) status: StatusCode,
    /// A reason phrase differing from the standard one, if given.
    pub(crate) reason: Option<ReasonPhrase>,
    /// Header fields in order.
    pub(crate) headers: HeaderMap,
}

impl ResponseHead {
    /// A head with `status` and no headers.
    ///
    /// # Errors
    ///
    /// [`HeadError::Status`] if `status` is outside 100..=999.
    pub fn new(status: u16) -> Result<ResponseHead, HeadError> {
        let status =
            StatusCode::from_u16(status).map_err(|_| HeadError::Status(status.to_string()))?;
        Ok(ResponseHead {
            status,
            reason: None,
            headers: HeaderMap::new(),
        })
    }

    /// A head from a WSGI status line such as `200 OK` or `404 Not Found`, as bytes (a
    /// WSGI status is latin-1 text: its characters are the bytes sent).
    ///
    /// # Errors
    ///
    /// [`HeadError::Status`] if it is not three digits, optionally followed by a space and
    /// a reason phrase (tabs, spaces, visible ASCII and bytes 0x80-0xFF: RFC 9112 4).
    pub fn from_status_line(line: &[u8]) -> Result<ResponseHead, HeadError> {
        let bad = || HeadError::Status(line.iter().map(|&b| char::from(b)).collect());
        let (code, rest) = line.split_at_checked(3).ok_or_else(bad)?;
        if !code.iter().all(u8::is_ascii_digit) || !(rest.is_empty() || rest[0] == b' ') {
            return Err(bad());
        }
        let code = code.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0'));
        let mut head = ResponseHead::new(code).map_err(|_| bad())?;
        let reason = rest.trim_ascii_start();
        let canonical = head.status.canonical_reason().map(str::as_bytes);
        if Some(reason) != canonical && !(reason.is_empty() && canonical.is_some()) {
            // Also an empty one for a code without a standard phrase: hyper would send
            // `<none>`.
            head.reason = Some(ReasonPhrase::try_from(reason).map_err(|_| bad())?);
        }
        Ok(head)
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The body length this head promises: its `Content-Length`, unless the answer has no
    /// body whatever the head says (to a `HEAD` request, or a 1xx, 204 or 304 status).
    pub(crate) fn promised_length(&self, head_request: bool) -> Option<u64> {
        let s = self.status.as_u16();
        if head_request || s < 200 || s == 204 || s == 304 {
            return None;
        }
        self.headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }

    /// Append a header field.
    ///
    /// # Errors
    ///
    /// [`HeadError`] for an invalid name or value, or a hop-by-hop header other than
    /// `Connection` (which the server honours: `Connection: close` closes after the
    /// response).
    pub fn push_header(&mut self, name: &str, value: &[u8]) -> Result<(), HeadError> {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HeadError::Name(name.to_owned()))?;
        if matches!(
            n.as_str(),
            "keep-alive"
                | "proxy-authenticate"
                | "proxy-authorization"
                | "te"
                | "trailer"
                | "trailers"
                | "transfer-encoding"
                | "upgrade"
        ) {
            return Err(HeadError::HopByHop(name.to_owned()));
        }
        if n == hyper::header::CONTENT_LENGTH
            && (self.headers.contains_key(&n) || !is_decimal_length(value))
        {
            return Err(HeadError::ContentLength(
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
        let v = HeaderValue::from_bytes(value).map_err(|_| HeadError::Value(name.to_owned()))?;
        self.headers.append(n, v);
        Ok(())
    }
}

/// Whether `value` is a `Content-Length` (RFC 9110 8.6: `1*DIGIT`) that fits a `u64`.
fn is_decimal_length(value: &[u8]) -> bool {
    !value.is_empty()
        && value.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(value).is_ok_and(|v| v.parse::<u64>().is_ok())
}

/// The client can no longer receive this response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendError;

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client is gone or the request was cancelled")
    }
}

impl std::error::Error for SendError {}

/// A response body that ended in error: the connection is aborted instead of ending the
/// body normally (so the client cannot mistake a cut-off body for a complete one).
#[derive(Debug)]
pub(crate) struct Aborted(pub(crate) &'static str);

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Aborted {}

/// One message of a streamed body.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Body data (never empty).
    Data(Bytes),
    /// The body is complete.
    End,
    /// The body failed: cut the connection.
    Abort(&'static str),
}

/// Chunks of a streamed body on their way to the connection. A stream that closes
/// without [`Chunk::End`] was abandoned, and is cut like an abort.
pub(crate) type Chunks = mpsc::Receiver<Chunk>;

/// What a worker hands back to the connection.
pub(crate) enum Reply {
    /// Head and the whole body.
    Full(ResponseHead, Bytes),
    /// Head, then a stream.
    Stream(ResponseHead, Chunks),
    /// A WebSocket accept: `101 Switching Protocols` with this head, then a session.
    WebSocket(ResponseHead, crate::websocket::Ends),
}

/// Answers one request, once. Dropping it unanswered gives the client a 500.
pub struct Responder {
    /// To the waiting connection; `None` once used.
    pub(crate) tx: Option<oneshot::Sender<Reply>>,
    /// Whether the request is a WebSocket opening handshake (which
    /// [`Responder::accept_websocket`] may accept).
    pub(crate) websocket: bool,
    /// This request's cancellation.
    cancel: Arc<Cancel>,
    /// [`crate::Config::response_buffer`].
    buffer: usize,
    /// The front's runtime (for blocking sends).
    handle: Handle,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("answered", &self.tx.is_none())
            .finish()
    }
}

impl Responder {
    pub(crate) fn new(
        tx: oneshot::Sender<Reply>,
        cancel: Arc<Cancel>,
        buffer: usize,
        handle: Handle,
    ) -> Responder {
        Responder {
            tx: Some(tx),
            websocket: false,
            cancel,
            buffer: buffer.max(1),
            handle,
        }
    }

    /// Answer with `head` and the whole `body` (sent with a `Content-Length`). Never blocks.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the client is gone or already got a 504/503.
    pub fn send_full(mut self, head: ResponseHead, body: Bytes) -> Result<(), SendError> {
        let tx = self.tx.take().ok_or(SendError)?;
        tx.send(Reply::Full(head, body)).map_err(|_| SendError)
    }

    /// Answer with `head`; the body follows through the returned writer (chunked unless
    /// the head has a `Content-Length`). Never blocks.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the client is gone or already got a 504/503.
    pub fn start_stream(mut self, head: ResponseHead) -> Result<BodyWriter, SendError> {
        let tx = self.tx.take().ok_or(SendError)?;
        let (chunk_tx, chunk_rx) = mpsc::channel(self.buffer);
        tx.send(Reply::Stream(head, chunk_rx))
            .map_err(|_| SendError)?;
        Ok(BodyWriter {
            tx: Some(chunk_tx),
            cancel: self.cancel.clone(),
            handle: self.handle.clone(),
        })
    }
}

/// Writes a streamed response body; [`BodyWriter::finish`] ends it. Dropped without
/// `finish`, the body is aborted (the connection is cut).
pub struct BodyWriter {
    /// Chunks to the connection; `None` once finished or aborted.
    tx: Option<mpsc::Sender<Chunk>>,
    /// This request's cancellation (wakes a blocked write).
    cancel: Arc<Cancel>,
    /// The front's runtime (for blocking sends).
    handle: Handle,
}

impl std::fmt::Debug for BodyWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyWriter").finish_non_exhaustive()
    }
}

impl BodyWriter {
    /// Send one chunk. Blocks while [`crate::Config::response_buffer`] chunks are already
    /// waiting for a slow client. Must not be called on a thread of the front's runtime.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the client is gone or the request was cancelled.
    pub fn write(&mut self, data: Bytes) -> Result<(), SendError> {
        if data.is_empty() {
            return Ok(());
        }
        self.send(Chunk::Data(data))
    }

    fn send(&mut self, item: Chunk) -> Result<(), SendError> {
        let tx = self.tx.as_ref().ok_or(SendError)?;
        if self.cancel.reason().is_some() {
            return Err(SendError);
        }
        let item = match tx.try_send(item) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(SendError),
            Err(mpsc::error::TrySendError::Full(item)) => item,
        };
        let cancel = &self.cancel;
        self.handle.block_on(async {
            tokio::select! {
                sent = tx.send(item) => sent.map_err(|_| SendError),
                _ = cancel.cancelled() => Err(SendError),
            }
        })
    }

    /// End the body normally (blocks like [`Self::write`] while the buffer is full).
    ///
    /// # Errors
    ///
    /// [`SendError`] if the client is gone or the request was cancelled.
    pub fn finish(mut self) -> Result<(), SendError> {
        let sent = self.send(Chunk::End);
        self.tx.take();
        sent
    }

    /// End the body in error: the connection is cut so the client sees an incomplete
    /// response (for an application that failed mid-body). Never blocks.
    pub fn abort(mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send(Chunk::Abort(
                "the application failed while sending the body",
            ));
        }
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        // Closing the channel without `Chunk::End` cuts the connection.
        self.tx.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let h = ResponseHead::from_status_line(b"200 OK").unwrap();
        assert_eq!(h.status(), 200);
        assert!(h.reason.is_none());
        let h = ResponseHead::from_status_line(b"404").unwrap();
        assert_eq!((h.status(), h.reason), (404, None));
        let h = ResponseHead::from_status_line(b"299").unwrap();
        assert_eq!(h.reason.unwrap().as_bytes(), b"");
        let h = ResponseHead::from_status_line(b"299 Custom Thing").unwrap();
        assert_eq!(h.reason.unwrap().as_bytes(), b"Custom Thing");
        let h = ResponseHead::from_status_line(b"200 Tr\xe8s bien").unwrap();
        assert_eq!(h.reason.unwrap().as_bytes(), b"Tr\xe8s bien");
        for bad in [
            &b""[..],
            b"20 OK",
            b"abc OK",
            b"+20 OK",
            b"200OK",
            b"200\tOK",
            b"099 x",
            b"200 bad\nline",
            b"200 nul\0",
        ] {
            assert!(ResponseHead::from_status_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn headers_are_checked() {
        let mut h = ResponseHead::new(200).unwrap();
        h.push_header("Content-Type", b"text/plain").unwrap();
        h.push_header("Set-Cookie", b"a=1").unwrap();
        h.push_header("Set-Cookie", b"b=2").unwrap();
        assert_eq!(h.headers.get_all("set-cookie").iter().count(), 2);
        assert!(matches!(
            h.push_header("Bad Name", b"x"),
            Err(HeadError::Name(_))
        ));
        assert!(matches!(
            h.push_header("X", b"a\r\nb"),
            Err(HeadError::Value(_))
        ));
        assert!(matches!(
            h.push_header("Transfer-Encoding", b"chunked"),
            Err(HeadError::HopByHop(_))
        ));
        h.push_header("Connection", b"close").unwrap();
        for bad in [
            &b"5 bytes"[..],
            b"-1",
            b"+5",
            b"0x10",
            b"",
            b" 5",
            b"1e3",
            b"99999999999999999999",
        ] {
            assert!(
                matches!(
                    h.push_header("Content-Length", bad),
                    Err(HeadError::ContentLength(_))
                ),
                "{bad:?}"
            );
        }
        h.push_header("Content-Length", b"0012").unwrap();
        assert!(matches!(
            h.push_header("content-length", b"12"),
            Err(HeadError::ContentLength(_))
        ));
    }
}
