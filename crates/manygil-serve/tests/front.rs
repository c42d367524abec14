//! The front over real loopback connections, with plain Rust threads as workers.
//! Clients are raw `TcpStream`s so malformed input can be sent as is.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use manygil_serve::{
    BindError, BodyError, BoundAddr, CancelReason, Config, Listen, Recv, Request, RequestQueue,
    ResponseHead, Server, ShutdownReport, StaticMount,
};

/// A bound on every client read: a hang fails the test instead of blocking CI.
const IO_BOUND: Duration = Duration::from_secs(30);

fn config() -> Config {
    Config {
        listen: vec![Listen::Tcp("127.0.0.1:0".parse().unwrap())],
        ..Config::default()
    }
}

fn start(config: Config) -> (Server, SocketAddr) {
    let server = Server::bind(config).expect("bind");
    let addr = match &server.addrs()[0] {
        BoundAddr::Tcp(a) => *a,
        other => panic!("{other:?}"),
    };
    assert_ne!(addr.port(), 0);
    server.start();
    (server, addr)
}

/// Workers that answer each request with `f`, counting the requests they saw.
fn workers<F>(queue: RequestQueue, n: usize, seen: Arc<AtomicUsize>, f: F) -> Vec<JoinHandle<()>>
where
    F: Fn(Box<Request>) + Send + Sync + 'static,
{
    let f = Arc::new(f);
    (0..n)
        .map(|_| {
            let (q, f, seen) = (queue.clone(), f.clone(), seen.clone());
            std::thread::spawn(move || loop {
                match q.recv(None) {
                    Recv::Request(r) => {
                        seen.fetch_add(1, Ordering::SeqCst);
                        f(r)
                    }
                    Recv::Closed => return,
                    Recv::Timeout => unreachable!(),
                }
            })
        })
        .collect()
}

/// Answer with a text describing the request and echoing its body.
fn echo(mut r: Box<Request>) {
    let body = match r.body.read_to_end(None) {
        Ok(b) => b,
        Err(BodyError::TooLarge(_)) => {
            let _ = r
                .responder
                .send_full(ResponseHead::new(413).unwrap(), Bytes::new());
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let h = &r.head;
    let mut text = format!(
        "{} {} {} q={} decoded={}\n",
        h.method,
        h.path,
        h.version,
        h.query,
        String::from_utf8_lossy(&h.decoded_path())
    );
    for (n, v) in h.headers() {
        if n.starts_with("x-") {
            text += &format!("{n}: {}\n", String::from_utf8_lossy(v));
        }
    }
    text += &format!("body {}: ", body.len());
    let mut out = text.into_bytes();
    out.extend_from_slice(&body);
    let mut head = ResponseHead::from_status_line(b"200 OK").unwrap();
    head.push_header("Content-Type", b"text/plain").unwrap();
    let _ = r.responder.send_full(head, Bytes::from(out));
}

/// A raw HTTP/1.1 client over TCP or a Unix socket: sends bytes as given, parses the
/// answers (every read bounded by [`IO_BOUND`]).
struct Client {
    s: Box<dyn Stream>,
    buf: Vec<u8>,
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

#[derive(Debug)]
struct Resp {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(IO_BOUND)).unwrap();
        Client {
            s: Box::new(s),
            buf: Vec::new(),
        }
    }

    fn connect_unix(path: &std::path::Path) -> Client {
        let s = std::os::unix::net::UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(IO_BOUND)).unwrap();
        Client {
            s: Box::new(s),
            buf: Vec::new(),
        }
    }

    /// Connect and send `raw`.
    fn sending(addr: SocketAddr, raw: &[u8]) -> Client {
        let mut c = Client::connect(addr);
        c.send(raw);
        c
    }

    fn send(&mut self, raw: &[u8]) {
        self.s.write_all(raw).unwrap();
    }

    /// Read more bytes; `false` at EOF.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.s.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read: {e}"),
        }
    }

    fn take_until(&mut self, pat: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(pat.len()).position(|w| w == pat) {
                let out = self.buf[..i].to_vec();
                self.buf.drain(..i + pat.len());
                return Some(out);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill(), "EOF inside a body");
        }
        self.buf.drain(..n).collect()
    }

    /// The next response head and body; `None` if the server closed the connection.
    fn response(&mut self) -> Option<Resp> {
        let head = String::from_utf8(self.take_until(b"\r\n\r\n")?).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let mut parts = status_line.splitn(3, ' ');
        assert!(parts.next().unwrap().starts_with("HTTP/1."));
        let status: u16 = parts.next().unwrap().parse().unwrap();
        let reason = parts.next().unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        let mut r = Resp {
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        if status < 200 || status == 204 || status == 304 {
            return Some(r);
        }
        if let Some(n) = r.header("content-length") {
            let n: usize = n.parse().unwrap();
            r.body = self.take(n);
        } else if r.header("transfer-encoding") == Some("chunked") {
            loop {
                let size = String::from_utf8(self.take_until(b"\r\n").unwrap()).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                let data = self.take(size + 2);
                if size == 0 {
                    break;
                }
                r.body.extend_from_slice(&data[..size]);
            }
        } else {
            while self.fill() {}
            r.body = std::mem::take(&mut self.buf);
        }
        Some(r)
    }

    /// Whether the server closed the connection (reads EOF, with nothing else first).
    fn closed(&mut self) -> bool {
        !self.fill() && self.buf.is_empty()
    }
}

