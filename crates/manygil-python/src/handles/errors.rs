//! Raising manygil's exception types ([`raise`], the one function that turns a Rust error
//! into one of them) and reading them ([`type_of`]), from this interpreter's module state.
//! The types themselves and how they are made: `error_types`.

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::{Attached, Owned};

pub(crate) use super::error_types::{made_on_use, Exc};

/// This interpreter's type for `exc` (made or looked up now if it is made on first use).
pub(crate) fn type_of<'py>(py: Attached<'py>, exc: Exc) -> PyResult<Owned<'py>> {
    let module = super::state::current(py)?;
    module.state().errors.get(py, exc)
}

/// Raise `exc(msg)` in the attached interpreter. If manygil's module state cannot be
/// reached (never once `manygil._native` is imported), raises `RuntimeError(msg)`.
pub(crate) fn raise(py: Attached<'_>, exc: Exc, msg: &str) -> PyErrSet {
    let tp = super::state::current(py).and_then(|m| m.state().errors.get(py, exc));
    match tp {
        Ok(tp) => err::raise_class(py, tp.borrow(), msg),
        Err(PyErrSet) => {
            err::clear(py); // replaced by ours
            err::runtime_error(py, msg)
        }
    }
}
