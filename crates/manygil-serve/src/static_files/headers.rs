//! The request headers a file answer depends on (RFC 9110): validators and conditional
//! requests (13), `Range` (14), `Accept-Encoding` (12.5.3).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::header::{self, HeaderMap, HeaderValue};

/// What identifies one version of a file: its size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    /// Size in bytes.
    pub(crate) size: u64,
    /// Modification time, seconds since the epoch (0 for earlier).
    pub(crate) secs: u64,
    /// Nanoseconds of the modification time.
    pub(crate) nanos: u32,
}

impl Version {
    /// From a file's metadata.
    pub(crate) fn of(meta: &std::fs::Metadata) -> Version {
        let since = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        Version {
            size: meta.len(),
            secs: since.as_secs(),
            nanos: since.subsec_nanos(),
        }
    }

    /// A strong entity tag from size and modification time, with the content coding of
    /// a precompressed variant (`"<mtime>.<ns>-<size>"`, hexadecimal, `-br`/`-gz` added).
    pub(crate) fn etag(&self, coding: Option<Coding>) -> String {
        let suffix = coding.map_or("", |c| match c {
            Coding::Br => "-br",
            Coding::Gzip => "-gz",
        });
        format!(
            "\"{:x}.{:x}-{:x}{suffix}\"",
            self.secs, self.nanos, self.size
        )
    }

    /// `Last-Modified` (whole seconds, as HTTP dates are).
    pub(crate) fn last_modified(&self) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(self.secs))
    }
}

/// An HTTP date as seconds since the epoch (`None` if it is not one).
fn date_secs(v: &HeaderValue) -> Option<u64> {
    let t: SystemTime = httpdate::parse_http_date(v.to_str().ok()?).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// The entity tags of an `If-Match` / `If-None-Match` field (every line of it), `None`
/// for `*`.
fn tags(headers: &HeaderMap, name: header::HeaderName) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    for v in headers.get_all(name) {
        for t in v.as_bytes().split(|&b| b == b',') {
            let t = t.trim_ascii();
            if t == b"*" {
                return None;
            }
            if !t.is_empty() {
                out.push(t);
            }
        }
    }
    Some(out)
}

/// Weak comparison (13.1.2, used by `If-None-Match`): equal once any `W/` is dropped.
fn weak_eq(a: &[u8], b: &[u8]) -> bool {
    a.strip_prefix(b"W/").unwrap_or(a) == b.strip_prefix(b"W/").unwrap_or(b)
}

/// What the preconditions of a `GET`/`HEAD` decide (RFC 9110 13.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Answer normally.
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluate `If-Match`, `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since`
/// in the RFC's order, for the representation with entity tag `etag`.
pub(crate) fn precondition(headers: &HeaderMap, etag: &str, v: &Version) -> Precondition {
    let etag = etag.as_bytes();
    if headers.contains_key(header::IF_MATCH) {
        // Strong comparison: a weak tag never matches.
        if let Some(list) = tags(headers, header::IF_MATCH) {
            if !list.contains(&etag) {
                return Precondition::Failed;
            }
        }
    } else if let Some(since) = headers.get(header::IF_UNMODIFIED_SINCE).and_then(date_secs) {
        if v.secs > since {
            return Precondition::Failed;
        }
    }
    if headers.contains_key(header::IF_NONE_MATCH) {
        return match tags(headers, header::IF_NONE_MATCH) {
            None => Precondition::NotModified,
            Some(list) if list.iter().any(|t| weak_eq(t, etag)) => Precondition::NotModified,
            Some(_) => Precondition::Proceed,
        };
    }
    match headers.get(header::IF_MODIFIED_SINCE).and_then(date_secs) {
        Some(since) if v.secs <= since => Precondition::NotModified,
        _ => Precondition::Proceed,
    }
}

/// What to send of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// All of it (no `Range`, one that does not apply, or several ranges).
    Full,
    /// Bytes `start..=end` (206).
    Part {
        /// First byte.
        start: u64,
        /// Last byte (inclusive, < len).
        end: u64,
    },
    /// No byte of the range exists (416).
    Unsatisfiable,
}

/// The part of a `len`-byte representation a `GET` asks for with `Range` (14.2), unless
/// `If-Range` names another version (13.1.5): a single `bytes` range; several ranges,
/// another unit or a malformed field give the whole representation.
pub(crate) fn span(headers: &HeaderMap, etag: &str, v: &Version, len: u64) -> Span {
    let Some(range) = headers.get(header::RANGE) else {
        return Span::Full;
    };
    if let Some(if_range) = headers.get(header::IF_RANGE) {
        let b = if_range.as_bytes();
        let same = if b.starts_with(b"\"") || b.starts_with(b"W/") {
            b == etag.as_bytes() // strong comparison
        } else {
            date_secs(if_range) == Some(v.secs)
        };
        if !same {
            return Span::Full;
        }
    }
    parse_range(range.as_bytes(), len)
}