fn get(addr: SocketAddr, target: &str) -> Resp {
    let mut c = Client::sending(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    c.response().expect("a response")
}

/// Shut the server down (10 s of grace) and join its workers.
fn stop(server: Server, workers: Vec<JoinHandle<()>>) -> ShutdownReport {
    let report = server.shutdown(Duration::from_secs(10));
    workers.into_iter().for_each(|w| w.join().unwrap());
    report
}

#[test]
fn serves_keep_alive_requests_with_path_query_and_headers() {
    let (server, addr) = start(config());
    let seen = Arc::new(AtomicUsize::new(0));
    let ws = workers(server.queue(), 2, seen.clone(), echo);
    let mut c = Client::connect(addr);
    for i in 0..3 {
        c.send(
            format!("GET /a%20b/{i}?x=1&y=%20 HTTP/1.1\r\nHost: x\r\nX-One: 1\r\nX-One: 2\r\n\r\n")
                .as_bytes(),
        );
        let r = c.response().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.header("content-type"), Some("text/plain"));
        let t = r.text();
        assert!(
            t.starts_with(&format!(
                "GET /a%20b/{i} HTTP/1.1 q=x=1&y=%20 decoded=/a b/{i}\n"
            )),
            "{t}"
        );
        assert!(t.contains("x-one: 1\nx-one: 2\n"), "{t}");
        assert!(t.ends_with("body 0: "), "{t}");
    }
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    drop(c);
    assert!(stop(server, ws).graceful);
}

#[test]
fn answers_pipelined_requests_in_order() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 2, Arc::default(), echo);
    let mut c = Client::connect(addr);
    let mut batch = String::new();
    for i in 0..5 {
        batch += &format!("POST /p{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nab{i}");
    }
    c.send(batch.as_bytes());
    for i in 0..5 {
        let r = c.response().unwrap();
        assert!(
            r.text().starts_with(&format!("POST /p{i} ")),
            "{}",
            r.text()
        );
        assert!(
            r.text().ends_with(&format!("body 3: ab{i}")),
            "{}",
            r.text()
        );
    }
    stop(server, ws);
}

#[test]
fn reads_chunked_request_bodies() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), echo);
    let mut c = Client::sending(addr, b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n");
    let r = c.response().unwrap();
    assert!(r.text().ends_with("body 11: hello world"), "{}", r.text());
    stop(server, ws);
}

#[test]
fn reads_lines_and_pieces_of_a_body() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), |mut r| {
        let a = r.body.read_line(None).unwrap();
        let b = r.body.read_line(Some(3)).unwrap();
        let c = r.body.read(2).unwrap();
        let rest = r.body.read_to_end(None).unwrap();
        let eof = r.body.read(10).unwrap();
        let text = format!("{a:?}|{b:?}|{:?}|{rest:?}|{}", c.to_vec(), eof.len());
        let _ = r
            .responder
            .send_full(ResponseHead::new(200).unwrap(), Bytes::from(text));
    });
    let mut c = Client::sending(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\none\nlonger\nrest!",
    );
    let r = c.response().unwrap();
    let expect = format!(
        "{:?}|{:?}|{:?}|{:?}|0",
        b"one\n".to_vec(),
        b"lon".to_vec(),
        b"ge".to_vec(),
        b"r\nrest!".to_vec()
    );
    assert_eq!(r.text(), expect);
    stop(server, ws);
}

#[test]
fn streams_a_response_in_chunks() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), |r| {
        let mut head = ResponseHead::from_status_line(b"201 Made Here").unwrap();
        head.push_header("X-Stream", b"yes").unwrap();
        let mut w = r.responder.start_stream(head).unwrap();
        for i in 0..20 {
            w.write(Bytes::from(format!("part{i};"))).unwrap();
        }
        w.finish().unwrap();
    });
    let mut c = Client::sending(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.response().unwrap();
    assert_eq!((r.status, r.reason.as_str()), (201, "Made Here"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("x-stream"), Some("yes"));
    let expect: String = (0..20).map(|i| format!("part{i};")).collect();
    assert_eq!(r.text(), expect);
    stop(server, ws);
}

#[test]
fn a_body_dropped_unfinished_cuts_the_connection() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), |r| {
        let mut w = r
            .responder
            .start_stream(ResponseHead::new(200).unwrap())
            .unwrap();
        w.write(Bytes::from_static(b"partial")).unwrap();
        w.abort();
    });
    let mut c = Client::sending(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // The connection is cut: whatever was flushed before (maybe the head and the first
    // chunk), the chunked body never gets its terminating zero-size chunk.
    while c.fill() {}
    assert!(!c.buf.windows(5).any(|w| w == b"0\r\n\r\n"), "{:?}", c.buf);
    stop(server, ws);
}

