//! Shared handles (queues, buffers, sync primitives) as [`Value::Shared`]: encoding a
//! handle object gives its Rust state; decoding gives this interpreter's handle type
//! around the same state.

use manygil_core::value::Shared;

use crate::ffi::err::{self, PyResult};
use crate::ffi::*;

/// If `obj` is one of manygil's handle objects, its shared state.
pub(crate) fn encode_handle(_py: Attached<'_>, _obj: *mut PyObject) -> PyResult<Option<Shared>> {
    Ok(None)
}

/// A handle object of this interpreter for `shared`.
pub(crate) fn decode_handle(py: Attached<'_>, shared: &Shared) -> PyResult<Owned> {
    Err(err::type_error(
        py,
        &format!(
            "cannot decode a {} handle in this build",
            shared.kind().name()
        ),
    ))
}
