//! Whole answers from [`StaticFiles::serve`], on real files in a temporary directory.

use std::path::{Path, PathBuf};

use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};

use super::*;

/// A fresh directory under the system's temporary one, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "manygil-static-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mount(prefix: &str, dir: &Path) -> StaticMount {
    StaticMount {
        prefix: prefix.to_owned(),
        dir: dir.to_owned(),
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// A directory with a few files, and its server.
struct Site {
    t: TempDir,
    files: StaticFiles,
}

impl Site {
    fn new(name: &str, realpath: bool) -> Site {
        let t = TempDir::new(name);
        let root = t.0.join("site");
        std::fs::create_dir_all(root.join("css")).unwrap();
        std::fs::write(root.join("css/app.css"), "body{}").unwrap();
        std::fs::write(root.join("app.js"), "alert(1)").unwrap();
        std::fs::write(root.join("app.js.br"), "BROTLI").unwrap();
        std::fs::write(root.join("app.js.gz"), "GZIP!").unwrap();
        std::fs::write(root.join("data.bin"), (0..=255u8).collect::<Vec<_>>()).unwrap();
        std::fs::write(root.join(".env"), "SECRET=1").unwrap();
        std::fs::write(root.join("empty.txt"), "").unwrap();
        let files = StaticFiles::open(&[mount("/static", &root)])
            .unwrap()
            .unwrap();
        if realpath {
            for m in &files.mounts {
                m.root.use_realpath();
            }
        }
        Site { t, files }
    }

    fn ask(&self, method: Method, path: &str, h: &[(&str, &str)]) -> Option<StaticReply> {
        self.files.serve(&method, path, &headers(h))
    }

    fn get(&self, path: &str, h: &[(&str, &str)]) -> StaticReply {
        self.ask(Method::GET, path, h).expect("a static path")
    }
}

fn bytes(r: &StaticReply) -> &[u8] {
    match &r.body {
        StaticBody::Bytes(b) => b,
        StaticBody::Empty => b"",
        other => panic!("not a small body: {other:?}"),
    }
}

fn header<'a>(r: &'a StaticReply, name: &str) -> &'a str {
    r.headers
        .get(name)
        .map_or("", |v| v.to_str().unwrap_or("?"))
}

#[test]
fn serves_files_with_type_length_and_validators() {
    let s = Site::new("basic", false);
    let r = s.get("/static/css/app.css", &[]);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(bytes(&r), b"body{}");
    assert_eq!(header(&r, "content-type"), "text/css; charset=utf-8");
    assert_eq!(header(&r, "content-length"), "6");
    assert_eq!(header(&r, "accept-ranges"), "bytes");
    assert_eq!(header(&r, "vary"), "Accept-Encoding");
    assert!(header(&r, "etag").starts_with('"'));
    assert!(header(&r, "last-modified").ends_with(" GMT"));
    let r = s.get("/static/data.bin", &[]);
    assert_eq!(header(&r, "content-type"), "application/octet-stream");
    assert_eq!(bytes(&r).len(), 256);
    let r = s.get("/static/empty.txt", &[]);
    assert_eq!(
        (r.status, header(&r, "content-length")),
        (StatusCode::OK, "0")
    );
    assert!(
        s.ask(Method::GET, "/app.js", &[]).is_none(),
        "not under the prefix"
    );
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    let s = Site::new("head", false);
    let r = s
        .ask(Method::HEAD, "/static/data.bin", &[("range", "bytes=0-1")])
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "Range applies to GET only");
    assert_eq!(header(&r, "content-length"), "256");
    assert!(matches!(r.body, StaticBody::Empty));
}

#[test]
fn conditional_requests_get_304_and_412() {
    let s = Site::new("cond", false);
    let first = s.get("/static/css/app.css", &[]);
    let etag = header(&first, "etag").to_owned();
    let lm = header(&first, "last-modified").to_owned();
    let r = s.get("/static/css/app.css", &[("if-none-match", &etag)]);
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(header(&r, "etag"), etag);
    assert!(matches!(r.body, StaticBody::Empty));
    let r = s.get("/static/css/app.css", &[("if-modified-since", &lm)]);
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = s.get("/static/css/app.css", &[("if-none-match", "\"old\"")]);
    assert_eq!(r.status, StatusCode::OK);
    let r = s.get("/static/css/app.css", &[("if-match", "\"old\"")]);
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    // A change of the file changes its tag.
    std::fs::write(s.t.0.join("site/css/app.css"), "body{color:red}").unwrap();
    let r = s.get("/static/css/app.css", &[("if-none-match", &etag)]);
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(header(&r, "etag"), etag);
}

#[test]
fn ranges_give_206_or_416() {
    let s = Site::new("range", false);
    let r = s.get("/static/data.bin", &[("range", "bytes=10-19")]);
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(bytes(&r), (10..20u8).collect::<Vec<_>>());
    assert_eq!(header(&r, "content-range"), "bytes 10-19/256");
    assert_eq!(header(&r, "content-length"), "10");
    let r = s.get("/static/data.bin", &[("range", "bytes=-6")]);
    assert_eq!(bytes(&r), (250..=255u8).collect::<Vec<_>>());
    let r = s.get("/static/data.bin", &[("range", "bytes=256-")]);
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "content-range"), "bytes */256");
    let r = s.get("/static/data.bin", &[("range", "bytes=0-1,5-6")]);
    assert_eq!(r.status, StatusCode::OK, "several ranges: the whole file");
    assert_eq!(bytes(&r).len(), 256);
}