#[test]
fn expect_100_continue_is_answered_when_the_worker_reads() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), echo);
    let mut c = Client::sending(
        addr,
        b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let interim = c.response().unwrap();
    assert_eq!(interim.status, 100);
    c.send(b"12345");
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().ends_with("body 5: 12345"));
    stop(server, ws);
}

#[test]
fn a_declared_body_over_the_limit_gets_413_without_a_worker() {
    let (server, addr) = start(Config {
        max_body: 10,
        ..config()
    });
    let seen = Arc::new(AtomicUsize::new(0));
    let ws = workers(server.queue(), 1, seen.clone(), echo);
    let mut c = Client::connect(addr);
    // With Expect: 100-continue the client gets the 413 instead of a 100.
    c.send(b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
    let r = c.response().unwrap();
    assert_eq!(r.status, 413);
    assert!(c.closed());
    // Exactly at the limit is fine.
    let mut c = Client::sending(
        addr,
        b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789",
    );
    assert_eq!(c.response().unwrap().status, 200);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    stop(server, ws);
}

#[test]
fn static_files_are_answered_by_the_front_and_never_reach_a_worker() {
    let dir = std::env::temp_dir().join(format!("manygil-front-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), "static a").unwrap();
    let (server, addr) = start(Config {
        statics: vec![StaticMount {
            prefix: "/static".to_owned(),
            dir: dir.clone(),
        }],
        ..config()
    });
    let seen = Arc::new(AtomicUsize::new(0));
    let ws = workers(server.queue(), 1, seen.clone(), echo);
    let mut c = Client::connect(addr);
    c.send(
        b"GET /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /static/nope HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /static/../a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /static/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    let r = c.response().unwrap();
    assert_eq!((r.status, &r.body[..]), (200, &b"static a"[..]));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(c.response().unwrap().status, 404);
    assert_eq!(c.response().unwrap().status, 400);
    let r = c.response().unwrap();
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "a static request reached a worker"
    );
    // Sent only now: pipelined with the others, hyper could hand it to the worker before
    // the check above, whatever the static requests did.
    c.send(b"GET /app HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.response().unwrap();
    assert!(r.body.starts_with(b"GET /app "), "{:?}", r.body);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    stop(server, ws);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_static_directory_is_a_bind_error_naming_it() {
    let err = Server::bind(Config {
        statics: vec![StaticMount {
            prefix: "/static".to_owned(),
            dir: "/nonexistent/manygil-static".into(),
        }],
        ..config()
    })
    .unwrap_err();
    let BindError::Other(m) = err else {
        panic!("{err:?}")
    };
    assert!(
        m.contains("/nonexistent/manygil-static") && m.contains("does not exist"),
        "{m}"
    );
}

#[test]
fn a_chunked_body_over_the_limit_fails_the_read() {
    let (server, addr) = start(Config {
        max_body: 10,
        ..config()
    });
    let ws = workers(server.queue(), 1, Arc::default(), echo);
    let mut c = Client::sending(addr, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n123456\r\n6\r\n789012\r\n0\r\n\r\n");
    assert_eq!(c.response().unwrap().status, 413);
    stop(server, ws);
}

#[test]
fn malformed_and_oversized_heads_never_reach_a_worker() {
    let (server, addr) = start(Config {
        max_header_bytes: 1024,
        max_headers: 10,
        ..config()
    });
    let seen = Arc::new(AtomicUsize::new(0));
    let ws = workers(server.queue(), 1, seen.clone(), echo);
    let many: String = (0..11).map(|i| format!("X-H{i}: v\r\n")).collect();
    let big = format!("X-Big: {}\r\n", "a".repeat(2000));
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GARBAGE\r\n\r\n".to_vec(), 400),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
                .to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
        ),
        // Two Host fields (RFC 9112 3.2): which site is meant?
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
        ),
        (
            format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").into_bytes(),
            431,
        ),
        (
            format!("GET / HTTP/1.1\r\nHost: x\r\n{big}\r\n").into_bytes(),
            431,
        ),
    ];
    for (raw, status) in cases {
        let mut c = Client::connect(addr);
        c.send(&raw);
        let r = c
            .response()
            .unwrap_or_else(|| panic!("no answer to {raw:?}"));
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&raw));
        assert!(c.closed());
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0);
    // Ten headers are allowed.
    let ten: String = (0..9).map(|i| format!("X-H{i}: v\r\n")).collect();
    let mut c = Client::sending(
        addr,
        format!("GET / HTTP/1.1\r\nHost: x\r\n{ten}\r\n").as_bytes(),
    );
    assert_eq!(c.response().unwrap().status, 200);
    stop(server, ws);
}

#[test]
fn a_request_past_its_deadline_gets_504_and_interrupts_the_worker() {
    let (server, addr) = start(Config {
        request_timeout: Some(Duration::from_millis(200)),
        ..config()
    });
    let (hook_tx, hook_rx) = mpsc::channel::<CancelReason>();
    let hook_tx = std::sync::Mutex::new(hook_tx);
    let (done_tx, done_rx) = mpsc::channel::<bool>();
    let done_tx = std::sync::Mutex::new(done_tx);
    let ws = workers(server.queue(), 1, Arc::default(), move |r| {
        // A "handler" that only stops when interrupted.
        let (stop_tx, stop_rx) = mpsc::channel();
        let notify = hook_tx.lock().unwrap().clone();
        r.cancel
            .set_hook(Box::new(move |reason| {
                notify.send(reason).unwrap();
                stop_tx.send(()).unwrap();
            }))
            .unwrap();
        stop_rx.recv().unwrap();
        let late = r
            .responder
            .send_full(ResponseHead::new(200).unwrap(), Bytes::new());
        done_tx.lock().unwrap().send(late.is_err()).unwrap();
    });
    let r = get(addr, "/slow");
    assert_eq!(r.status, 504);
    assert_eq!(hook_rx.recv().unwrap(), CancelReason::Timeout);
    assert!(done_rx.recv().unwrap(), "a late answer must be refused");
    stop(server, ws);
}

#[test]
fn time_in_the_queue_does_not_count_toward_the_deadline() {
    let timeout = Duration::from_secs(1);
    let (server, addr) = start(Config {
        request_timeout: Some(timeout),
        ..config()
    });
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    // One worker: `/hold` keeps it busy (past its own deadline) until released.
    let ws = workers(server.queue(), 1, Arc::default(), move |r| {
        if r.head.path == "/hold" {
            release_rx.lock().unwrap().recv().unwrap();
        }
        let _ = r
            .responder
            .send_full(ResponseHead::new(200).unwrap(), Bytes::new());
    });
    let held = std::thread::spawn(move || get(addr, "/hold").status);
    while !server.queue().is_empty() || server.in_flight() == 0 {
        std::thread::yield_now();
    }
    let queued = std::thread::spawn(move || get(addr, "/quick").status);
    while server.queue().is_empty() {
        std::thread::yield_now();
    }
    // `/quick` waits in the queue for longer than the timeout...
    std::thread::sleep(timeout + Duration::from_millis(300));
    assert_eq!(held.join().unwrap(), 504);
    release_tx.send(()).unwrap();
    // ...and still gets its answer: its deadline starts when the worker takes it.
    assert_eq!(queued.join().unwrap(), 200);
    stop(server, ws);
}

#[test]
fn a_worker_that_drops_the_request_gives_500() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), drop);
    assert_eq!(get(addr, "/").status, 500);
    stop(server, ws);
}

