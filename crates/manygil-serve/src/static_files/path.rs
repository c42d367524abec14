//! From a request path to a file under a mount, or the reason it is refused.
//!
//! The raw path is split on `/` first, and each segment percent-decoded on its own, so an
//! encoded separator (`%2f`) can never make a new segment. A path is refused with 400 when
//! a decoded segment is `.` or `..`, or holds `/`, `\`, NUL or another control byte, or
//! when a segment in the middle is empty (`//`); a dot-file or dot-directory segment
//! (`.env`, `.git`) is refused with 404 (hidden). What is left is a relative path with
//! no way out of the directory by name; symbolic links are contained when the file is
//! opened ([`super::open`]).

use crate::request::percent_decode;

/// A mount's URL prefix, checked: the decoded segments it matches (`/static/img` gives
/// `["static", "img"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefix {
    /// The prefix as given, without a trailing `/` (for messages).
    pub(crate) text: String,
    /// Its segments, at least one, none empty.
    segments: Vec<Vec<u8>>,
}

impl Prefix {
    /// Check a prefix such as `/static` or `/assets/v1/`.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong and what a prefix looks like.
    pub(crate) fn parse(text: &str) -> Result<Prefix, String> {
        let hint = "expected a URL path such as /static";
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("URL prefix {text:?} must start with /: {hint}"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(format!(
                "URL prefix {text:?} would send every request to the files, never to the \
                 application: {hint}"
            ));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c);
        let mut segments = Vec::new();
        for seg in rest.split('/') {
            if seg.is_empty() || seg == "." || seg == ".." || !seg.chars().all(allowed) {
                return Err(format!(
                    "URL prefix {text:?} is not a plain path (no empty, . or .. segment, no \
                     %, ?, # or space): {hint}"
                ));
            }
            segments.push(seg.as_bytes().to_vec());
        }
        Ok(Prefix {
            text: format!("/{rest}"),
            segments,
        })
    }

    /// How many segments it has (a longer prefix is matched first).
    pub(crate) fn depth(&self) -> usize {
        self.segments.len()
    }
}

/// Where a request path leads, for one mount.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    /// Not under this mount.
    Elsewhere,
    /// A file: its path relative to the mount's directory, `/`-separated, decoded, with
    /// no empty, `.`, `..` or hidden segment and no NUL.
    File(Vec<u8>),
    /// The mount's directory itself or a path ending in `/`: 404 (no listings).
    Directory,
    /// A segment starts with `.`: 404.
    Hidden,
    /// A path that tries to leave its directory or is malformed: 400.
    Bad,
}

/// Decode one segment, borrowing when it has no escape.
fn decode(seg: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if seg.contains(&b'%') {
        percent_decode(seg).into()
    } else {
        seg.into()
    }
}

/// Route `raw` (the path as sent, still percent-encoded, starting with `/`) for `prefix`.
pub(crate) fn route(prefix: &Prefix, raw: &str) -> Routed {
    let Some(rest) = raw.strip_prefix('/') else {
        return Routed::Elsewhere; // `*` (OPTIONS *)
    };
    let mut segments = rest.as_bytes().split(|&b| b == b'/');
    for want in &prefix.segments {
        match segments.next() {
            Some(seg) if *decode(seg) == want[..] => {}
            _ => return Routed::Elsewhere,
        }
    }
    let rest: Vec<&[u8]> = segments.collect();
    let Some((last, middle)) = rest.split_last() else {
        return Routed::Directory; // exactly the prefix
    };
    let mut rel = Vec::with_capacity(raw.len());
    let mut hidden = false;
    for (i, seg) in middle.iter().chain(Some(last)).enumerate() {
        if seg.is_empty() {
            if i == middle.len() {
                break; // a trailing slash: checked below, once every segment passed
            }
            return Routed::Bad;
        }
        let seg = decode(seg);
        if *seg == *b"." || *seg == *b".." || seg.iter().any(|&b| is_refused_byte(b)) {
            return Routed::Bad;
        }
        hidden |= seg[0] == b'.';
        if i > 0 {
            rel.push(b'/');
        }
        rel.extend_from_slice(&seg);
    }
    if hidden {
        Routed::Hidden
    } else if last.is_empty() {
        Routed::Directory
    } else {
        Routed::File(rel)
    }
}