#[test]
fn precompressed_siblings_only_when_accepted() {
    let s = Site::new("coding", false);
    let plain = s.get("/static/app.js", &[]);
    assert_eq!(bytes(&plain), b"alert(1)");
    assert_eq!(header(&plain, "content-encoding"), "");
    assert_eq!(
        header(&plain, "content-type"),
        "text/javascript; charset=utf-8"
    );
    let br = s.get("/static/app.js", &[("accept-encoding", "gzip, br")]);
    assert_eq!(bytes(&br), b"BROTLI");
    assert_eq!(header(&br, "content-encoding"), "br");
    assert_eq!(
        header(&br, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&br, "vary"), "Accept-Encoding");
    assert_ne!(header(&br, "etag"), header(&plain, "etag"));
    let gz = s.get("/static/app.js", &[("accept-encoding", "gzip")]);
    assert_eq!(bytes(&gz), b"GZIP!");
    assert_eq!(header(&gz, "content-encoding"), "gzip");
    let none = s.get("/static/app.js", &[("accept-encoding", "br;q=0, gzip;q=0")]);
    assert_eq!(bytes(&none), b"alert(1)");
    // No sibling: the file itself.
    let css = s.get("/static/css/app.css", &[("accept-encoding", "br, gzip")]);
    assert_eq!(
        (bytes(&css), header(&css, "content-encoding")),
        (&b"body{}"[..], "")
    );
}

#[test]
fn only_get_and_head() {
    let s = Site::new("methods", false);
    for m in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let r = s.ask(m, "/static/app.js", &[]).unwrap();
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&r, "allow"), "GET, HEAD");
    }
}

#[test]
fn refusals() {
    for realpath in [false, true] {
        let s = Site::new("refusals", realpath);
        let root = s.t.0.join("site");
        std::fs::write(s.t.0.join("secret"), "secret").unwrap();
        std::os::unix::fs::symlink("../secret", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("css/app.css", root.join("inside.css")).unwrap();
        assert_eq!(s.get("/static/inside.css", &[]).status, StatusCode::OK);
        for (path, status) in [
            ("/static/../secret", StatusCode::BAD_REQUEST),
            ("/static/%2e%2e/secret", StatusCode::BAD_REQUEST),
            ("/static/css%2f..%2f..%2fsecret", StatusCode::BAD_REQUEST),
            ("/static/a%00", StatusCode::BAD_REQUEST),
            ("/static/escape", StatusCode::NOT_FOUND),
            ("/static/.env", StatusCode::NOT_FOUND),
            ("/static/css", StatusCode::NOT_FOUND),
            ("/static/css/", StatusCode::NOT_FOUND),
            ("/static", StatusCode::NOT_FOUND),
            ("/static/missing", StatusCode::NOT_FOUND),
            ("/static/css/app.css/x", StatusCode::NOT_FOUND),
        ] {
            let r = s.get(path, &[]);
            assert_eq!(r.status, status, "{path} (realpath: {realpath})");
            assert!(matches!(r.body, StaticBody::Text));
        }
    }
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let s = Site::new("fifo", false);
    let c = std::ffi::CString::new(s.t.0.join("site/pipe").as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert_eq!(s.get("/static/pipe", &[]).status, StatusCode::NOT_FOUND);
}

#[test]
fn large_files_are_streamed() {
    let s = Site::new("large", false);
    let size = body::CHUNK * 2 + 1;
    std::fs::write(s.t.0.join("site/big.bin"), vec![1u8; size as usize]).unwrap();
    let r = s.get("/static/big.bin", &[]);
    match &r.body {
        StaticBody::File(f) => assert_eq!(f.remaining(), size),
        other => panic!("not streamed: {other:?}"),
    }
    let r = s.get("/static/big.bin", &[("range", "bytes=1-")]);
    match &r.body {
        StaticBody::File(f) => assert_eq!(f.remaining(), size - 1),
        other => panic!("not streamed: {other:?}"),
    }
}

#[test]
fn the_longest_prefix_wins() {
    let t = TempDir::new("prefixes");
    for d in ["a", "b"] {
        std::fs::create_dir_all(t.0.join(d)).unwrap();
        std::fs::write(t.0.join(d).join("f.txt"), d).unwrap();
    }
    let files = StaticFiles::open(&[mount("/s", &t.0.join("a")), mount("/s/b", &t.0.join("b"))])
        .unwrap()
        .unwrap();
    let get = |p: &str| {
        let r = files.serve(&Method::GET, p, &HeaderMap::new()).unwrap();
        bytes(&r).to_vec()
    };
    assert_eq!(get("/s/f.txt"), b"a");
    assert_eq!(get("/s/b/f.txt"), b"b");
}

#[test]
fn bad_configurations_are_clear_errors() {
    let t = TempDir::new("config");
    std::fs::write(t.0.join("file"), "").unwrap();
    let err = |mounts: &[StaticMount]| StaticFiles::open(mounts).unwrap_err();
    let e = err(&[mount("/static", &t.0.join("nope"))]);
    assert!(e.contains("nope") && e.contains("does not exist"), "{e}");
    let e = err(&[mount("/static", &t.0.join("file"))]);
    assert!(e.contains("is not a directory"), "{e}");
    let e = err(&[mount("static", &t.0)]);
    assert!(e.contains("must start with /"), "{e}");
    let e = err(&[mount("/", &t.0)]);
    assert!(e.contains("never to the application"), "{e}");
    let e = err(&[mount("/s", &t.0), mount("/s/", &t.0)]);
    assert!(e.contains("given twice"), "{e}");
    assert!(StaticFiles::open(&[]).unwrap().is_none());
}