#[test]
fn slow_and_idle_clients_are_disconnected() {
    let (server, addr) = start(Config {
        header_timeout: Duration::from_millis(200),
        ..config()
    });
    let ws = workers(server.queue(), 1, Arc::default(), echo);
    // A head that never completes.
    let mut c = Client::sending(addr, b"GET / HTTP/1.1\r\nHost: x\r\n");
    assert!(c.closed());
    // An idle keep-alive connection after one request.
    let mut c = Client::sending(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().unwrap().status, 200);
    assert!(c.closed());
    stop(server, ws);
}

#[test]
fn a_stalled_body_fails_the_read_after_the_body_timeout() {
    let (server, addr) = start(Config {
        body_timeout: Duration::from_millis(200),
        ..config()
    });
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let ws = workers(server.queue(), 1, Arc::default(), move |mut r| {
        tx.lock().unwrap().send(r.body.read_to_end(None)).unwrap();
    });
    let c = Client::sending(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    );
    assert!(matches!(rx.recv().unwrap(), Err(BodyError::Timeout(_))));
    drop(c);
    stop(server, ws);
}

#[test]
fn http_1_0_requests_are_answered_and_closed() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), echo);
    let mut c = Client::sending(addr, b"GET /old HTTP/1.0\r\n\r\n");
    let r = c.response().unwrap();
    assert!(r.text().starts_with("GET /old HTTP/1.0 "), "{}", r.text());
    assert!(c.closed());
    stop(server, ws);
}