fn parse_range(field: &[u8], len: u64) -> Span {
    let field = field.trim_ascii();
    let Some(set) = field
        .get(..6)
        .filter(|u| u.eq_ignore_ascii_case(b"bytes="))
        .map(|_| &field[6..])
    else {
        return Span::Full;
    };
    let mut specs = set
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return Span::Full;
    };
    let number = |s: &[u8]| -> Option<u64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return Span::Full;
    };
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    if first.is_empty() {
        // `-N`: the last N bytes.
        return match number(last) {
            None => Span::Full,
            Some(0) => Span::Unsatisfiable,
            Some(_) if len == 0 => Span::Full,
            Some(n) => Span::Part {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        };
    }
    let Some(start) = number(first) else {
        return Span::Full;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(end) if end >= start => end,
            _ => return Span::Full, // invalid: ignored
        }
    };
    if start >= len {
        return Span::Unsatisfiable;
    }
    Span::Part {
        start,
        end: end.min(len - 1),
    }
}

/// A content coding a file may have a precompressed sibling in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// Brotli: `name.br`.
    Br,
    /// gzip: `name.gz`.
    Gzip,
}

impl Coding {
    /// The `Content-Encoding` value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The sibling's file name suffix.
    pub(crate) fn suffix(self) -> &'static [u8] {
        match self {
            Coding::Br => b".br",
            Coding::Gzip => b".gz",
        }
    }
}

