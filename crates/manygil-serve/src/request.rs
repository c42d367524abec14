//! A request as a worker receives it: plain data plus the body reader and the responder.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::HeaderMap;

use crate::body::BodyReader;
use crate::cancel::Cancel;
use crate::response::Responder;

/// One end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix domain socket, with its path when it has one (the client's end usually has
    /// none).
    Unix(Option<PathBuf>),
}

/// The request line and headers of one request, and where it came from.
#[derive(Debug)]
pub struct RequestHead {
    /// Process-unique request number (for logs), starting at 1.
    pub id: u64,
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path as sent, still percent-encoded (`/a%20b`); `*` for `OPTIONS *`.
    pub path: String,
    /// The query string without `?` (empty if none), as sent.
    pub query: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: &'static str,
    /// The client's end of the connection.
    pub peer: Peer,
    /// The server's end of the connection.
    pub local: Peer,
    /// Header fields in the order received; names are lower-case.
    pub(crate) headers: HeaderMap,
    /// The `Sec-WebSocket-Key` of a WebSocket opening handshake (see
    /// [`Self::is_websocket`]).
    pub(crate) ws_key: Option<String>,
}

impl RequestHead {
    /// Header fields as (lower-case name, raw value), in the order received (repeated
    /// names stay separate entries, in order).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))
    }

    /// Whether the request is a valid WebSocket opening handshake (RFC 6455 4.2.1), which
    /// [`crate::Responder::accept_websocket`] can accept; any other request with an
    /// `Upgrade` header is a plain HTTP request.
    pub fn is_websocket(&self) -> bool {
        self.ws_key.is_some()
    }

    /// The subprotocols a WebSocket client offers (`Sec-WebSocket-Protocol`), in order.
    pub fn websocket_subprotocols(&self) -> Vec<String> {
        self.headers
            .get_all(hyper::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The declared `Content-Length`, if any (hyper has already refused conflicting or
    /// malformed ones).
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }

    /// The path with `%XX` escapes decoded, as bytes (an invalid escape stays as sent).
    pub fn decoded_path(&self) -> Vec<u8> {
        percent_decode(self.path.as_bytes())
    }

    /// `SERVER_NAME` and `SERVER_PORT` as gunicorn gives them. On TCP: the address and port
    /// of the socket the request came in on (PEP 3333's URL reconstruction reads
    /// `HTTP_HOST` first; `SERVER_NAME` is the server's own name). On a Unix socket, which
    /// has no address to give: the `Host` header's name and port (80 when it names none),
    /// or the socket's path and an empty port when there is no `Host` header.
    pub fn server_name_port(&self) -> (String, String) {
        match &self.local {
            Peer::Tcp(a) => (a.ip().to_string(), a.port().to_string()),
            Peer::Unix(path) => {
                let host = self
                    .headers
                    .get(hyper::header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim)
                    .filter(|h| !h.is_empty());
                match host {
                    Some(host) => split_host(host),
                    None => (
                        path.as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        String::new(),
                    ),
                }
            }
        }
    }
}

/// A `Host` header value as (name, port): `[v6]:port` keeps its brackets; no port gives 80
/// (the server speaks plain HTTP).
fn split_host(host: &str) -> (String, String) {
    let (name, port) = match host.strip_prefix('[').and_then(|rest| rest.find(']')) {
        Some(end) => {
            let (name, rest) = host.split_at(end + 2);
            (name, rest.strip_prefix(':'))
        }
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port = port.filter(|p| !p.is_empty()).unwrap_or("80");
    (name.to_owned(), port.to_owned())
}

/// Decode `%XX` escapes; a `%` not followed by two hex digits is kept literally.
pub fn percent_decode(raw: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// One request handed to a worker.
#[derive(Debug)]
pub struct Request {
    /// Request line, headers, addresses.
    pub head: RequestHead,
    /// The body, read on demand from the connection.
    pub body: BodyReader,
    /// Where the answer goes.
    pub responder: Responder,
    /// Shared with the front: cancelled on timeout, shutdown or client disconnect.
    pub cancel: Arc<Cancel>,
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, split_host};

    #[test]
    fn host_headers_split_into_name_and_port() {
        let pair = |n: &str, p: &str| (n.to_owned(), p.to_owned());
        assert_eq!(split_host("example.com:8080"), pair("example.com", "8080"));
        assert_eq!(split_host("example.com"), pair("example.com", "80"));
        assert_eq!(split_host("example.com:"), pair("example.com", "80"));
        assert_eq!(split_host("[::1]:8000"), pair("[::1]", "8000"));
        assert_eq!(split_host("[::1]"), pair("[::1]", "80"));
    }

    #[test]
    fn decodes_escapes_and_keeps_broken_ones() {
        assert_eq!(percent_decode(b"/a%20b%2Fc"), b"/a b/c");
        assert_eq!(percent_decode(b"/%e2%82%ac"), "/€".as_bytes());
        assert_eq!(percent_decode(b"/100%"), b"/100%");
        assert_eq!(percent_decode(b"/%zz%4"), b"/%zz%4");
    }
}