#[test]
fn serves_on_a_unix_socket_and_removes_it() {
    let dir = std::env::temp_dir().join(format!("manygil-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let server = Server::bind(Config {
        listen: vec![Listen::Unix(path.clone())],
        ..Config::default()
    })
    .unwrap();
    server.start();
    // A second server on the live socket is refused.
    let again = Server::bind(Config {
        listen: vec![Listen::Unix(path.clone())],
        ..Config::default()
    });
    assert!(matches!(again, Err(BindError::InUse(_))));
    let ws = workers(server.queue(), 1, Arc::default(), echo);
    let mut c = Client::connect_unix(&path);
    c.send(b"GET /u HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("GET /u HTTP/1.1"), "{}", r.text());
    stop(server, ws);
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A copy of `fd` (as another process holding the same socket would have).
fn dup(fd: &std::os::fd::OwnedFd) -> std::os::fd::RawFd {
    use std::os::fd::IntoRawFd;
    fd.try_clone().unwrap().into_raw_fd()
}

#[test]
fn serves_sockets_passed_as_descriptors_that_outlive_the_server() {
    use std::os::unix::net::UnixStream;
    // The supervisor's part: open the sockets once, keep them, pass copies to servers.
    let dir = std::env::temp_dir().join(format!("manygil-serve-fd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let (tcp, tcp_addr) = manygil_serve::open_listener(
        &Listen::Tcp("127.0.0.1:0".parse().unwrap()),
        Config::default().backlog,
    )
    .unwrap();
    let (unix, unix_addr) = manygil_serve::open_listener(&Listen::Unix(path.clone()), 16).unwrap();
    assert_eq!(unix_addr, BoundAddr::Unix(path.clone()));
    let BoundAddr::Tcp(addr) = tcp_addr else {
        panic!("{tcp_addr:?}")
    };
    let serve = || {
        let server = Server::bind(Config {
            listen: vec![Listen::Fd(dup(&tcp)), Listen::Fd(dup(&unix))],
            ..Config::default()
        })
        .unwrap();
        assert_eq!(server.addrs(), [tcp_addr.clone(), unix_addr.clone()]);
        server.start();
        let ws = workers(server.queue(), 1, Arc::default(), echo);
        (server, ws)
    };
    let (server, ws) = serve();
    assert_eq!(get(addr, "/one").status, 200);
    stop(server, ws);
    // The server closed its copies only: connections made now wait in the kernel's queue
    // (not refused), the socket file stays, and the next server answers them.
    let mut c = Client::sending(
        addr,
        b"GET /queued HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let mut u = UnixStream::connect(&path).expect("the Unix socket still listens");
    u.set_read_timeout(Some(IO_BOUND)).unwrap();
    u.write_all(b"GET /u HTTP/1.0\r\n\r\n").unwrap();
    let (server, ws) = serve();
    let r = c.response().unwrap();
    assert!(r.text().starts_with("GET /queued "), "{}", r.text());
    let mut out = String::new();
    u.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.0 200 ") && out.contains("GET /u "),
        "{out}"
    );
    stop(server, ws);
    assert!(path.exists());
    // Once the last copy is closed, connections are refused.
    drop((tcp, unix));
    assert_eq!(
        TcpStream::connect(addr).unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_descriptor_that_is_not_a_listening_socket_is_refused() {
    use std::os::fd::IntoRawFd;
    let file = std::fs::File::open("/dev/null").unwrap().into_raw_fd();
    let connected = TcpStream::connect(start(config()).1).unwrap().into_raw_fd();
    for (fd, why) in [
        (file, "Socket operation on non-socket"),
        (connected, "not a listening socket"),
        (1_000_000, "Bad file descriptor"),
    ] {
        let err = Server::bind(Config {
            listen: vec![Listen::Fd(fd)],
            ..Config::default()
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("cannot listen on fd://{fd}: ")) && msg.contains(why),
            "{msg}"
        );
    }
}

#[test]
fn a_port_in_use_is_reported_as_such() {
    let (server, addr) = start(config());
    let err = Server::bind(Config {
        listen: vec![Listen::Tcp(addr)],
        ..Config::default()
    })
    .unwrap_err();
    assert_eq!(err, BindError::InUse(addr.to_string()));
    assert!(err.to_string().contains("already in use"));
    server.shutdown(Duration::ZERO);
}

#[test]
fn shutdown_finishes_in_flight_requests_and_stops_accepting() {
    let (server, addr) = start(config());
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let started_tx = std::sync::Mutex::new(started_tx);
    let release_rx = std::sync::Mutex::new(release_rx);
    let ws = workers(server.queue(), 1, Arc::default(), move |r| {
        started_tx.lock().unwrap().send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
        r.responder
            .send_full(ResponseHead::new(200).unwrap(), Bytes::from_static(b"done"))
            .unwrap();
    });
    let mut c = Client::sending(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    started_rx.recv().unwrap();
    let server = Arc::new(server);
    let s2 = server.clone();
    let stopping = std::thread::spawn(move || s2.shutdown(Duration::from_secs(60)));
    // Wait until the listener is gone: new connections are refused.
    while TcpStream::connect(addr).is_ok() {
        std::thread::yield_now();
    }
    release_tx.send(()).unwrap();
    let r = c.response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "done"));
    assert!(
        c.closed(),
        "the connection closes after the in-flight request"
    );
    let report = stopping.join().unwrap();
    assert!(report.graceful);
    assert_eq!(report.cancelled, 0);
    ws.into_iter().for_each(|w| w.join().unwrap());
}

#[test]
fn a_connection_accepted_before_shutdown_gets_its_first_request_answered() {
    // The race of a reload: the old server accepted a connection, then stopped before the
    // request on it arrived. hyper's graceful shutdown would close such a connection
    // unanswered (as an idle keep-alive one); it gets its first request served instead.
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), echo);
    let mut c = Client::connect(addr);
    while server.connections() == 0 {
        std::thread::yield_now();
    }
    let server = Arc::new(server);
    let s2 = server.clone();
    let stopping = std::thread::spawn(move || s2.shutdown(Duration::from_secs(60)));
    // The server has stopped: new connections are refused.
    while TcpStream::connect(addr).is_ok() {
        std::thread::yield_now();
    }
    c.send(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c
        .response()
        .expect("the request sent on a connection accepted before the stop is answered");
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("GET /late "), "{}", r.text());
    assert!(c.closed(), "the connection closes after that request");
    let report = stopping.join().unwrap();
    assert!(report.graceful);
    ws.into_iter().for_each(|w| w.join().unwrap());
}

#[test]
fn an_idle_keep_alive_connection_is_closed_at_shutdown() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), echo);
    let mut c = Client::connect(addr);
    c.send(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().unwrap().status, 200);
    let report = server.shutdown(Duration::from_secs(60));
    assert!(report.graceful);
    assert!(
        c.closed(),
        "an idle connection that was served closes at once"
    );
    ws.into_iter().for_each(|w| w.join().unwrap());
}

