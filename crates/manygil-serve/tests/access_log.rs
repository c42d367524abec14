//! The access log handed to a sink (`Config::access_log_sink`) instead of stderr, over a
//! real loopback connection with a plain Rust thread as the worker.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use manygil_serve::{AccessLogSink, BoundAddr, Config, Listen, Recv, ResponseHead, Server};

#[test]
fn every_answered_request_reaches_the_sink_as_one_line() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let got = lines.clone();
    let server = Server::bind(Config {
        listen: vec![Listen::Tcp("127.0.0.1:0".parse().unwrap())],
        access_log: true,
        access_log_sink: Some(AccessLogSink(Arc::new(move |line| {
            got.lock().unwrap().push(line)
        }))),
        ..Config::default()
    })
    .expect("bind");
    let addr = match &server.addrs()[0] {
        BoundAddr::Tcp(a) => *a,
        other => panic!("{other:?}"),
    };
    server.start();
    let queue = server.queue();
    let worker = std::thread::spawn(move || loop {
        match queue.recv(None) {
            Recv::Request(r) => {
                let head = ResponseHead::from_status_line(b"200 OK").unwrap();
                let _ = r.responder.send_full(head, Bytes::from_static(b"hello"));
            }
            Recv::Closed => return,
            Recv::Timeout => unreachable!(),
        }
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /hello?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    assert!(
        answer.ends_with(b"hello"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // The line is written once the answer is complete: wait for it (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no access-log line reached the sink"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    server.shutdown(Duration::from_secs(10));
    worker.join().unwrap();
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.contains("\"GET /hello?x=1 HTTP/1.1\" 200 5 "),
        "{line}"
    );
    assert!(
        !line.ends_with('\n'),
        "the sink gets the line without its newline"
    );
}
