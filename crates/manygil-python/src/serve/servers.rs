//! The servers of this process (made and driven from the main interpreter; found by id
//! from every interpreter): `serve_bind`, `serve_start`, `serve_shutdown`, `serve_close`,
//! `serve_stats`, and the stuck-worker bookkeeping (`serve_stuck`, `serve_retire`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use manygil_serve::{BindError, Config, Listen, Server, StaticMount};
use parking_lot::Mutex;

use crate::ffi::args;
use crate::ffi::err::{self, PyResult};
use crate::ffi::raw::PyList_Type;
use crate::ffi::tstate;
use crate::ffi::{
    boolean, current_interpreter_id, new_int, new_list, new_str, new_tuple, none, Attached,
    Borrowed, Owned,
};

use super::args::{id_arg, os_error, seconds_arg, tuple_of};
use super::interrupt;

/// Servers of this process by id (bound in the main interpreter, used from all).
static SERVERS: Mutex<Option<HashMap<u64, Arc<Server>>>> = Mutex::new(None);

/// Source of server ids.
static NEXT_SERVER: AtomicU64 = AtomicU64::new(1);

pub(super) fn server(py: Attached<'_>, id: u64) -> PyResult<Arc<Server>> {
    SERVERS
        .lock()
        .as_ref()
        .and_then(|m| m.get(&id).cloned())
        .ok_or_else(|| err::value_error(py, &format!("no server with id {id} (closed?)")))
}

/// A list of `HOST:PORT`, `unix:PATH` or `fd://N` (a listening socket this process
/// inherited, e.g. from the supervisor) strings.
fn listen_arg(py: Attached<'_>, o: Borrowed<'_, '_>) -> PyResult<Vec<Listen>> {
    if !o.is_instance(&raw mut PyList_Type) {
        return Err(err::type_error(py, "listen must be a list of str"));
    }
    let listen_items = tuple_of(py, o)?;
    let mut listen = Vec::new();
    for &item in listen_items.borrow().tuple_items().unwrap_or_default() {
        let s = args::string(py, "a listen address", item)?;
        if let Some(path) = s.strip_prefix("unix:") {
            listen.push(Listen::Unix(path.into()));
        } else if let Some(fd) = s.strip_prefix("fd://") {
            let fd = fd.parse().map_err(|_| {
                err::value_error(
                    py,
                    &format!("cannot use {s:?} as a socket: expected fd://N"),
                )
            })?;
            listen.push(Listen::Fd(fd));
        } else {
            use std::net::ToSocketAddrs;
            let addr = s
                .to_socket_addrs()
                .ok()
                .and_then(|mut it| it.next())
                .ok_or_else(|| {
                    err::value_error(
                        py,
                        &format!("cannot use {s:?} as an address: expected HOST:PORT, e.g. 127.0.0.1:8000"),
                    )
                })?;
            listen.push(Listen::Tcp(addr));
        }
    }
    Ok(listen)
}

/// A list of `(url_prefix: str, directory: bytes)` (the directory as `os.fsencode`
/// gives it), for `--static`.
fn statics_arg(py: Attached<'_>, o: Borrowed<'_, '_>) -> PyResult<Vec<StaticMount>> {
    use std::os::unix::ffi::OsStrExt;
    if !o.is_instance(&raw mut PyList_Type) {
        return Err(err::type_error(
            py,
            "statics must be a list of (str, bytes)",
        ));
    }
    let items = tuple_of(py, o)?;
    let mut mounts = Vec::new();
    for &item in items.borrow().tuple_items().unwrap_or_default() {
        let pair = tuple_of(py, item)?;
        let [prefix, dir] = pair.borrow().tuple_items().unwrap_or_default() else {
            return Err(err::type_error(
                py,
                "statics must be a list of (url_prefix, directory) pairs",
            ));
        };
        mounts.push(StaticMount {
            prefix: args::string(py, "a static URL prefix", *prefix)?,
            dir: std::ffi::OsStr::from_bytes(&args::bytes(py, "a static directory", *dir)?).into(),
        });
    }
    Ok(mounts)
}

/// `serve_listen(listen) -> [(fd, address)]`: open listening sockets without a server
/// (the supervisor's): the caller owns the descriptors (close-on-exec).
pub(super) fn listen<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    use std::os::fd::IntoRawFd;
    args::positional(py, "serve_listen", a, 1, 1)?;
    let listen = listen_arg(py, a[0])?;
    let backlog = Config::default().backlog;
    let opened = tstate::detached(py, || {
        listen
            .iter()
            .map(|l| manygil_serve::open_listener(l, backlog))
            .collect::<Result<Vec<_>, _>>()
    });
    // On an error the sockets opened so far are closed (dropped) here.
    let opened = opened.map_err(|e| os_error(py, &e.to_string()))?;
    let mut items = Vec::new();
    for (fd, addr) in opened {
        let addr = new_str(py, &addr.to_string())?;
        items.push(new_tuple(
            py,
            vec![new_int(py, i64::from(fd.into_raw_fd()))?, addr],
        )?);
    }
    new_list(py, items)
}