#[test]
fn a_stopped_worker_takes_no_further_request() {
    let (server, addr) = start(config());
    let q = server.queue();
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    // Stopped while waiting: returns at once.
    let waiting = {
        let (q, stop_rx) = (q.clone(), stop_rx.clone());
        std::thread::spawn(move || matches!(q.recv_unless(None, &stop_rx), Recv::Closed))
    };
    drop(stop_tx);
    assert!(waiting.join().unwrap());
    // A request sent after the stop stays for another worker.
    let mut c = Client::sending(addr, b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    while q.is_empty() {
        std::thread::yield_now();
    }
    assert!(matches!(q.recv_unless(None, &stop_rx), Recv::Closed));
    assert_eq!(q.len(), 1, "the request is still queued");
    let ws = workers(server.queue(), 1, Arc::default(), echo);
    let r = c.response().unwrap();
    assert!(r.text().starts_with("GET /after "), "{}", r.text());
    stop(server, ws);
}

#[test]
fn shutdown_cancels_what_outlives_the_grace_period() {
    let (server, addr) = start(config());
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = std::sync::Mutex::new(started_tx);
    let (hook_tx, hook_rx) = mpsc::channel::<CancelReason>();
    let hook_tx = std::sync::Mutex::new(hook_tx);
    let ws = workers(server.queue(), 1, Arc::default(), move |r| {
        let (stop_tx, stop_rx) = mpsc::channel();
        let notify = hook_tx.lock().unwrap().clone();
        r.cancel
            .set_hook(Box::new(move |reason| {
                notify.send(reason).unwrap();
                stop_tx.send(()).unwrap();
            }))
            .unwrap();
        started_tx.lock().unwrap().send(()).unwrap();
        stop_rx.recv().unwrap();
    });
    let mut c = Client::sending(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    started_rx.recv().unwrap();
    let report = server.shutdown(Duration::from_millis(100));
    assert!(!report.graceful);
    assert_eq!(report.cancelled, 1);
    assert_eq!(hook_rx.recv().unwrap(), CancelReason::Shutdown);
    assert_eq!(c.response().unwrap().status, 503);
    ws.into_iter().for_each(|w| w.join().unwrap());
}

/// A worker that streams 64 KiB chunks until a write fails, then sends why its request
/// was cancelled, if it was.
fn endless_stream(tx: mpsc::Sender<Option<CancelReason>>) -> impl Fn(Box<Request>) + Send + Sync {
    let tx = std::sync::Mutex::new(tx);
    move |r| {
        let mut w = r
            .responder
            .start_stream(ResponseHead::new(200).unwrap())
            .unwrap();
        let chunk = Bytes::from(vec![b'x'; 1 << 16]);
        let mut sent = 0usize;
        // Bounded: the socket buffers hold a few MiB at most.
        while w.write(chunk.clone()).is_ok() {
            sent += 1;
            assert!(sent < 100_000, "writes never failed");
        }
        // The front may cut the connection (its write-stall limit) a moment before it
        // records why: the reason, once recorded (None if it never is).
        let deadline = std::time::Instant::now() + IO_BOUND;
        while r.cancel.reason().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        tx.lock().unwrap().send(r.cancel.reason()).unwrap();
    }
}

#[test]
fn a_writer_learns_that_the_client_left() {
    let (server, addr) = start(Config {
        response_buffer: 2,
        ..config()
    });
    let (tx, rx) = mpsc::channel();
    let ws = workers(server.queue(), 1, Arc::default(), endless_stream(tx));
    let mut c = Client::sending(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    c.take_until(b"\r\n\r\n").unwrap();
    drop(c);
    // The write loop ends (with an error) instead of blocking forever.
    rx.recv().unwrap();
    stop(server, ws);
}

#[test]
fn queued_requests_wait_for_a_free_worker() {
    let (server, addr) = start(config());
    let seen = Arc::new(AtomicUsize::new(0));
    let ws = workers(server.queue(), 2, seen.clone(), echo);
    let clients: Vec<_> = (0..16)
        .map(|i| std::thread::spawn(move || get(addr, &format!("/{i}")).status))
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), 200);
    }
    assert_eq!(seen.load(Ordering::SeqCst), 16);
    assert_eq!(server.in_flight(), 0);
    stop(server, ws);
}

/// A body that smuggles a whole second response after the `Content-Length: 5` it declares.
const SMUGGLING: &[u8] = b"helloHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhacked";

