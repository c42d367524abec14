//! Static files answered by the I/O threads themselves (`--static /static=./static`): a
//! request whose path is under a mount's URL prefix never reaches a worker.
//!
//! - `path`: the URL path to a relative file path, or why it is refused (400/404).
//! - `open`: opening it beneath the mount's directory, symbolic links contained.
//! - `headers`: validators, conditional requests, `Range`, `Accept-Encoding`.
//! - `body`: large files streamed in chunks read off the I/O threads.
//!
//! One answer: only `GET` and `HEAD` (others 405 with `Allow`); the precompressed sibling
//! (`name.br`, `name.gz`) the client's `Accept-Encoding` prefers when it exists, else the
//! file; `ETag` (size and modification time) and `Last-Modified`; 304 / 412 for
//! conditional requests; a single `Range` of a `GET` gives 206 (416 when no byte of it
//! exists; several ranges give the whole file); `Content-Type` from the extension. A file
//! up to [`body::CHUNK`] bytes is read at once on the I/O thread (from the page cache,
//! microseconds; as nginx does); a larger one is streamed ([`FileBody`]).

mod body;
mod headers;
mod open;
mod path;

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};

pub(crate) use body::FileBody;
use headers::{Coding, Precondition, Span, Version};
use open::Root;
use path::{Prefix, Routed};

/// A directory served under a URL prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMount {
    /// The URL prefix, e.g. `/static` (a trailing `/` is dropped; `/` alone is refused:
    /// the application would never be reached).
    pub prefix: String,
    /// The directory (relative to the current directory), opened when the server binds.
    pub dir: PathBuf,
}

/// One mount, ready.
#[derive(Debug)]
struct Mount {
    prefix: Prefix,
    root: Root,
    /// As given, for messages.
    dir: PathBuf,
}

/// Every mount of a server, longest prefix first.
#[derive(Debug)]
pub(crate) struct StaticFiles {
    mounts: Vec<Mount>,
}

/// An answer from the files.
#[derive(Debug)]
pub(crate) struct StaticReply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: StaticBody,
}

/// What follows the head of a [`StaticReply`].
#[derive(Debug)]
pub(crate) enum StaticBody {
    /// Nothing (`HEAD`, 304, 412 to a `HEAD`).
    Empty,
    /// The status as a line of text (an error; the caller adds its `Content-Type`).
    Text,
    /// A whole (small) file or part of it.
    Bytes(Bytes),
    /// A large file or part of it, streamed.
    File(FileBody),
}

impl StaticReply {
    fn error(status: StatusCode) -> StaticReply {
        StaticReply {
            status,
            headers: HeaderMap::new(),
            body: StaticBody::Text,
        }
    }
}

impl StaticFiles {
    /// Check the prefixes and open the directories of `mounts` (`None` when there is
    /// none).
    ///
    /// # Errors
    ///
    /// A message naming the prefix or directory at fault and the fix.
    pub(crate) fn open(mounts: &[StaticMount]) -> Result<Option<StaticFiles>, String> {
        let mut ready: Vec<Mount> = Vec::new();
        for m in mounts {
            let prefix = Prefix::parse(&m.prefix).map_err(|e| format!("static files: {e}"))?;
            if ready.iter().any(|r| r.prefix == prefix) {
                return Err(format!(
                    "static files: URL prefix {} is given twice: give each prefix one directory",
                    prefix.text
                ));
            }
            let root = Root::new(&m.dir).map_err(|e| dir_error(m, &prefix, &e))?;
            ready.push(Mount {
                prefix,
                root,
                dir: m.dir.clone(),
            });
        }
        ready.sort_by_key(|m| std::cmp::Reverse(m.prefix.depth()));
        Ok((!ready.is_empty()).then_some(StaticFiles { mounts: ready }))
    }

    /// The answer to a request for `path` (as sent, percent-encoded), or `None` if it is
    /// not under any mount (for the application).
    pub(crate) fn serve(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<StaticReply> {
        let (mount, routed) =
            self.mounts
                .iter()
                .find_map(|m| match path::route(&m.prefix, path) {
                    Routed::Elsewhere => None,
                    routed => Some((m, routed)),
                })?;
        if method != Method::GET && method != Method::HEAD {
            let mut r = StaticReply::error(StatusCode::METHOD_NOT_ALLOWED);
            r.headers
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Some(r);
        }
        Some(match routed {
            Routed::Elsewhere => unreachable!("filtered above"),
            Routed::Bad => StaticReply::error(StatusCode::BAD_REQUEST),
            Routed::Hidden | Routed::Directory => StaticReply::error(StatusCode::NOT_FOUND),
            Routed::File(rel) => mount.file(&rel, method == Method::HEAD, headers),
        })
    }
}

/// A clear message for a directory that cannot be served.
fn dir_error(m: &StaticMount, prefix: &Prefix, e: &io::Error) -> String {
    let dir = m.dir.display();
    let p = &prefix.text;
    if e.kind() == io::ErrorKind::NotFound {
        let cwd =
            std::env::current_dir().map_or_else(|_| "?".to_owned(), |d| d.display().to_string());
        format!(
            "static files: directory {dir:?} for {p} does not exist (a relative path is taken \
             from the current directory, {cwd}): give an existing directory"
        )
    } else if e.raw_os_error() == Some(libc::ENOTDIR) {
        format!("static files: {dir:?} for {p} is not a directory: give a directory")
    } else {
        format!("static files: cannot open directory {dir:?} for {p}: {e}")
    }
}

/// Whether an error opening a file means there is nothing to serve there (404), as
/// opposed to a failure worth a 500 and a log line.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidInput
    ) || matches!(
        e.raw_os_error(),
        Some(libc::ENOTDIR | libc::EXDEV | libc::ELOOP | libc::ENAMETOOLONG | libc::EISDIR)
    )
}