/// `serve_bind(listen, io_threads, max_header_bytes, max_headers, max_body,
/// header_timeout, body_timeout, request_timeout, access_log, statics[, ws_max_size[,
/// access_to_python]]) -> (id, [address])`; with `access_to_python` the access-log lines go
/// to `serve_access_lines` instead of stderr.
pub(super) fn bind<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_bind", a, 10, 12)?;
    let listen = listen_arg(py, a[0])?;
    let default = Config::default();
    let (sink, register) = super::access::sink();
    let to_python = match a.get(11) {
        Some(o) => o.is_true()?,
        None => false,
    };
    let config = Config {
        listen,
        io_threads: args::count(py, "io_threads", a[1])?.clamp(1, 64),
        max_header_bytes: args::count(py, "max_header_bytes", a[2])?.max(1024),
        max_headers: args::count(py, "max_headers", a[3])?.max(1),
        max_body: args::count(py, "max_body", a[4])? as u64,
        // None, infinite or 0: the default.
        header_timeout: seconds_arg(py, a[5])?
            .filter(|d| !d.is_zero())
            .unwrap_or(default.header_timeout),
        body_timeout: seconds_arg(py, a[6])?
            .filter(|d| !d.is_zero())
            .unwrap_or(default.body_timeout),
        // None, infinite or 0: no limit.
        request_timeout: seconds_arg(py, a[7])?.filter(|d| !d.is_zero()),
        access_log: a[8].is_true()?,
        access_log_sink: to_python.then_some(sink),
        statics: statics_arg(py, a[9])?,
        ws_max_size: match a.get(10) {
            Some(&n) => args::count(py, "ws_max_size", n)?.max(1),
            None => default.ws_max_size,
        },
        ..default
    };
    let bound = tstate::detached(py, || Server::bind(config));
    let server = bound.map_err(|e| match e {
        BindError::InUse(_) | BindError::Other(_) => os_error(py, &e.to_string()),
    })?;
    let addrs: Vec<String> = server.addrs().iter().map(|a| a.to_string()).collect();
    let id = NEXT_SERVER.fetch_add(1, Ordering::Relaxed);
    if to_python {
        register(id);
    }
    SERVERS
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(id, Arc::new(server));
    let items = addrs
        .iter()
        .map(|s| new_str(py, s))
        .collect::<PyResult<Vec<_>>>()?;
    new_tuple(py, vec![new_int(py, id as i64)?, new_list(py, items)?])
}

/// `serve_start(id)`: start accepting connections.
pub(super) fn start<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_start", a, 1, 1)?;
    let s = server(py, id_arg(py, "server id", a[0])?)?;
    s.start();
    Ok(none(py))
}

/// `serve_shutdown(id, grace) -> (graceful, cancelled)`: blocks with the GIL released.
pub(super) fn shutdown<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_shutdown", a, 2, 2)?;
    let s = server(py, id_arg(py, "server id", a[0])?)?;
    // None or infinite: wait for every connection.
    let grace = seconds_arg(py, a[1])?.unwrap_or(Duration::MAX);
    let report = tstate::detached(py, || s.shutdown(grace));
    new_tuple(
        py,
        vec![
            boolean(py, report.graceful),
            new_int(py, report.cancelled as i64)?,
        ],
    )
}

/// `serve_close(id)`: forget the server (shutting it down at once if still running).
pub(super) fn close<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_close", a, 1, 1)?;
    let id = id_arg(py, "server id", a[0])?;
    let s = SERVERS.lock().as_mut().and_then(|m| m.remove(&id));
    if let Some(s) = s {
        tstate::detached(py, || drop(s));
    }
    Ok(none(py))
}

/// `serve_stats(id) -> (in_flight, queued)`.
pub(super) fn stats<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_stats", a, 1, 1)?;
    let s = server(py, id_arg(py, "server id", a[0])?)?;
    let q = s.queue();
    new_tuple(
        py,
        vec![
            new_int(py, s.in_flight() as i64)?,
            new_int(py, q.len() as i64)?,
        ],
    )
}

/// `serve_stuck(after) -> [interpreter id]`: interpreters with a request thread still
/// busy `after` seconds after it was interrupted.
pub(super) fn stuck<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_stuck", a, 1, 1)?;
    // None or infinite: no worker is ever stuck.
    let after = seconds_arg(py, a[0])?;
    let ids = after.map(interrupt::stuck).unwrap_or_default();
    let items = ids
        .into_iter()
        .map(|id| new_int(py, id))
        .collect::<PyResult<Vec<_>>>()?;
    new_list(py, items)
}

/// `serve_retire(interp_id)`: that interpreter's threads take no further request
/// (`serve_next` returns None there).
pub(super) fn retire<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_retire", a, 1, 1)?;
    interrupt::retire(args::interp_id(py, a[0])?);
    Ok(none(py))
}

/// `serve_retired() -> bool`: whether the calling interpreter was retired (it takes no
/// further request: its worker finishes what it has, then ends).
pub(super) fn retired<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_retired", a, 0, 0)?;
    Ok(boolean(
        py,
        interrupt::is_retired_id(current_interpreter_id(py)),
    ))
}

/// `serve_release_memory() -> bool`: give the C allocator's free memory back to the
/// system (after the workers imported the application); True if any was released.
pub(super) fn release_memory<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_release_memory", a, 0, 0)?;
    let released = tstate::detached(py, manygil_serve::release_free_memory);
    Ok(boolean(py, released))
}