/// The codings the client accepts (`Accept-Encoding` with a q-value above 0, `*`
/// standing for those it does not name), most preferred first, `br` before `gzip` when
/// equal. None without the field.
pub(crate) fn accepted(headers: &HeaderMap) -> Vec<Coding> {
    // q-values in thousandths; None: not named.
    let (mut br, mut gzip, mut star) = (None, None, None);
    for v in headers.get_all(header::ACCEPT_ENCODING) {
        for item in v.as_bytes().split(|&b| b == b',') {
            let mut parts = item.split(|&b| b == b';');
            let name = parts.next().unwrap_or_default().trim_ascii();
            let mut q = 1000;
            for p in parts {
                let p = p.trim_ascii();
                if let Some(value) = p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q=")) {
                    q = qvalue(value).unwrap_or(0);
                }
            }
            let slot = if name.eq_ignore_ascii_case(b"br") {
                &mut br
            } else if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
                &mut gzip
            } else if name == b"*" {
                &mut star
            } else {
                continue;
            };
            *slot = Some(q);
        }
    }
    let br = br.or(star).unwrap_or(0);
    let gzip = gzip.or(star).unwrap_or(0);
    let mut out = Vec::with_capacity(2);
    for (coding, q) in [(Coding::Br, br), (Coding::Gzip, gzip)] {
        if q > 0 {
            out.push((coding, q));
        }
    }
    // Stable: br stays first on a tie.
    out.sort_by_key(|&(_, q)| std::cmp::Reverse(q));
    out.into_iter().map(|(c, _)| c).collect()
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths.
fn qvalue(v: &[u8]) -> Option<u32> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (&v[..dot], &v[dot + 1..]),
        None => (v, &b""[..]),
    };
    if int.len() != 1 || frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut q = match int[0] {
        b'0' => 0,
        b'1' => 1000,
        _ => return None,
    };
    for (i, d) in frac.iter().enumerate() {
        q += u32::from(d - b'0') * [100, 10, 1][i];
    }
    Some(q.min(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const V: Version = Version {
        size: 1234,
        secs: 1_700_000_000,
        nanos: 5,
    };

    #[test]
    fn etags_change_with_size_time_and_coding() {
        let e = V.etag(None);
        assert_eq!(e, "\"6553f100.5-4d2\"");
        assert_ne!(Version { size: 1235, ..V }.etag(None), e);
        assert_ne!(Version { nanos: 6, ..V }.etag(None), e);
        assert_ne!(V.etag(Some(Coding::Br)), e);
        assert_ne!(V.etag(Some(Coding::Br)), V.etag(Some(Coding::Gzip)));
        assert_eq!(V.last_modified(), "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn if_none_match_and_if_modified_since() {
        let e = V.etag(None);
        let p = |h: &[(&str, &str)]| precondition(&map(h), &e, &V);
        assert_eq!(p(&[]), Precondition::Proceed);
        assert_eq!(p(&[("if-none-match", &e)]), Precondition::NotModified);
        let weak = format!("W/{e}");
        assert_eq!(p(&[("if-none-match", &weak)]), Precondition::NotModified);
        let list = format!("\"x\", {e}");
        assert_eq!(p(&[("if-none-match", &list)]), Precondition::NotModified);
        assert_eq!(
            p(&[("if-none-match", "\"x\""), ("if-none-match", &e)]),
            Precondition::NotModified
        );
        assert_eq!(p(&[("if-none-match", "*")]), Precondition::NotModified);
        assert_eq!(p(&[("if-none-match", "\"other\"")]), Precondition::Proceed);
        let at = V.last_modified();
        let before = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(V.secs - 1));
        assert_eq!(p(&[("if-modified-since", &at)]), Precondition::NotModified);
        assert_eq!(p(&[("if-modified-since", &before)]), Precondition::Proceed);
        assert_eq!(
            p(&[("if-modified-since", "garbage")]),
            Precondition::Proceed
        );
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            p(&[("if-none-match", "\"other\""), ("if-modified-since", &at)]),
            Precondition::Proceed
        );
    }

    #[test]
    fn if_match_and_if_unmodified_since() {
        let e = V.etag(None);
        let p = |h: &[(&str, &str)]| precondition(&map(h), &e, &V);
        assert_eq!(p(&[("if-match", &e)]), Precondition::Proceed);
        assert_eq!(p(&[("if-match", "*")]), Precondition::Proceed);
        assert_eq!(p(&[("if-match", "\"x\"")]), Precondition::Failed);
        let weak = format!("W/{e}");
        assert_eq!(p(&[("if-match", &weak)]), Precondition::Failed);
        let before = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(V.secs - 1));
        assert_eq!(p(&[("if-unmodified-since", &before)]), Precondition::Failed);
        assert_eq!(
            p(&[("if-unmodified-since", &V.last_modified())]),
            Precondition::Proceed
        );
    }

    #[test]
    fn single_ranges() {
        let r = |f: &str, len| parse_range(f.as_bytes(), len);
        let part = |start, end| Span::Part { start, end };
        assert_eq!(r("bytes=0-99", 1000), part(0, 99));
        assert_eq!(r("bytes=100-", 1000), part(100, 999));
        assert_eq!(r("bytes=-100", 1000), part(900, 999));
        assert_eq!(r("bytes=-5000", 1000), part(0, 999));
        assert_eq!(r("bytes=900-5000", 1000), part(900, 999));
        assert_eq!(
            r("Bytes = 1-1", 10),
            Span::Full,
            "spaces around = are not allowed"
        );
        assert_eq!(r("BYTES=1-1", 10), part(1, 1));
        assert_eq!(
            r(" bytes=1-2 ,", 10),
            part(1, 2),
            "empty list elements are allowed"
        );
        assert_eq!(r("bytes=1000-", 1000), Span::Unsatisfiable);
        assert_eq!(r("bytes=5000-6000", 1000), Span::Unsatisfiable);
        assert_eq!(r("bytes=-0", 1000), Span::Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Span::Unsatisfiable);
        assert_eq!(r("bytes=-5", 0), Span::Full);
        // Ignored: malformed, reversed, other units, several ranges.
        for f in [
            "bytes=5-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=1",
            "bytes=--1",
            "bytes=+1-2",
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=99999999999999999999-",
            "",
        ] {
            assert_eq!(r(f, 1000), Span::Full, "{f}");
        }
    }

    #[test]
    fn if_range_sends_everything_for_another_version() {
        let e = V.etag(None);
        let s = |h: &[(&str, &str)]| span(&map(h), &e, &V, V.size);
        let part = Span::Part { start: 0, end: 9 };
        assert_eq!(s(&[("range", "bytes=0-9")]), part);
        assert_eq!(s(&[("range", "bytes=0-9"), ("if-range", &e)]), part);
        let weak = format!("W/{e}");
        assert_eq!(
            s(&[("range", "bytes=0-9"), ("if-range", &weak)]),
            Span::Full
        );
        assert_eq!(
            s(&[("range", "bytes=0-9"), ("if-range", "\"x\"")]),
            Span::Full
        );
        let lm = V.last_modified();
        assert_eq!(s(&[("range", "bytes=0-9"), ("if-range", &lm)]), part);
        let other = httpdate::fmt_http_date(UNIX_EPOCH);
        assert_eq!(
            s(&[("range", "bytes=0-9"), ("if-range", &other)]),
            Span::Full
        );
    }

    #[test]
    fn accept_encoding() {
        let a = |v: &str| accepted(&map(&[("accept-encoding", v)]));
        assert_eq!(accepted(&HeaderMap::new()), vec![]);
        assert_eq!(a("gzip, deflate, br"), vec![Coding::Br, Coding::Gzip]);
        assert_eq!(a("gzip"), vec![Coding::Gzip]);
        assert_eq!(a("x-gzip"), vec![Coding::Gzip]);
        assert_eq!(a("BR"), vec![Coding::Br]);
        assert_eq!(a("br;q=0.5, gzip"), vec![Coding::Gzip, Coding::Br]);
        assert_eq!(a("br;q=0, gzip;q=0.1"), vec![Coding::Gzip]);
        assert_eq!(a("*"), vec![Coding::Br, Coding::Gzip]);
        assert_eq!(a("*;q=0, gzip"), vec![Coding::Gzip]);
        assert_eq!(a("identity"), vec![]);
        assert_eq!(a("gzip;q=bogus"), vec![]);
        assert_eq!(
            a("gzip;q=1.000, br;q=0.999"),
            vec![Coding::Gzip, Coding::Br]
        );
        let two = map(&[("accept-encoding", "gzip"), ("accept-encoding", "br")]);
        assert_eq!(accepted(&two), vec![Coding::Br, Coding::Gzip]);
    }
}
