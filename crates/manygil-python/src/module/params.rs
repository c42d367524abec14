//! The handle types' entry points: macros defining `METH_FASTCALL | METH_KEYWORDS`
//! methods and properties, [`guard_c`], binding arguments (positional or by keyword, as
//! Python functions take them), and converting the common ones.

use std::ffi::CStr;
use std::time::Duration;

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

use super::guard;

/// Define a `METH_FASTCALL | METH_KEYWORDS` entry point around
/// `fn(py, slf, &Call) -> PyResult<Owned>`.
macro_rules! kw_entry {
    ($c_name:ident => $body:path) => {
        unsafe extern "C" fn $c_name(
            slf: *mut PyObject,
            argv: *const *mut PyObject,
            nargs: Py_ssize_t,
            kwnames: *mut PyObject,
        ) -> *mut PyObject {
            // SAFETY: exactly the arguments CPython passed to this running method.
            let call = unsafe { $crate::module::params::Call::fastcall(argv, nargs, kwnames) };
            $crate::module::guard(|py| $body(py, slf, &call))
        }
    };
}
pub(crate) use kw_entry;

/// Define a handle type's `tp_new` around `fn(py, subtype, &Call) -> PyResult<Owned>`.
macro_rules! kw_new {
    ($c_name:ident => $body:path) => {
        unsafe extern "C" fn $c_name(
            subtype: *mut PyTypeObject,
            args: *mut PyObject,
            kwargs: *mut PyObject,
        ) -> *mut PyObject {
            // SAFETY: what CPython passed to this running tp_new.
            let call = unsafe { $crate::module::params::Call::tuple_dict(args, kwargs) };
            $crate::module::guard(|py| $body(py, subtype, &call))
        }
    };
}
pub(crate) use kw_new;

/// Define `fn $name(py, slf) -> PyResult<&State>`: the state of a handle of one kind, or a
/// `TypeError` naming the expected type.
macro_rules! handle_accessor {
    ($name:ident, $variant:ident, $state:ty, $type_name:literal) => {
        fn $name<'a>(py: Attached<'_>, slf: *mut PyObject) -> PyResult<&'a $state> {
            match $crate::module::handles::this(py, slf)? {
                $crate::module::handles::Handle::$variant(state) => Ok(state),
                _ => Err(err::type_error(py, concat!("expected a ", $type_name))),
            }
        }
    };
}
pub(crate) use handle_accessor;

/// A `PyMethodDef` for an entry made by [`kw_entry!`] (`static` for a static method).
macro_rules! kw_method {
    (@ $name:literal, $c_name:ident, $doc:expr, $flags:expr) => {
        PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: PyMethodDefPointer {
                PyCFunctionFastWithKeywords: $c_name,
            },
            ml_flags: $flags,
            ml_doc: $doc.as_ptr(),
        }
    };
    ($name:literal, $c_name:ident, $doc:expr, static) => {
        $crate::module::params::kw_method!(
            @ $name, $c_name, $doc, METH_FASTCALL | METH_KEYWORDS | METH_STATIC
        )
    };
    ($name:literal, $c_name:ident, $doc:expr, class) => {
        $crate::module::params::kw_method!(
            @ $name, $c_name, $doc, METH_FASTCALL | METH_KEYWORDS | METH_CLASS
        )
    };
    ($name:literal, $c_name:ident, $doc:expr) => {
        $crate::module::params::kw_method!(@ $name, $c_name, $doc, METH_FASTCALL | METH_KEYWORDS)
    };
}
pub(crate) use kw_method;

/// Define a getter (`fn(py, slf) -> PyResult<Owned>`) for a `PyGetSetDef`.
macro_rules! getter {
    ($c_name:ident => $body:path) => {
        unsafe extern "C" fn $c_name(
            slf: *mut PyObject,
            _closure: *mut std::ffi::c_void,
        ) -> *mut PyObject {
            $crate::module::guard(|py| $body(py, slf))
        }
    };
}
pub(crate) use getter;

/// A read-only property of a handle type.
macro_rules! property {
    ($name:literal, $c_name:ident, $doc:expr) => {
        PyGetSetDef {
            name: $name.as_ptr(),
            get: Some($c_name),
            set: None,
            doc: $doc.as_ptr(),
            closure: std::ptr::null_mut(),
        }
    };
}
pub(crate) use property;

