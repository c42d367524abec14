//! Large `bytes` of the main interpreter, shared without copying at encode time.
//!
//! A `bytes` object is immutable and its buffer never moves, so another thread may read it
//! while the object is alive. The value keeps the object alive through a
//! [`MainRef`](crate::runtime::main_ref::MainRef), released in the main interpreter once the
//! receiver has made its copy and the value is dropped. Only the main interpreter lends
//! (its lifetime covers every worker's); other interpreters copy.

use std::sync::Arc;

use manygil_core::value::{ExternalBytes, ExternalSource};
use manygil_core::Value;

use crate::ffi::err;
use crate::ffi::Borrowed;
use crate::runtime::main_ref::MainRef;

/// Payloads from this size up are lent instead of copied (below it a copy is cheaper than
/// the bookkeeping).
pub(crate) const BORROW_AT_LEAST: usize = 64 << 10;

/// A lent `bytes` object: its buffer and the reference that keeps it alive.
struct LentBytes {
    /// Start of the object's immutable buffer.
    ptr: *const u8,
    /// Its length.
    len: usize,
    /// Keeps the object (and so the buffer) alive; released in the main interpreter.
    _keep: MainRef,
}

// SAFETY: the buffer of a live `bytes` object is immutable and never moves, so reading it
// from any thread is sound while `_keep` holds the object; `MainRef` itself is `Send` and
// only releases the object with the main interpreter attached.
unsafe impl Send for LentBytes {}
// SAFETY: shared access only reads the immutable buffer (see `Send`).
unsafe impl Sync for LentBytes {}

impl ExternalSource for LentBytes {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr`/`len` describe the buffer of the object `_keep` holds alive.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Lend `obj` (an exact `bytes` object) if the attached interpreter is the main one.
pub(crate) fn borrow_bytes(obj: Borrowed<'_, '_>) -> Option<Value> {
    let py = obj.py();
    if !crate::ffi::is_main_interpreter(py) {
        return None;
    }
    let Ok(data) = obj.bytes_data() else {
        err::clear(py); // not bytes: the caller copies (and reports) instead
        return None;
    };
    // SAFETY: the main interpreter is attached (checked above) and `obj` is one of its
    // objects, alive for this call; `MainRef` takes its own strong reference.
    let keep = unsafe { MainRef::new(obj) };
    Some(Value::BytesView(ExternalBytes::new(Arc::new(LentBytes {
        ptr: data.as_ptr(),
        len: data.len(),
        _keep: keep,
    }))))
}