/// A worker that answers `/full-long`, `/full-short`, `/stream-long` and `/stream-short`
/// with bodies that do not match their `Content-Length`, anything else with [`echo`].
fn lying_about_the_length(r: Box<Request>) {
    let declared = |n: &str| {
        let mut head = ResponseHead::new(200).unwrap();
        head.push_header("Content-Length", n.as_bytes()).unwrap();
        head
    };
    let stream = |r: Box<Request>, n: &str, parts: &[&'static [u8]]| {
        let mut w = r.responder.start_stream(declared(n)).unwrap();
        for p in parts {
            // Past the promised length the writes fail: the body is complete.
            let _ = w.write(Bytes::from_static(p));
        }
        let _ = w.finish();
    };
    match r.head.path.as_str() {
        "/full-long" => {
            let _ = r
                .responder
                .send_full(declared("5"), Bytes::from_static(SMUGGLING));
        }
        "/full-short" => {
            let _ = r
                .responder
                .send_full(declared("10"), Bytes::from_static(b"short"));
        }
        "/stream-long" => stream(r, "5", &[b"hel", &SMUGGLING[3..], b"more"]),
        "/stream-short" => stream(r, "10", &[b"sho", b"rt"]),
        _ => echo(r),
    }
}

#[test]
fn a_body_longer_than_its_content_length_is_cut_there() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), lying_about_the_length);
    for path in ["/full-long", "/stream-long"] {
        let mut c = Client::sending(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let r = c.response().unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "hello"), "{path}");
        // The next request on this keep-alive connection gets its own answer, not the
        // response the body tried to plant.
        c.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = c.response().unwrap();
        assert!(r.text().starts_with("GET /next HTTP/1.1"), "{path}: {r:?}");
    }
    stop(server, ws);
}

