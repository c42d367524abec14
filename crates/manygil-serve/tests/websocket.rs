//! WebSocket sessions over real loopback connections: tungstenite's blocking client
//! against the front, with plain Rust threads as workers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use manygil_serve::{
    BoundAddr, Config, Listen, Recv, Request, ResponseHead, Server, WsNotify, WsRecv, WsSendError,
};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// A bound on every client read: a hang fails the test instead of blocking CI.
const IO_BOUND: Duration = Duration::from_secs(30);

fn start(config: Config) -> (Server, SocketAddr) {
    let server = Server::bind(Config {
        listen: vec![Listen::Tcp("127.0.0.1:0".parse().unwrap())],
        ..config
    })
    .expect("bind");
    let BoundAddr::Tcp(addr) = server.addrs()[0].clone() else {
        panic!("not TCP")
    };
    server.start();
    (server, addr)
}

/// A worker thread per request: WebSocket requests are accepted (with the first offered
/// subprotocol) and echoed; `/close` closes with 4000 after its first message; other
/// requests get a plain `200 http`.
fn echo_workers(server: &Server, n: usize) -> Vec<JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let q = server.queue();
            std::thread::spawn(move || loop {
                match q.recv(None) {
                    Recv::Request(r) => {
                        std::thread::spawn(move || serve(*r));
                    }
                    Recv::Closed => return,
                    Recv::Timeout => unreachable!(),
                }
            })
        })
        .collect()
}

fn serve(r: Request) {
    if !r.head.is_websocket() {
        let _ = r
            .responder
            .send_full(ResponseHead::new(200).unwrap(), Bytes::from_static(b"http"));
        return;
    }
    let offered = r.head.websocket_subprotocols();
    let close_after_one = r.head.path == "/close";
    let head = ResponseHead::websocket_accept(
        &[("x-accepted".to_owned(), b"yes".to_vec())],
        offered.first().map(String::as_str),
    )
    .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let notify: WsNotify = std::sync::Arc::new(move || {
        let _ = tx.send(());
    });
    let mut ws = r.responder.accept_websocket(head, notify).unwrap();
    loop {
        match ws.try_recv() {
            WsRecv::Message(m) => {
                if close_after_one {
                    assert!(ws.close(4000, "done"));
                    continue;
                }
                let mut m = m;
                loop {
                    match ws.try_send(m) {
                        Ok(()) => break,
                        Err(WsSendError::Full(back)) => {
                            m = back;
                            let _ = rx.recv_timeout(IO_BOUND);
                        }
                        Err(WsSendError::Closed(_)) => return,
                    }
                }
            }
            WsRecv::Empty => {
                let _ = rx.recv_timeout(IO_BOUND);
            }
            WsRecv::Closed(_) => return,
        }
    }
}

fn connect(addr: SocketAddr, path: &str, protocols: Option<&str>) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_BOUND)).unwrap();
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(p) = protocols {
        req.headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    let (ws, resp) = tungstenite::client(req, stream).expect("handshake");
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["x-accepted"], "yes");
    ws
}

/// The close frame the server sends, reading past anything else.
fn close_of(ws: &mut WebSocket<TcpStream>) -> (u16, String) {
    loop {
        match ws.read() {
            Ok(Message::Close(Some(f))) => return (f.code.into(), f.reason.as_str().to_owned()),
            Ok(Message::Close(None)) => return (1005, String::new()),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

#[test]
fn echoes_text_and_binary_and_answers_pings() {
    let (server, addr) = start(Config::default());
    let workers = echo_workers(&server, 1);
    let mut ws = connect(addr, "/", None);
    ws.send(Message::text("héllo")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("héllo"));
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(big));
    ws.send(Message::Ping(Bytes::from_static(b"are you there")))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::Pong(Bytes::from_static(b"are you there"))
    );
    ws.close(None).unwrap();
    assert_eq!(close_of(&mut ws).0, 1005);
    // A plain request still gets a plain answer.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(IO_BOUND)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("http"),
        "{out}"
    );
    server.shutdown(Duration::from_secs(5));
    workers.into_iter().for_each(|w| w.join().unwrap());
}

#[test]
fn the_chosen_subprotocol_is_sent() {
    let (server, addr) = start(Config::default());
    let workers = echo_workers(&server, 1);
    let stream = TcpStream::connect(addr).unwrap();
    let mut req = format!("ws://{addr}/").into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "chat.v2, chat.v1".parse().unwrap(),
    );
    let (mut ws, resp) = tungstenite::client(req, stream).unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat.v2");
    ws.close(None).unwrap();
    close_of(&mut ws);
    server.shutdown(Duration::from_secs(5));
    workers.into_iter().for_each(|w| w.join().unwrap());
}

#[test]
fn the_worker_closes_with_its_code_and_reason() {
    let (server, addr) = start(Config::default());
    let workers = echo_workers(&server, 1);
    let mut ws = connect(addr, "/close", None);
    ws.send(Message::text("bye")).unwrap();
    assert_eq!(close_of(&mut ws), (4000, "done".to_owned()));
    server.shutdown(Duration::from_secs(5));
    workers.into_iter().for_each(|w| w.join().unwrap());
}

#[test]
fn a_message_over_the_limit_closes_with_1009_and_the_server_goes_on() {
    let (server, addr) = start(Config {
        ws_max_size: 64 * 1024,
        ..Config::default()
    });
    let workers = echo_workers(&server, 1);
    let mut ws = connect(addr, "/", None);
    ws.send(Message::binary(vec![7u8; 64 * 1024])).unwrap();
    assert_eq!(ws.read().unwrap().len(), 64 * 1024);
    // Written in the background: the server stops reading it half-way.
    let _ = ws.send(Message::binary(vec![7u8; 1024 * 1024]));
    assert_eq!(close_of(&mut ws).0, 1009);
    let mut again = connect(addr, "/", None);
    again.send(Message::text("still here")).unwrap();
    assert_eq!(again.read().unwrap(), Message::text("still here"));
    again.close(None).unwrap();
    close_of(&mut again);
    server.shutdown(Duration::from_secs(5));
    workers.into_iter().for_each(|w| w.join().unwrap());
}

#[test]
fn shutdown_closes_open_sessions_with_1001_after_the_grace_period() {
    let (server, addr) = start(Config::default());
    let workers = echo_workers(&server, 1);
    let mut ws = connect(addr, "/", None);
    ws.send(Message::text("x")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("x"));
    let report = server.shutdown(Duration::from_millis(200));
    assert!(!report.graceful);
    assert_eq!(report.cancelled, 1);
    let (code, reason) = close_of(&mut ws);
    assert_eq!(code, u16::from(CloseCode::Away));
    assert_eq!(reason, "server shutting down");
    workers.into_iter().for_each(|w| w.join().unwrap());
}

#[test]
fn an_upgrade_answered_over_http_stays_http() {
    let (server, addr) = start(Config::default());
    let q = server.queue();
    let worker = std::thread::spawn(move || {
        if let Recv::Request(r) = q.recv(Some(IO_BOUND)) {
            assert!(r.head.is_websocket());
            let _ = r
                .responder
                .send_full(ResponseHead::new(403).unwrap(), Bytes::from_static(b"no"));
        }
    });
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_BOUND)).unwrap();
    let req = format!("ws://{addr}/").into_client_request().unwrap();
    match tungstenite::client(req, stream) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            assert_eq!(resp.status(), 403);
            assert_eq!(resp.body().as_deref(), Some(&b"no"[..]));
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    worker.join().unwrap();
    server.shutdown(Duration::from_secs(5));
}
