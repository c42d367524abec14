//! The argument helpers the `serve_*` functions share (ids, seconds, snapshots of
//! iterables) and the `OSError` they raise.

use std::time::Duration;

use crate::ffi::args;
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::{Attached, Borrowed, Owned};

/// A server or request id (a non-negative int).
pub(super) fn id_arg(py: Attached<'_>, what: &str, o: Borrowed<'_, '_>) -> PyResult<u64> {
    Ok(args::count(py, what, o)? as u64)
}

/// Seconds (int or float), `None` or infinite meaning no limit; negative or NaN raise.
pub(super) fn seconds_arg(py: Attached<'_>, o: Borrowed<'_, '_>) -> PyResult<Option<Duration>> {
    args::timeout(py, Some(o))
}

/// `tuple(obj)` for an iterable (a snapshot whose items cannot change).
pub(super) fn tuple_of<'py>(_py: Attached<'py>, obj: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    obj.to_tuple()
}

pub(super) fn os_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    err::os_error(py, msg)
}
