//! The CGI part of a PEP 3333 environ, built from a request head.

use manygil_serve::{Peer, RequestHead};

use crate::ffi::err::PyResult;
use crate::ffi::{boolean, new_dict, new_int, new_str, new_tuple, Attached, Owned};

/// A native string (PEP 3333): the bytes decoded as latin-1.
pub(crate) fn latin1<'py>(py: Attached<'py>, b: &[u8]) -> PyResult<Owned<'py>> {
    crate::ffi::values::str_from_latin1(py, b)
}

fn set<'py>(py: Attached<'py>, d: &Owned<'py>, key: &str, value: &Owned<'py>) -> PyResult<()> {
    d.borrow()
        .set_item(new_str(py, key)?.borrow(), value.borrow())
}

fn set_str<'py>(py: Attached<'py>, d: &Owned<'py>, key: &str, value: &[u8]) -> PyResult<()> {
    set(py, d, key, &latin1(py, value)?)
}

/// The environ keys that come from the request: REQUEST_METHOD, SCRIPT_NAME, PATH_INFO,
/// QUERY_STRING, CONTENT_TYPE, CONTENT_LENGTH, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL,
/// REMOTE_ADDR, REMOTE_PORT, HTTP_*, and wsgi.version / url_scheme / multiprocess /
/// run_once. (wsgi.input, wsgi.errors, wsgi.multithread, wsgi.file_wrapper are added by
/// the Python worker.)
///
/// Header fields whose name contains `_` are dropped (as nginx and gunicorn do), so
/// `X_Forwarded_For` cannot pose as `X-Forwarded-For`; repeated fields are joined with
/// `, ` (cookies with `; `).
pub(crate) fn build<'py>(py: Attached<'py>, head: &RequestHead) -> PyResult<Owned<'py>> {
    let d = new_dict(py)?;
    set_str(py, &d, "REQUEST_METHOD", head.method.as_bytes())?;
    set_str(py, &d, "SCRIPT_NAME", b"")?;
    set_str(py, &d, "PATH_INFO", &head.decoded_path())?;
    set_str(py, &d, "QUERY_STRING", head.query.as_bytes())?;
    set_str(py, &d, "SERVER_PROTOCOL", head.version.as_bytes())?;
    let (server_name, server_port) = head.server_name_port();
    set_str(py, &d, "SERVER_NAME", server_name.as_bytes())?;
    set_str(py, &d, "SERVER_PORT", server_port.as_bytes())?;
    match &head.peer {
        Peer::Tcp(a) => {
            set_str(py, &d, "REMOTE_ADDR", a.ip().to_string().as_bytes())?;
            set_str(py, &d, "REMOTE_PORT", a.port().to_string().as_bytes())?;
        }
        Peer::Unix(_) => set_str(py, &d, "REMOTE_ADDR", b"")?,
    }
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, value) in head.headers() {
        let key = match name {
            "content-type" => "CONTENT_TYPE".to_owned(),
            "content-length" => "CONTENT_LENGTH".to_owned(),
            n if n.contains('_') => continue,
            n => format!("HTTP_{}", n.to_ascii_uppercase().replace('-', "_")),
        };
        match fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => {
                v.extend_from_slice(if key == "HTTP_COOKIE" { b"; " } else { b", " });
                v.extend_from_slice(value);
            }
            None => fields.push((key, value.to_vec())),
        }
    }
    for (k, v) in &fields {
        set_str(py, &d, k, v)?;
    }
    let one = new_int(py, 1)?;
    let zero = new_int(py, 0)?;
    set(py, &d, "wsgi.version", &new_tuple(py, vec![one, zero])?)?;
    set_str(py, &d, "wsgi.url_scheme", b"http")?;
    set(py, &d, "wsgi.multiprocess", &boolean(py, false))?;
    set(py, &d, "wsgi.run_once", &boolean(py, false))?;
    Ok(d)
}
