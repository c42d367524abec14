//! On CPython 3.13, make the main interpreter the first to import `_datetime`.
//!
//! `_datetime` is the one stdlib extension with static types (`date`, `datetime`,
//! `timedelta`, ...). On 3.13 the first interpreter that imports it readies those types, and
//! their shared parts (`tp_bases`, `tp_mro`) come from *that* interpreter's allocator; the
//! last interpreter to end frees them (`_PyTypes_FiniExtTypes`). When the first importer is
//! an own-GIL interpreter that ends while another one still has `_datetime`, its memory is
//! gone by the time the other ends, and ending the other one crashes the process
//! (`munmap_chunk(): invalid pointer`, double free). No concurrency is needed: create A and
//! B, import `datetime` in both, end A, end B: crash, with the stdlib's `_interpreters`
//! alone (CPython gh-136423/gh-136421; fixed in 3.14 by readying the types at interpreter
//! start-up, gh-136583, not backported to 3.13 up to 3.13.15 at least).
//!
//! Importing `_datetime` in the main interpreter first does what 3.14's fix does: the main
//! interpreter owns the shared parts, every worker readies only its per-interpreter state
//! (as it does for every builtin static type), and the main interpreter, which ends after
//! every worker (every worker is joined before it finalizes), frees them last.

use crate::ffi::Attached;

/// Import `_datetime` in the main interpreter on 3.13 (a no-op elsewhere). Called from the
/// main interpreter's module exec, before any manygil interpreter can exist.
pub(crate) fn prime(py: Attached<'_>) {
    #[cfg(not(Py_3_14))]
    if crate::ffi::import_module(py, c"_datetime").is_err() {
        // A build without `_datetime`: `datetime` is pure Python everywhere, there are no
        // static types to own, and nothing to protect.
        drop(crate::ffi::err::take(py));
    }
    #[cfg(Py_3_14)]
    let _ = py;
}
