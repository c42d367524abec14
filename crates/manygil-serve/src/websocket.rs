//! WebSocket connections (RFC 6455): the upgrade handshake, and a session that frames
//! messages between the client and a worker on the I/O threads.
//!
//! A request that asks for a WebSocket upgrade reaches a worker like any other (its
//! [`crate::RequestHead::is_websocket`] says so). The worker may answer it over HTTP (a
//! rejection, or a WSGI application that knows nothing of WebSockets), or accept it with
//! [`crate::Responder::accept_websocket`]: the front answers `101 Switching Protocols`,
//! takes the connection over from hyper (`hyper::upgrade::on`) and runs a session on it,
//! with tungstenite doing the framing (text and binary messages, fragmentation, pings
//! answered with pongs, close frames, the message size limit
//! [`crate::Config::ws_max_size`]).
//!
//! # Flow control
//!
//! Between the session and the worker there are two bounded queues of [`QUEUE`] messages
//! each, and the worker's end never blocks ([`WebSocket::try_recv`],
//! [`WebSocket::try_send`]): an event-loop worker serves many connections from one thread.
//!
//! - Client to worker: the session reads the next message from the socket only once it
//!   holds a free place in the queue, so a worker that does not keep up (or is stuck in C)
//!   stops the reading, and TCP slows the client down. Nothing is buffered past the queue
//!   (and tungstenite's read buffer), and no I/O thread ever waits for a worker.
//! - Worker to client: the session takes the next message only once the previous one was
//!   written to the socket; when the queue is full, `try_send` hands the message back.
//!
//! A worker that found its queue empty or full is *armed*; the next message in (or place
//! freed) calls its [`WsNotify`] once, and it tries again. A notification may be spurious,
//! never lost: `try_*` arm first and look again.
//!
//! # Closing
//!
//! Whoever closes, the worker sees the end as [`WsRecv::Closed`] with the code: the
//! client's close frame (1005 without a code), 1006 when the connection dropped without
//! one, 1009 for a message over the limit, 1002/1007 for protocol or UTF-8 errors, or the
//! code the worker closed with itself ([`WebSocket::close`]; dropping the handle closes
//! with 1000). At server shutdown (after the grace period) open sessions are closed with
//! 1001. The server sends its close frame, ends its side of the TCP connection and reads
//! (discarding) until the client closes, at most [`CLOSE_TIMEOUT`]: closing a socket with
//! unread data would reset the connection, and the client could lose the close frame.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::header::{HeaderName, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{HeaderMap, Method, StatusCode, Version};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::cancel::Cancel;
use crate::response::{HeadError, Reply, Responder, ResponseHead, SendError};

/// Messages queued in each direction between a session and its worker.
pub const QUEUE: usize = 16;

/// How long a closing session waits for its close frame to be written and for the client
/// to close its side.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// tungstenite's read buffer per connection (its default, 128 KiB, is allocated up
/// front: too much for thousands of mostly idle connections).
const READ_BUFFER: usize = 32 * 1024;

/// One WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text message (valid UTF-8: tungstenite checks what clients send).
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// How a WebSocket session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsClose {
    /// The close code (RFC 6455 7.4): the peer's, or 1005/1006 when it gave none.
    pub code: u16,
    /// The close reason (UTF-8, may be empty).
    pub reason: String,
}

/// What [`WebSocket::try_recv`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsRecv {
    /// The next message from the client.
    Message(WsMessage),
    /// Nothing yet: the worker is notified when something comes.
    Empty,
    /// The session is over (every message received before was returned first).
    Closed(WsClose),
}

/// Why [`WebSocket::try_send`] did not take a message; each hands it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsSendError {
    /// [`QUEUE`] messages already wait for the client: the worker is notified when a
    /// place frees up.
    Full(WsMessage),
    /// The session is over, or the worker closed it.
    Closed(WsMessage),
}

/// Called (on an I/O thread; it must not block) when an armed worker can try again. See
/// the module's flow control.
pub type WsNotify = Arc<dyn Fn() + Send + Sync>;

/// What a session and its worker share.
struct State {
    /// Set by the worker when it found nothing to receive or no room to send; cleared
    /// (swapped) by the session when it notifies. SeqCst with the queues' own operations:
    /// the worker arms, then looks at the queue again.
    armed: AtomicBool,
    /// The worker's notification.
    notify: WsNotify,
    /// How the session ended; set before the client-to-worker queue closes.
    closed: Mutex<Option<WsClose>>,
}

impl State {
    fn wake_if_armed(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            (self.notify)();
        }
    }
}