/// [`guard`] for entries that return a C value: `error` when an exception is raised (or a
/// panic caught, which becomes `SystemError`).
pub(crate) fn guard_c<R: Copy>(error: R, f: impl FnOnce(Attached<'_>) -> PyResult<R>) -> R {
    let mut out = error;
    let r = guard(|py| {
        out = f(py)?;
        Ok(none(py))
    });
    if r.is_null() {
        return error;
    }
    // SAFETY: `r` is the new reference to None returned above.
    unsafe { Py_DECREF(r) };
    out
}

/// The arguments of one call, borrowed from CPython for the call's duration.
pub(crate) struct Call<'a> {
    /// Positional arguments.
    pos: &'a [*mut PyObject],
    /// Keyword arguments as (name, value).
    kw: Vec<(*mut PyObject, *mut PyObject)>,
}

impl<'a> Call<'a> {
    /// The arguments of a `METH_FASTCALL | METH_KEYWORDS` call.
    ///
    /// # Safety
    ///
    /// `argv`, `nargs` and `kwnames` are exactly what CPython passed to the running entry.
    pub(crate) unsafe fn fastcall(
        argv: *const *mut PyObject,
        nargs: Py_ssize_t,
        kwnames: *mut PyObject,
    ) -> Call<'a> {
        // SAFETY: per the caller; `fastcall_args` only reads `nargs` pointers.
        let pos = unsafe { fastcall_args(argv.cast_mut(), nargs) };
        let mut kw = Vec::new();
        if !kwnames.is_null() {
            // SAFETY: `kwnames` is a tuple of str; the values follow the positionals in argv.
            unsafe {
                let n = PyTuple_GET_SIZE(kwnames);
                for i in 0..n {
                    kw.push((PyTuple_GET_ITEM(kwnames, i), *argv.offset(nargs.max(0) + i)));
                }
            }
        }
        Call { pos, kw }
    }

    /// The arguments of a `tp_new` call (`args` tuple, `kwargs` dict or NULL).
    ///
    /// # Safety
    ///
    /// `args`/`kwargs` are what CPython passed to the running `tp_new`.
    pub(crate) unsafe fn tuple_dict(args: *mut PyObject, kwargs: *mut PyObject) -> Call<'a> {
        // SAFETY: `args` is a tuple kept alive by the caller for the call; its items are
        // stored contiguously (`ob_item`), which is what PySequence_Fast_ITEMS exposes.
        let pos: &[*mut PyObject] = unsafe {
            let n = PyTuple_GET_SIZE(args);
            if n == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(PySequence_Fast_ITEMS(args), n as usize)
            }
        };
        let mut kw = Vec::new();
        if !kwargs.is_null() {
            let mut at: Py_ssize_t = 0;
            let (mut k, mut v) = (std::ptr::null_mut(), std::ptr::null_mut());
            // SAFETY: a dict alive for the call; PyDict_Next yields borrowed references.
            while unsafe { PyDict_Next(kwargs, &mut at, &mut k, &mut v) } != 0 {
                kw.push((k, v));
            }
        }
        Call { pos, kw }
    }

    /// Bind to parameters `names` (the first `required` must be given); unknown keywords,
    /// duplicates and extra positionals raise `TypeError` as Python functions do.
    pub(crate) fn bind<const N: usize>(
        &self,
        py: Attached<'_>,
        func: &str,
        names: [&CStr; N],
        required: usize,
    ) -> PyResult<[Option<*mut PyObject>; N]> {
        let mut out = [None; N];
        if self.pos.len() > N {
            return Err(err::type_error(
                py,
                &format!(
                    "{func}() takes at most {N} arguments ({} given)",
                    self.pos.len()
                ),
            ));
        }
        for (slot, &arg) in out.iter_mut().zip(self.pos) {
            *slot = Some(arg);
        }
        'kw: for &(name, value) in &self.kw {
            for (i, want) in names.iter().enumerate() {
                // SAFETY: `name` is a str (CPython checks keyword names); `want` is NUL-terminated.
                if unsafe { PyUnicode_CompareWithASCIIString(name, want.as_ptr()) } == 0 {
                    if out[i].is_some() {
                        return Err(err::type_error(
                            py,
                            &format!(
                                "{func}() got multiple values for argument '{}'",
                                want.to_string_lossy()
                            ),
                        ));
                    }
                    out[i] = Some(value);
                    continue 'kw;
                }
            }
            return Err(err::type_error(
                py,
                &format!(
                    "{func}() got an unexpected keyword argument '{}'",
                    err::describe(py, name)
                ),
            ));
        }
        if let Some(missing) = out.iter().take(required).position(Option::is_none) {
            return Err(err::type_error(
                py,
                &format!(
                    "{func}() missing required argument '{}'",
                    names[missing].to_string_lossy()
                ),
            ));
        }
        Ok(out)
    }
}

