//! `serve_requests()`: the requests being answered now, for snapshots of `manygil serve`.

use crate::ffi::args;
use crate::ffi::err::PyResult;
use crate::ffi::values::new_float;
use crate::ffi::{new_int, new_list, new_str, new_tuple, Attached, Borrowed, Owned};

use super::requests;

/// `serve_requests() -> [(interp_id, thread_name, "METHOD /path?query", seconds)]`: every
/// request a worker thread took and has not finished, with the interpreter and OS thread
/// that took it and how long ago, longest-running first.
pub(super) fn requests<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_requests", a, 0, 0)?;
    let mut all = requests::in_flight();
    all.sort_by_key(|r| r.since);
    let items = all
        .iter()
        .map(|r| {
            new_tuple(
                py,
                vec![
                    new_int(py, r.interp_id)?,
                    new_str(py, &r.thread)?,
                    new_str(py, &r.what)?,
                    new_float(py, r.since.elapsed().as_secs_f64())?,
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    new_list(py, items)
}