#[test]
fn a_body_shorter_than_its_content_length_closes_the_connection() {
    let (server, addr) = start(config());
    let ws = workers(server.queue(), 1, Arc::default(), lying_about_the_length);
    for path in ["/full-short", "/stream-short"] {
        let mut c = Client::sending(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let head = c.take_until(b"\r\n\r\n").unwrap();
        assert!(head.starts_with(b"HTTP/1.1 200 "), "{path}");
        // What was sent, then the end of the connection: the client knows the body is
        // incomplete, and nothing else can be read as its missing bytes.
        while c.fill() {}
        assert_eq!(c.buf, b"short", "{path}");
    }
    stop(server, ws);
}

#[test]
fn a_malformed_chunked_body_fails_the_read_as_malformed() {
    let (server, addr) = start(config());
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let ws = workers(server.queue(), 1, Arc::default(), move |mut r| {
        let got = r.body.read_to_end(None);
        tx.lock().unwrap().send(got).unwrap();
    });
    let _c = Client::sending(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n",
    );
    assert!(
        matches!(rx.recv().unwrap(), Err(BodyError::Malformed(_))),
        "a bad chunk size is the client's fault, not a broken connection"
    );
    stop(server, ws);
}

#[test]
fn a_stream_past_its_deadline_is_cut_when_the_client_stops_reading() {
    let (server, addr) = start(Config {
        request_timeout: Some(Duration::from_millis(300)),
        response_buffer: 2,
        ..config()
    });
    let (tx, rx) = mpsc::channel();
    let ws = workers(server.queue(), 1, Arc::default(), endless_stream(tx));
    // The client reads the head, then nothing: the buffers fill and the writer blocks.
    let mut c = Client::sending(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    c.take_until(b"\r\n\r\n").unwrap();
    // The deadline frees the writer all the same...
    let freed = rx
        .recv_timeout(IO_BOUND)
        .expect("the writer stayed blocked");
    assert_eq!(freed, Some(CancelReason::Timeout));
    // ...and closes the connection: what was sent, then the end, never a complete body.
    while c.fill() {}
    assert!(!c.buf.ends_with(b"0\r\n\r\n"));
    stop(server, ws);
}

/// Poll `cond` until it holds, failing after [`IO_BOUND`] with `what`.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + IO_BOUND;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A client that sends `raw` and never reads, with a small receive buffer (so that the
/// server's writes stall soon).
fn non_reader(addr: SocketAddr, raw: &[u8]) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect(&addr.into()).unwrap();
    let mut s: TcpStream = s.into();
    s.write_all(raw).unwrap();
    s
}

#[test]
fn a_whole_body_the_client_stops_reading_is_cut_after_the_write_stall() {
    let (server, addr) = start(Config {
        request_timeout: Some(Duration::from_millis(300)),
        ..config()
    });
    let answered = Arc::new(AtomicUsize::new(0));
    let n = answered.clone();
    let ws = workers(server.queue(), 1, Arc::default(), move |r| {
        let big = r.head.path == "/big";
        let body = if big {
            vec![b'x'; 16 << 20]
        } else {
            b"hi".to_vec()
        };
        let mut head = ResponseHead::new(200).unwrap();
        head.push_header("Content-Type", b"application/octet-stream")
            .unwrap();
        r.responder.send_full(head, Bytes::from(body)).unwrap();
        n.fetch_add(1, Ordering::SeqCst);
    });
    // Three clients ask for 16 MiB in one piece and read nothing.
    let stalled: Vec<TcpStream> = (0..3)
        .map(|_| non_reader(addr, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n"))
        .collect();
    wait_until("the three bodies handed over", || {
        answered.load(Ordering::SeqCst) == 3
    });
    // Past the stall limit every one is closed (with its body freed), though no client
    // read or left; the server still answers.
    wait_until("the stalled connections closed", || {
        server.connections() == 0
    });
    assert_eq!(get(addr, "/small").text(), "hi");
    // The clients see the end: what fit in the buffers, then a reset (never 16 MiB).
    for mut s in stalled {
        s.set_read_timeout(Some(IO_BOUND)).unwrap();
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        assert!(got < 16 << 20, "{got}");
    }
    stop(server, ws);
}

#[test]
fn a_client_that_reads_slowly_is_not_cut() {
    // The limit is on a stall, not on the whole transfer: 32 MiB read in sips of 64 KiB
    // (more than the socket buffers hold: the server's writes wait for the client), over
    // more than the limit, arrive whole.
    let (server, addr) = start(Config {
        request_timeout: Some(Duration::from_millis(300)),
        ..config()
    });
    let ws = workers(server.queue(), 1, Arc::default(), |r| {
        let mut head = ResponseHead::new(200).unwrap();
        head.push_header("Content-Type", b"application/octet-stream")
            .unwrap();
        let _ = r
            .responder
            .send_full(head, Bytes::from(vec![b'y'; 32 << 20]));
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(IO_BOUND)).unwrap();
    let started = std::time::Instant::now();
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match s.read(&mut buf).unwrap() {
            0 => break,
            k => got += k,
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(got > 32 << 20, "{got}");
    // Only meaningful if the transfer outlasted the limit (it does: 512+ sips of 2 ms).
    assert!(started.elapsed() > Duration::from_millis(300));
    stop(server, ws);
}

#[test]
fn an_http_1_1_request_without_host_gets_400_and_never_reaches_a_worker() {
    let (server, addr) = start(config());
    let seen = Arc::new(AtomicUsize::new(0));
    let ws = workers(server.queue(), 1, seen.clone(), echo);
    // RFC 9112 3.2: an HTTP/1.1 request must have a Host field...
    let mut c = Client::sending(addr, b"GET /nohost HTTP/1.1\r\n\r\n");
    assert_eq!(c.response().unwrap().status, 400);
    assert!(c.closed());
    // ...also one in absolute form...
    let mut c = Client::sending(addr, b"GET http://a.example/abs HTTP/1.1\r\n\r\n");
    assert_eq!(c.response().unwrap().status, 400);
    assert_eq!(seen.load(Ordering::SeqCst), 0);
    // ...while HTTP/1.0 may leave it out, and an empty one is a Host field all the same.
    let mut c = Client::sending(addr, b"GET /old HTTP/1.0\r\n\r\n");
    assert_eq!(c.response().unwrap().status, 200);
    let mut c = Client::sending(
        addr,
        b"GET /empty HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(c.response().unwrap().status, 200);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    stop(server, ws);
}

#[test]
fn a_registered_wake_up_is_called_once_by_the_next_queued_request_and_forgotten_ones_never() {
    let (server, addr) = start(config());
    let queue = server.queue();
    let (woke_tx, woke_rx) = mpsc::channel::<u32>();
    let register = |tag: u32| {
        let tx = woke_tx.clone();
        queue.wake_me(Arc::new(move || {
            let _ = tx.send(tag);
            // Tag 0 declines: the next one is woken instead.
            tag != 0
        }))
    };
    let answer = |r: Box<Request>| {
        r.responder
            .send_full(ResponseHead::new(200).unwrap(), Bytes::from_static(b"ok"))
            .unwrap();
    };
    // Nothing queued yet: no request waiting.
    let (forgotten, waiting) = register(1);
    assert!(!waiting);
    queue.forget_wake(forgotten);
    let (_, waiting) = register(0);
    assert!(!waiting);
    let (_, waiting) = register(2);
    assert!(!waiting);
    // A client's request wakes the first registered consumer (not the forgotten one);
    // it declines (it takes no more), so the next is woken, and takes the request from
    // the queue itself.
    let client = std::thread::spawn(move || get(addr, "/woken"));
    assert_eq!(woke_rx.recv_timeout(IO_BOUND), Ok(0));
    assert_eq!(woke_rx.recv_timeout(IO_BOUND), Ok(2));
    let Recv::Request(r) = queue.recv(Some(IO_BOUND)) else {
        panic!("the queued request")
    };
    assert_eq!(r.head.path, "/woken");
    answer(r);
    assert_eq!(client.join().unwrap().status, 200);
    // Called once: the next request, queued with nobody registered, wakes no one; and
    // registering while it waits says so (the consumer then looks again itself).
    let client = std::thread::spawn(move || get(addr, "/second"));
    let deadline = std::time::Instant::now() + IO_BOUND;
    while queue.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the second request never queued"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let (id, waiting) = register(3);
    assert!(waiting);
    queue.forget_wake(id);
    assert!(woke_rx.try_recv().is_err());
    let Recv::Request(r) = queue.recv(Some(IO_BOUND)) else {
        panic!("the second request")
    };
    answer(r);
    assert_eq!(client.join().unwrap().status, 200);
    stop(server, Vec::new());
}