/// Whether `obj` is None (a missing argument counts as None).
pub(crate) fn is_none(obj: Option<*mut PyObject>) -> bool {
    // SAFETY: comparing with the None singleton.
    obj.is_none_or(|o| o == unsafe { Py_None() })
}

/// `bool(obj)`, or `default` when the argument is missing.
pub(crate) fn truth(obj: Option<*mut PyObject>, default: bool) -> PyResult<bool> {
    let Some(obj) = obj else { return Ok(default) };
    // SAFETY: attached (every caller runs inside an entry point); a borrowed argument.
    match unsafe { PyObject_IsTrue(obj) } {
        -1 => Err(PyErrSet),
        v => Ok(v != 0),
    }
}

/// An `int` argument that fits in `i64` (`OverflowError` otherwise, `TypeError` if not an
/// integer).
pub(crate) fn int(py: Attached<'_>, what: &str, obj: *mut PyObject) -> PyResult<i64> {
    // SAFETY: attached; a borrowed argument.
    if unsafe { PyLong_Check(obj) } == 0 {
        // SAFETY: attached; PyNumber_Index accepts objects with __index__.
        let idx = unsafe { PyNumber_Index(obj) };
        if idx.is_null() {
            // SAFETY: attached.
            unsafe { PyErr_Clear() };
            return Err(err::type_error(
                py,
                &format!("{what} must be an int, not {}", err::type_name(py, obj)),
            ));
        }
        // SAFETY: a new reference to an int.
        let idx = unsafe { Owned::from_new(py, idx)? };
        return int(py, what, idx.as_ptr());
    }
    // SAFETY: an int.
    let v = unsafe { PyLong_AsLongLong(obj) };
    // SAFETY: attached.
    if v == -1 && unsafe { !PyErr_Occurred().is_null() } {
        return Err(PyErrSet);
    }
    Ok(v)
}

/// A non-negative count (`ValueError` if negative).
pub(crate) fn count(py: Attached<'_>, what: &str, obj: *mut PyObject) -> PyResult<usize> {
    let v = int(py, what, obj)?;
    usize::try_from(v).map_err(|_| err::value_error(py, &format!("{what} must be >= 0, got {v}")))
}

/// A timeout in seconds as `threading` takes it: None means forever, a negative number
/// means "do not wait" (as in `threading.Event.wait`).
pub(crate) fn sync_timeout(
    py: Attached<'_>,
    obj: Option<*mut PyObject>,
) -> PyResult<Option<Duration>> {
    let Some(obj) = obj.filter(|&o| !is_none(Some(o))) else {
        return Ok(None);
    };
    let secs = seconds(py, obj)?;
    Ok(Some(if secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }))
}

/// The `timeout` of `Lock.acquire(blocking, timeout)`, with `threading`'s rules: `-1` (the
/// default) or None means forever; other negatives raise `ValueError`; a timeout with
/// `blocking=False` raises `ValueError`. Returns `(blocking, timeout)`.
pub(crate) fn lock_timeout(
    py: Attached<'_>,
    blocking: bool,
    obj: Option<*mut PyObject>,
) -> PyResult<(bool, Option<Duration>)> {
    let Some(obj) = obj.filter(|&o| !is_none(Some(o))) else {
        return Ok((blocking, None));
    };
    let secs = seconds(py, obj)?;
    if secs == -1.0 {
        return Ok((blocking, None));
    }
    if !blocking {
        return Err(err::value_error(
            py,
            "can't specify a timeout for a non-blocking call",
        ));
    }
    if secs < 0.0 {
        return Err(err::value_error(
            py,
            "timeout value must be a non-negative number",
        ));
    }
    Ok((
        true,
        Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)),
    ))
}

/// A number of seconds (int or float); NaN raises `ValueError`.
fn seconds(py: Attached<'_>, obj: *mut PyObject) -> PyResult<f64> {
    // SAFETY: attached; converts int/float (TypeError otherwise).
    let secs = unsafe { PyFloat_AsDouble(obj) };
    // SAFETY: attached.
    if secs == -1.0 && unsafe { !PyErr_Occurred().is_null() } {
        return Err(PyErrSet);
    }
    if secs.is_nan() {
        return Err(err::value_error(py, "timeout must be a number, not NaN"));
    }
    Ok(secs)
}