/// Bytes no served file name may hold: separators (decoded from `%2f` / `%5c`, or a
/// literal backslash) and control bytes, NUL among them.
fn is_refused_byte(b: u8) -> bool {
    b == b'/' || b == b'\\' || b < 0x20 || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p: &str, raw: &str) -> Routed {
        route(&Prefix::parse(p).unwrap(), raw)
    }

    fn file(rel: &str) -> Routed {
        Routed::File(rel.as_bytes().to_vec())
    }

    #[test]
    fn prefixes_are_plain_paths() {
        assert_eq!(Prefix::parse("/static").unwrap().text, "/static");
        assert_eq!(Prefix::parse("/static/").unwrap().text, "/static");
        assert_eq!(Prefix::parse("/a/b").unwrap().depth(), 2);
        for bad in [
            "static", "/", "", "//x", "/a//b", "/a/../b", "/./a", "/a b", "/a%2fb", "/a?b",
        ] {
            assert!(Prefix::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Prefix::parse("/")
            .unwrap_err()
            .contains("never to the application"));
    }

    #[test]
    fn files_under_the_prefix_are_routed_and_others_are_not() {
        assert_eq!(at("/static", "/static/app.css"), file("app.css"));
        assert_eq!(at("/static", "/static/css/a%20b.css"), file("css/a b.css"));
        assert_eq!(at("/static/", "/static/x"), file("x"));
        assert_eq!(at("/static", "/st%61tic/x"), file("x"), "an encoded prefix");
        assert_eq!(at("/a/b", "/a/b/c/d"), file("c/d"));
        assert_eq!(at("/static", "/staticfoo/x"), Routed::Elsewhere);
        assert_eq!(at("/static", "/other/static/x"), Routed::Elsewhere);
        assert_eq!(at("/static", "/"), Routed::Elsewhere);
        assert_eq!(at("/static", "*"), Routed::Elsewhere);
        assert_eq!(at("/a/b", "/a/c"), Routed::Elsewhere);
        // `%2f` never splits: `/static%2fx` is one segment, not the prefix.
        assert_eq!(at("/static", "/static%2fx"), Routed::Elsewhere);
        // Not a file name: kept as sent.
        assert_eq!(at("/static", "/static/100%"), file("100%"));
    }

    #[test]
    fn directories_are_not_files() {
        assert_eq!(at("/static", "/static"), Routed::Directory);
        assert_eq!(at("/static", "/static/"), Routed::Directory);
        assert_eq!(at("/static", "/static/css/"), Routed::Directory);
    }

    #[test]
    fn traversal_and_odd_bytes_are_refused() {
        for raw in [
            "/static/../secret",
            "/static/css/../../secret",
            "/static/%2e%2e/secret",
            "/static/%2E%2E/secret",
            "/static/.%2e/secret",
            "/static/./a.css",
            "/static/a%2f..%2f..%2fsecret",
            "/static/a%2Fb",
            "/static/..%5csecret",
            "/static/a\\b",
            "/static/a%5cb",
            "/static/a%00.css",
            "/static/a%0a.css",
            "/static/a%7f",
            "/static//etc/passwd",
            "/static/a//b",
            "/static/../",
        ] {
            assert_eq!(at("/static", raw), Routed::Bad, "{raw}");
        }
    }

    #[test]
    fn hidden_files_and_directories_are_not_served() {
        assert_eq!(at("/static", "/static/.env"), Routed::Hidden);
        assert_eq!(at("/static", "/static/.git/config"), Routed::Hidden);
        assert_eq!(at("/static", "/static/%2egit/config"), Routed::Hidden);
        assert_eq!(at("/static", "/static/a/.hidden/"), Routed::Hidden);
        // A dot inside a name is not hidden.
        assert_eq!(at("/static", "/static/a.b/c..d"), file("a.b/c..d"));
    }
}