/// The session's ends of the queues (the front's side).
pub(crate) struct Ends {
    /// Client to worker.
    inbound: mpsc::Sender<WsMessage>,
    /// Worker to client.
    outbound: mpsc::Receiver<WsMessage>,
    /// The worker's close: (code, reason). Dropped unsent with the handle: close 1000.
    close: oneshot::Receiver<WsClose>,
    /// Shared with the worker.
    state: Arc<State>,
}

/// A worker's end of an accepted WebSocket connection. Never blocks: see the module's
/// flow control. Dropping it closes the connection with 1000 (after the messages already
/// sent).
pub struct WebSocket {
    /// Client to worker.
    inbound: mpsc::Receiver<WsMessage>,
    /// Worker to client; `None` once the worker closed.
    outbound: Option<mpsc::Sender<WsMessage>>,
    /// The close; `None` once used.
    close: Option<oneshot::Sender<WsClose>>,
    /// Shared with the session.
    state: Arc<State>,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("closed", &*self.state.closed.lock())
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    fn pair(notify: WsNotify) -> (WebSocket, Ends) {
        let (in_tx, in_rx) = mpsc::channel(QUEUE);
        let (out_tx, out_rx) = mpsc::channel(QUEUE);
        let (close_tx, close_rx) = oneshot::channel();
        let state = Arc::new(State {
            armed: AtomicBool::new(false),
            notify,
            closed: Mutex::new(None),
        });
        let ws = WebSocket {
            inbound: in_rx,
            outbound: Some(out_tx),
            close: Some(close_tx),
            state: state.clone(),
        };
        let ends = Ends {
            inbound: in_tx,
            outbound: out_rx,
            close: close_rx,
            state,
        };
        (ws, ends)
    }

    /// The next message from the client, [`WsRecv::Empty`] (the notification comes when
    /// one arrives), or [`WsRecv::Closed`] once the session is over. Never blocks.
    pub fn try_recv(&mut self) -> WsRecv {
        use mpsc::error::TryRecvError;
        for attempt in 0..2 {
            match self.inbound.try_recv() {
                Ok(m) => return WsRecv::Message(m),
                Err(TryRecvError::Disconnected) => return WsRecv::Closed(self.ended()),
                Err(TryRecvError::Empty) if attempt == 0 => {
                    self.state.armed.store(true, Ordering::SeqCst);
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        WsRecv::Empty
    }

    /// Queue `message` for the client. Never blocks.
    ///
    /// # Errors
    ///
    /// [`WsSendError::Full`] (the notification comes when there is room) or
    /// [`WsSendError::Closed`], each with the message.
    pub fn try_send(&mut self, message: WsMessage) -> Result<(), WsSendError> {
        use mpsc::error::TrySendError;
        let Some(tx) = self.outbound.as_ref() else {
            return Err(WsSendError::Closed(message));
        };
        let message = match tx.try_send(message) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(m)) => return Err(WsSendError::Closed(m)),
            Err(TrySendError::Full(m)) => m,
        };
        self.state.armed.store(true, Ordering::SeqCst);
        match tx.try_send(message) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(m)) => Err(WsSendError::Closed(m)),
            Err(TrySendError::Full(m)) => Err(WsSendError::Full(m)),
        }
    }

    /// Close the connection with `code` and `reason` once the messages already queued
    /// are sent (later sends fail). Returns false if the session was already over or
    /// closed. Never blocks.
    pub fn close(&mut self, code: u16, reason: &str) -> bool {
        let sent = self.close.take().is_some_and(|tx| {
            tx.send(WsClose {
                code,
                reason: reason.to_owned(),
            })
            .is_ok()
        });
        // After the close is in: the session, seeing the queue closed, looks for it.
        self.outbound = None;
        sent
    }

    /// How the session ended, once it has (see [`WsRecv::Closed`]).
    pub fn closed(&self) -> Option<WsClose> {
        self.state.closed.lock().clone()
    }

    fn ended(&self) -> WsClose {
        self.closed().unwrap_or(WsClose {
            code: 1006,
            reason: String::new(),
        })
    }
}