/// `Content-Type` from the file name's extension (UTF-8 text types say so).
fn content_type(rel: &[u8]) -> HeaderValue {
    let guess = mime_guess::from_path(OsStr::from_bytes(rel)).first_raw();
    match guess {
        Some(t) if t.starts_with("text/") || t == "application/javascript" => {
            HeaderValue::from_str(&format!("{t}; charset=utf-8"))
                .unwrap_or(HeaderValue::from_static("application/octet-stream"))
        }
        Some(t) => HeaderValue::from_static(t),
        None => HeaderValue::from_static("application/octet-stream"),
    }
}

/// A header value made of visible ASCII (entity tags, dates, ranges we format).
fn value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or(HeaderValue::from_static(""))
}

impl Mount {
    /// The file, or the precompressed sibling the client prefers: (file, metadata, coding).
    fn open_best(
        &self,
        rel: &[u8],
        headers: &HeaderMap,
    ) -> io::Result<(std::fs::File, std::fs::Metadata, Option<Coding>)> {
        for coding in headers::accepted(headers) {
            let mut sibling = Vec::with_capacity(rel.len() + 3);
            sibling.extend_from_slice(rel);
            sibling.extend_from_slice(coding.suffix());
            if let Ok(f) = self.root.open(&sibling) {
                match f.metadata() {
                    Ok(meta) if meta.is_file() => return Ok((f, meta, Some(coding))),
                    _ => {}
                }
            }
        }
        let f = self.root.open(rel)?;
        let meta = f.metadata()?;
        if !meta.is_file() {
            // A directory, FIFO, socket or device.
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok((f, meta, None))
    }

    /// The answer for the file at `rel`.
    fn file(&self, rel: &[u8], head: bool, req: &HeaderMap) -> StaticReply {
        let (file, meta, coding) = match self.open_best(rel, req) {
            Ok(found) => found,
            Err(e) if is_absent(&e) => return StaticReply::error(StatusCode::NOT_FOUND),
            Err(e) => return self.failed(rel, &e),
        };
        let v = Version::of(&meta);
        let etag = v.etag(coding);
        let mut h = HeaderMap::new();
        h.insert(header::ETAG, value(etag.clone()));
        h.insert(header::LAST_MODIFIED, value(v.last_modified()));
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        match headers::precondition(req, &etag, &v) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                return StaticReply {
                    status: StatusCode::NOT_MODIFIED,
                    headers: h,
                    body: StaticBody::Empty,
                };
            }
            Precondition::Failed => return StaticReply::error(StatusCode::PRECONDITION_FAILED),
        }
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        let span = if head {
            Span::Full // a Range applies to GET only (RFC 9110 14.2)
        } else {
            headers::span(req, &etag, &v, v.size)
        };
        let (status, start, len) = match span {
            Span::Full => (StatusCode::OK, 0, v.size),
            Span::Part { start, end } => {
                let range = format!("bytes {start}-{end}/{}", v.size);
                h.insert(header::CONTENT_RANGE, value(range));
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
            Span::Unsatisfiable => {
                let mut r = StaticReply::error(StatusCode::RANGE_NOT_SATISFIABLE);
                r.headers
                    .insert(header::CONTENT_RANGE, value(format!("bytes */{}", v.size)));
                return r;
            }
        };
        h.insert(header::CONTENT_TYPE, content_type(rel));
        if let Some(c) = coding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(c.name()));
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        let body = if head || len == 0 {
            StaticBody::Empty
        } else if len <= body::CHUNK {
            // At most CHUNK bytes: a small, bounded allocation.
            match body::read_exact_at(&file, len as usize, start) {
                Ok(data) => StaticBody::Bytes(Bytes::from(data)),
                Err(e) => return self.failed(rel, &e),
            }
        } else {
            StaticBody::File(FileBody::new(file, start, len))
        };
        StaticReply {
            status,
            headers: h,
            body,
        }
    }

    /// 500, logged.
    fn failed(&self, rel: &[u8], e: &io::Error) -> StaticReply {
        eprintln!(
            "manygil serve: static file {:?} in {:?}: {e}",
            String::from_utf8_lossy(rel),
            self.dir.display().to_string()
        );
        StaticReply::error(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

#[cfg(test)]
mod tests;
