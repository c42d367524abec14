//! On CPython 3.13, replace `sys._current_frames` and `sys._current_exceptions` in every
//! interpreter that imports `manygil._native` with versions that read the calling
//! interpreter's threads only.
//!
//! 3.13's own walk every interpreter's threads without their GILs and make frame objects
//! of other interpreters' frames with the caller's allocator; the owner later frees them
//! with its own, and the process dies (`double free or corruption`, `free(): invalid
//! size`, a segfault). Profilers call `sys._current_frames()` all the time (Dask's samples
//! every worker thread every 10 ms), so any process running a pool next to one crashed
//! within seconds. 3.14 reads the calling interpreter only; this gives 3.13 the same
//! behaviour (threads of other interpreters are left out, as on 3.14). See
//! [`crate::ffi::frames::own_interpreter`].

use crate::ffi::err::PyResult;
use crate::ffi::{Attached, Borrowed};

#[cfg(not(Py_3_14))]
mod on_313 {
    use crate::ffi::args;
    use crate::ffi::entry::methods;
    use crate::ffi::err::PyResult;
    use crate::ffi::frames::own_interpreter;
    use crate::ffi::{set_sys_attr, Attached, Borrowed, Owned};

    methods! {
        /// The replacements (static C data; CPython only reads it).
        static METHODS = [
            args c"_current_frames" => c_current_frames(current_frames), c"_current_frames()\n--\n\nReturn a dict mapping each thread's identifier to its topmost stack frame, for the threads of the calling interpreter (manygil's replacement of CPython 3.13's sys._current_frames, which reads every interpreter's threads and crashes the process when sub-interpreters run).";
            args c"_current_exceptions" => c_current_exceptions(current_exceptions), c"_current_exceptions()\n--\n\nReturn a dict mapping each thread's identifier to the exception it is handling, for the threads of the calling interpreter (manygil's replacement of CPython 3.13's sys._current_exceptions, which reads every interpreter's threads).";
        ];
    }

    fn current_frames<'py>(
        py: Attached<'py>,
        _m: Borrowed<'_, 'py>,
        a: &[Borrowed<'_, 'py>],
    ) -> PyResult<Owned<'py>> {
        args::positional(py, "_current_frames", a, 0, 0)?;
        own_interpreter::frames(py)
    }

    fn current_exceptions<'py>(
        py: Attached<'py>,
        _m: Borrowed<'_, 'py>,
        a: &[Borrowed<'_, 'py>],
    ) -> PyResult<Owned<'py>> {
        args::positional(py, "_current_exceptions", a, 0, 0)?;
        own_interpreter::exceptions(py)
    }

    pub(super) fn install(py: Attached<'_>, module: Borrowed<'_, '_>) -> PyResult<()> {
        if !own_interpreter::layout_ok(py) {
            // A CPython whose thread state is not laid out as 3.13.x's: leave sys alone
            // rather than read it wrongly.
            return Ok(());
        }
        // SAFETY: the table is static, zero-terminated, made of `methods!` entries.
        unsafe { crate::ffi::module::add_functions(module, (&raw mut METHODS).cast()) }?;
        for name in [c"_current_frames", c"_current_exceptions"] {
            let f = module.get_attr(name)?;
            set_sys_attr(py, name, f.borrow())?;
        }
        Ok(())
    }
}

/// Install the replacements in the attached interpreter's `sys` (3.13 only; 3.14 and later
/// are left alone). Called from every interpreter's module exec.
pub(crate) fn install(py: Attached<'_>, module: Borrowed<'_, '_>) -> PyResult<()> {
    #[cfg(not(Py_3_14))]
    on_313::install(py, module)?;
    #[cfg(Py_3_14)]
    let _ = (py, module);
    Ok(())
}