/// Whether `code` may be sent in a close frame (RFC 6455 7.4: 1000-1003, 1007-1014 and
/// the registered and private ranges 3000-4999; 1004-1006 and 1015 are reserved).
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Longest close reason in bytes (a control frame carries at most 125, 2 of them the
/// code).
pub const MAX_CLOSE_REASON: usize = 123;

/// The `Sec-WebSocket-Key` of a request that is a valid WebSocket opening handshake (RFC
/// 6455 4.2.1: `GET`, HTTP/1.1, `Upgrade: websocket`, `Connection: upgrade`, version 13,
/// a key); `None` for any other request, which stays a plain HTTP request.
pub(crate) fn handshake_key(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Option<String> {
    if method != Method::GET || version != Version::HTTP_11 {
        return None;
    }
    let has_token = |name: HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(hyper::header::UPGRADE, "websocket")
        || !has_token(hyper::header::CONNECTION, "upgrade")
    {
        return None;
    }
    let version = headers.get(hyper::header::SEC_WEBSOCKET_VERSION)?;
    if version.as_bytes().trim_ascii() != b"13" {
        return None;
    }
    let key = headers
        .get(hyper::header::SEC_WEBSOCKET_KEY)?
        .to_str()
        .ok()?
        .trim();
    // 16 random bytes in base64.
    (key.len() == 24).then(|| key.to_owned())
}

impl ResponseHead {
    /// The head of a WebSocket accept: the application's extra `headers` and the
    /// `subprotocol` it chose (the server adds `Upgrade`, `Connection` and
    /// `Sec-WebSocket-Accept`).
    ///
    /// # Errors
    ///
    /// [`HeadError`] for an invalid header, or one the handshake sets itself
    /// (`Sec-WebSocket-Protocol` is given as `subprotocol`).
    pub fn websocket_accept(
        headers: &[(String, Vec<u8>)],
        subprotocol: Option<&str>,
    ) -> Result<ResponseHead, HeadError> {
        let mut head = ResponseHead::new(101)?;
        for (name, value) in headers {
            if matches!(
                name.to_ascii_lowercase().as_str(),
                "connection"
                    | "upgrade"
                    | "content-length"
                    | "sec-websocket-accept"
                    | "sec-websocket-extensions"
                    | "sec-websocket-protocol"
            ) {
                return Err(HeadError::Reserved(name.clone()));
            }
            head.push_header(name, value)?;
        }
        if let Some(p) = subprotocol {
            head.push_header("sec-websocket-protocol", p.as_bytes())?;
        }
        Ok(head)
    }
}

impl Responder {
    /// Accept a WebSocket request with `head` (from [`ResponseHead::websocket_accept`]):
    /// the client gets `101 Switching Protocols` and the connection becomes a WebSocket
    /// session; `notify` is the worker's notification (see the module's flow control).
    /// Never blocks.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the request is not a WebSocket upgrade, the client is gone or
    /// already got a 504/503.
    pub fn accept_websocket(
        mut self,
        head: ResponseHead,
        notify: WsNotify,
    ) -> Result<WebSocket, SendError> {
        if !self.websocket {
            return Err(SendError);
        }
        let tx = self.tx.take().ok_or(SendError)?;
        let (ws, ends) = WebSocket::pair(notify);
        tx.send(Reply::WebSocket(head, ends))
            .map_err(|_| SendError)?;
        Ok(ws)
    }
}

/// The `101 Switching Protocols` answer to a handshake with `key`.
pub(crate) fn switching_protocols(mut head: ResponseHead, key: &str) -> ResponseHead {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    head.headers.insert(
        hyper::header::UPGRADE,
        HeaderValue::from_static("websocket"),
    );
    head.headers.insert(
        hyper::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = HeaderValue::from_str(&accept) {
        head.headers.insert(hyper::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    head.status = StatusCode::SWITCHING_PROTOCOLS;
    head
}

/// How the exchange of messages ended.
enum End {
    /// The client sent a close frame (tungstenite queued the echo).
    ClientClosed(WsClose),
    /// The connection dropped or failed without a close frame.
    Lost,
    /// The server closes with this frame.
    ServerClose(WsClose),
}

fn close(code: u16, reason: &str) -> End {
    End::ServerClose(WsClose {
        code,
        reason: reason.to_owned(),
    })
}

fn into_message(m: WsMessage) -> Message {
    match m {
        WsMessage::Text(t) => Message::text(t),
        WsMessage::Binary(b) => Message::Binary(b),
    }
}

/// Run the session of an accepted connection once hyper hands it over, until either
/// side closes; `cancel` fires at server shutdown (close 1001). `guard` is dropped when
/// the session is over.
pub(crate) async fn session<G: Send>(
    upgrade: OnUpgrade,
    ends: Ends,
    max_size: usize,
    cancel: Arc<Cancel>,
    guard: G,
) {
    let Ends {
        inbound,
        mut outbound,
        close: mut close_rx,
        state,
    } = ends;
    let finish = |how: WsClose, inbound: mpsc::Sender<WsMessage>| {
        *state.closed.lock() = Some(how);
        // Closed before the worker is woken: it then sees the end.
        drop(inbound);
        state.wake_if_armed();
    };
    let io = match upgrade.await {
        Ok(upgraded) => TokioIo::new(upgraded),
        Err(_) => {
            finish(
                WsClose {
                    code: 1006,
                    reason: String::new(),
                },
                inbound,
            );
            return;
        }
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(max_size))
        .max_frame_size(Some(max_size));
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    let (mut sink, mut stream) = ws.split();
    let shutting_down = || close(1001, "server shutting down");
    // The worker let go of the connection without closing it: 1000, or 1001 when that is
    // because the server is shutting down (its task was cancelled).
    let dropped = || {
        if cancel.reason().is_some() {
            shutting_down()
        } else {
            close(1000, "")
        }
    };
    let inbound_ref = &inbound;
    let state_ref = &state;
    let reader = async {
        loop {
            // A place in the queue first: a worker that does not keep up stops the reading.
            let Ok(permit) = inbound_ref.reserve().await else {
                // The worker let go of the connection: the writer closes it.
                return std::future::pending().await;
            };
            let message = match stream.next().await {
                Some(Ok(Message::Text(t))) => WsMessage::Text(t.as_str().to_owned()),
                Some(Ok(Message::Binary(b))) => WsMessage::Binary(b),
                // Pings are answered by tungstenite (the pong goes out with the next read
                // or write); pongs and raw frames carry nothing for the worker.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => {
                    return End::ClientClosed(match frame {
                        Some(f) => WsClose {
                            code: f.code.into(),
                            reason: f.reason.as_str().to_owned(),
                        },
                        None => WsClose {
                            code: 1005,
                            reason: String::new(),
                        },
                    })
                }
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                    return close(1009, "message too big")
                }
                Some(Err(WsError::Utf8(_))) => {
                    return close(1007, "invalid UTF-8 in a text message")
                }
                Some(Err(WsError::Protocol(_) | WsError::AttackAttempt)) => {
                    return close(1002, "protocol error")
                }
                Some(Err(_)) | None => return End::Lost,
            };
            permit.send(message);
            state_ref.wake_if_armed();
        }
    };
    let writer = async {
        loop {
            tokio::select! {
                biased;
                m = outbound.recv() => match m {
                    Some(m) => {
                        // A place freed: a worker waiting to send may go on.
                        state_ref.wake_if_armed();
                        if sink.send(into_message(m)).await.is_err() {
                            return End::Lost;
                        }
                    }
                    // The worker closed (its close waits in `close_rx`), or dropped its
                    // handle without closing.
                    None => {
                        return match close_rx.try_recv() {
                            Ok(c) => End::ServerClose(c),
                            Err(_) => dropped(),
                        }
                    }
                },
                c = &mut close_rx => {
                    // What the worker sent before closing goes first.
                    while let Ok(m) = outbound.try_recv() {
                        if sink.send(into_message(m)).await.is_err() {
                            return End::Lost;
                        }
                    }
                    return match c {
                        Ok(c) => End::ServerClose(c),
                        Err(_) => dropped(),
                    };
                }
            }
        }
    };
    let end = tokio::select! {
        biased;
        _ = cancel.cancelled() => shutting_down(),
        end = reader => end,
        end = writer => end,
    };
    // The worker's ends of the queues are done with: it sees the end (and sends fail).
    drop(outbound);
    drop(close_rx);
    match end {
        End::ClientClosed(how) => {
            finish(how, inbound);
            // Sends the echo of the client's close frame.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
        }
        End::Lost => finish(
            WsClose {
                code: 1006,
                reason: String::new(),
            },
            inbound,
        ),
        End::ServerClose(how) => {
            let frame = CloseFrame {
                code: how.code.into(),
                reason: how.reason.as_str().into(),
            };
            finish(how, inbound);
            let sent =
                tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
            if matches!(sent, Ok(Ok(()))) {
                if let Ok(mut ws) = stream.reunite(sink) {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, linger(ws.get_mut())).await;
                }
            }
        }
    }
    drop(guard);
}

/// End our side of the TCP connection and read what the client still sends (its close
/// frame, the rest of a message too big) until it closes its side.
async fn linger<S>(io: &mut S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let _ = io.shutdown().await;
    let mut buf = vec![0; 16 * 1024];
    while matches!(io.read(&mut buf).await, Ok(n) if n > 0) {}
}
