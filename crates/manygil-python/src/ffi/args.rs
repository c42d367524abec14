//! Arguments of entry points: binding them (positional or by keyword, as Python functions
//! take them), checking positional-only ones, and converting the common ones (ints,
//! counts, strings, timeouts) with errors that name the argument.

use std::ffi::CStr;
use std::time::Duration;

use super::err::{self, PyErrSet, PyResult};
use super::*;

/// The arguments of one call, borrowed from CPython for the call's duration.
pub(crate) struct Call<'a, 'py> {
    /// Positional arguments.
    pos: &'a [Borrowed<'a, 'py>],
    /// Keyword arguments as (name, value).
    kw: Vec<(Borrowed<'a, 'py>, Borrowed<'a, 'py>)>,
}

impl<'a, 'py> Call<'a, 'py> {
    /// The arguments of a `METH_FASTCALL | METH_KEYWORDS` call.
    ///
    /// # Safety
    ///
    /// `argv`, `nargs` and `kwnames` are exactly what CPython passed to the running entry,
    /// which outlives `'a`.
    pub(crate) unsafe fn fastcall(
        py: Attached<'py>,
        argv: *const *mut PyObject,
        nargs: Py_ssize_t,
        kwnames: *mut PyObject,
    ) -> Call<'a, 'py> {
        let nargs = nargs.max(0) as usize;
        // SAFETY: CPython passes `nargs` valid references at `argv`, alive for the call.
        let pos = unsafe { Borrowed::slice(py, argv, nargs) };
        let mut kw = Vec::new();
        if !kwnames.is_null() {
            // SAFETY: `kwnames` is a tuple of str alive for the call; the values follow the
            // positionals in argv, one per name.
            unsafe {
                let names = Borrowed::slice(
                    py,
                    PySequence_Fast_ITEMS(kwnames),
                    PyTuple_GET_SIZE(kwnames) as usize,
                );
                let values = Borrowed::slice(py, argv.add(nargs), names.len());
                kw.extend(names.iter().copied().zip(values.iter().copied()));
            }
        }
        Call { pos, kw }
    }

    /// The arguments of a `tp_new` call (`args` tuple, `kwargs` dict or NULL).
    ///
    /// # Safety
    ///
    /// `args`/`kwargs` are what CPython passed to the running `tp_new`, which outlives `'a`.
    pub(crate) unsafe fn tuple_dict(
        py: Attached<'py>,
        args: *mut PyObject,
        kwargs: *mut PyObject,
    ) -> Call<'a, 'py> {
        // SAFETY: `args` is a tuple kept alive by the caller for the call; its items are
        // stored contiguously (`ob_item`), which is what PySequence_Fast_ITEMS exposes.
        let pos = unsafe {
            Borrowed::slice(
                py,
                PySequence_Fast_ITEMS(args),
                PyTuple_GET_SIZE(args) as usize,
            )
        };
        let mut kw = Vec::new();
        if !kwargs.is_null() {
            let mut at: Py_ssize_t = 0;
            let (mut k, mut v) = (std::ptr::null_mut(), std::ptr::null_mut());
            // SAFETY: a dict alive for the call, not mutated during it; PyDict_Next yields
            // borrowed, non-NULL references that the dict keeps alive.
            while unsafe { PyDict_Next(kwargs, &mut at, &mut k, &mut v) } != 0 {
                // SAFETY: see above.
                kw.push(unsafe { (Borrowed::from_ptr(py, k), Borrowed::from_ptr(py, v)) });
            }
        }
        Call { pos, kw }
    }

    /// The positional arguments (for positional-only entries; see [`positional`]).
    pub(crate) fn positionals(&self) -> &'a [Borrowed<'a, 'py>] {
        self.pos
    }

    /// Check that the call passed no argument (a method or class without parameters,
    /// `func` its name or qualified name), raising what [`bind`](Self::bind) would.
    pub(crate) fn no_args(&self, py: Attached<'py>, func: &CStr) -> PyResult<()> {
        if self.pos.is_empty() && self.kw.is_empty() {
            return Ok(());
        }
        let func = func.to_string_lossy();
        self.bind(py, short_name(&func), [], 0).map(drop)
    }

    /// Bind to parameters `names` (the first `required` must be given); unknown keywords,
    /// duplicates and extra positionals raise `TypeError` as Python functions do.
    pub(crate) fn bind<const N: usize>(
        &self,
        py: Attached<'py>,
        func: &str,
        names: [&CStr; N],
        required: usize,
    ) -> PyResult<[Option<Borrowed<'a, 'py>>; N]> {
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
                if unsafe { PyUnicode_CompareWithASCIIString(name.as_ptr(), want.as_ptr()) } == 0 {
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

/// `Lock` for `manygil.Lock`: the name a class's errors give it.
fn short_name(qualified: &str) -> &str {
    qualified.rsplit('.').next().unwrap_or(qualified)
}

/// Whether `obj` is None (a missing argument counts as None).
pub(crate) fn is_none(obj: Option<Borrowed<'_, '_>>) -> bool {
    obj.is_none_or(Borrowed::is_none)
}

/// A present argument that is not None.
pub(crate) fn given<'a, 'py>(obj: Option<Borrowed<'a, 'py>>) -> Option<Borrowed<'a, 'py>> {
    obj.filter(|o| !o.is_none())
}

/// `bool(obj)`, or `default` when the argument is missing.
pub(crate) fn truth(obj: Option<Borrowed<'_, '_>>, default: bool) -> PyResult<bool> {
    obj.map_or(Ok(default), Borrowed::is_true)
}

/// An `int` argument that fits in `i64`. The one rule for integer parameters: an `int` or
/// an object with `__index__`, never a `bool` (`TypeError`); a value that does not fit
/// raises `OverflowError` naming the parameter.
pub(crate) fn int(py: Attached<'_>, what: &str, obj: Borrowed<'_, '_>) -> PyResult<i64> {
    // SAFETY: attached; a borrowed argument.
    if unsafe { PyBool_Check(obj.as_ptr()) } != 0 {
        return Err(err::type_error(
            py,
            &format!("{what} must be an int, not bool"),
        ));
    }
    // SAFETY: attached; a borrowed argument.
    if unsafe { PyLong_Check(obj.as_ptr()) } == 0 {
        // SAFETY: attached; PyNumber_Index accepts objects with __index__.
        let idx = unsafe { PyNumber_Index(obj.as_ptr()) };
        if idx.is_null() {
            err::clear(py);
            return Err(err::type_error(
                py,
                &format!("{what} must be an int, not {}", err::type_name(py, obj)),
            ));
        }
        // SAFETY: a new reference to an int.
        let idx = unsafe { Owned::from_new(py, idx)? };
        return int(py, what, idx.borrow());
    }
    // SAFETY: an int.
    let v = unsafe { PyLong_AsLongLong(obj.as_ptr()) };
    if v == -1 && err::occurred(py) {
        return Err(overflow(py, what));
    }
    Ok(v)
}

/// Replace the pending `OverflowError` of a failed int conversion with one naming the
/// parameter (other errors are kept).
fn overflow(py: Attached<'_>, what: &str) -> PyErrSet {
    // SAFETY: attached; an exception is set (the caller's conversion failed).
    if unsafe { PyErr_ExceptionMatches(PyExc_OverflowError) } == 0 {
        return PyErrSet;
    }
    // The OverflowError is replaced below.
    err::clear(py);
    // SAFETY: attached; a builtin exception class.
    unsafe {
        err::raise(
            py,
            PyExc_OverflowError,
            &format!("{what} is out of range: it must be between -2**63 and 2**63 - 1"),
        )
    }
}

/// A non-negative count (`ValueError` if negative).
pub(crate) fn count(py: Attached<'_>, what: &str, obj: Borrowed<'_, '_>) -> PyResult<usize> {
    let v = int(py, what, obj)?;
    usize::try_from(v).map_err(|_| err::value_error(py, &format!("{what} must be >= 0, got {v}")))
}

/// A timeout in seconds as `threading` takes it: None means forever, a negative number
/// means "do not wait" (as in `threading.Event.wait`).
pub(crate) fn sync_timeout(
    py: Attached<'_>,
    obj: Option<Borrowed<'_, '_>>,
) -> PyResult<Option<Duration>> {
    let Some(obj) = given(obj) else {
        return Ok(None);
    };
    Ok(Some(sync_timeout_secs(seconds(py, obj)?)))
}

/// [`sync_timeout`]'s rule for a number of seconds (not NaN): a negative one means "do not
/// wait", one too large to represent the longest wait there is.
fn sync_timeout_secs(secs: f64) -> Duration {
    if secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}

/// The `timeout` of `Lock.acquire(blocking, timeout)`, with `threading`'s rules: `-1` (the
/// default) or None means forever; other negatives raise `ValueError`; a timeout with
/// `blocking=False` raises `ValueError`. Returns `(blocking, timeout)`.
pub(crate) fn lock_timeout(
    py: Attached<'_>,
    blocking: bool,
    obj: Option<Borrowed<'_, '_>>,
) -> PyResult<(bool, Option<Duration>)> {
    let Some(obj) = given(obj) else {
        return Ok((blocking, None));
    };
    lock_timeout_secs(blocking, seconds(py, obj)?).map_err(|msg| err::value_error(py, msg))
}

/// [`lock_timeout`]'s rule for a given number of seconds (not NaN), or the message of its
/// `ValueError`.
fn lock_timeout_secs(blocking: bool, secs: f64) -> Result<(bool, Option<Duration>), &'static str> {
    if secs == -1.0 {
        return Ok((blocking, None));
    }
    if !blocking {
        return Err("can't specify a timeout for a non-blocking call");
    }
    if secs < 0.0 {
        return Err("timeout value must be a non-negative number");
    }
    let wait = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
    Ok((true, Some(wait)))
}

/// A number of seconds (int or float); NaN raises `ValueError`.
fn seconds(py: Attached<'_>, obj: Borrowed<'_, '_>) -> PyResult<f64> {
    let secs = float_seconds(py, obj)?;
    if secs.is_nan() {
        return Err(err::value_error(py, "timeout must be a number, not NaN"));
    }
    Ok(secs)
}

/// Check the number of positional arguments of a positional-only entry.
pub(crate) fn positional(
    py: Attached<'_>,
    func: &str,
    args: &[Borrowed<'_, '_>],
    min: usize,
    max: usize,
) -> PyResult<()> {
    match arity_error(func, args.len(), min, max) {
        Some(msg) => Err(err::type_error(py, &msg)),
        None => Ok(()),
    }
}

/// The message of [`positional`]'s `TypeError` for `given` arguments, if that is not
/// between `min` and `max`.
fn arity_error(func: &str, given: usize, min: usize, max: usize) -> Option<String> {
    if (min..=max).contains(&given) {
        return None;
    }
    let want = if min == max {
        format!("{min}")
    } else {
        format!("{min} to {max}")
    };
    Some(format!(
        "{func}() takes {want} positional arguments ({given} given)"
    ))
}

/// The positional arguments of a positional-only entry that takes exactly `N` of them,
/// as an array (`let [id, source] = args::exact(py, "exec", argv)?;`); `TypeError` as
/// [`positional`] raises it for any other count.
pub(crate) fn exact<'a, 'py, const N: usize>(
    py: Attached<'_>,
    func: &str,
    args: &[Borrowed<'a, 'py>],
) -> PyResult<[Borrowed<'a, 'py>; N]> {
    positional(py, func, args, N, N)?;
    Ok(std::array::from_fn(|i| args[i]))
}

/// An interpreter id argument.
pub(crate) fn interp_id(py: Attached<'_>, obj: Borrowed<'_, '_>) -> PyResult<i64> {
    // SAFETY: attached; `obj` is a borrowed argument.
    if unsafe { PyLong_Check(obj.as_ptr()) } == 0 || unsafe { PyBool_Check(obj.as_ptr()) } != 0 {
        return Err(err::type_error(
            py,
            &format!(
                "interpreter id must be an int, not {}",
                err::type_name(py, obj)
            ),
        ));
    }
    // SAFETY: an int.
    let v = unsafe { PyLong_AsLongLong(obj.as_ptr()) };
    if v == -1 && err::occurred(py) {
        return Err(overflow(py, "interpreter id"));
    }
    if v < 0 {
        return Err(err::value_error(
            py,
            &format!("interpreter id must be >= 0, got {v}"),
        ));
    }
    Ok(v)
}

/// A `str` argument.
pub(crate) fn string(py: Attached<'_>, what: &str, obj: Borrowed<'_, '_>) -> PyResult<String> {
    // SAFETY: attached; borrowed argument.
    if unsafe { PyUnicode_Check(obj.as_ptr()) } == 0 {
        return Err(err::type_error(
            py,
            &format!("{what} must be a str, not {}", err::type_name(py, obj)),
        ));
    }
    obj.str_utf8().map(str::to_owned)
}

/// A str encoded as latin-1, as PEP 3333 wants the status and header values of a response
/// ("native strings" whose characters are bytes): `TypeError` for another type,
/// `ValueError` naming `what` for a character past U+00FF.
pub(crate) fn latin1(py: Attached<'_>, what: &str, obj: Borrowed<'_, '_>) -> PyResult<Vec<u8>> {
    // SAFETY: attached; borrowed argument.
    if unsafe { PyUnicode_Check(obj.as_ptr()) } == 0 {
        return Err(err::type_error(
            py,
            &format!("{what} must be a str, not {}", err::type_name(py, obj)),
        ));
    }
    // SAFETY: a str; returns a new bytes reference or NULL (not latin-1).
    let encoded =
        unsafe { Owned::from_new(py, PyUnicode_AsLatin1String(obj.as_ptr())) }.map_err(|_| {
            err::clear(py);
            err::value_error(py, &format!("{what} is not latin-1 text (PEP 3333)"))
        })?;
    bytes(py, what, encoded.borrow())
}

/// A timeout in seconds: `None` means forever, and so does a timeout too large to reach
/// (`float("inf")`, `2**64`, ...: no deadline could be represented); negative or NaN is a
/// `ValueError` naming the value.
pub(crate) fn timeout(
    py: Attached<'_>,
    obj: Option<Borrowed<'_, '_>>,
) -> PyResult<Option<Duration>> {
    let Some(obj) = given(obj) else {
        return Ok(None);
    };
    timeout_secs(float_seconds(py, obj)?).map_err(|msg| err::value_error(py, &msg))
}

/// [`timeout`]'s rule for a number of seconds, or the message of its `ValueError`.
fn timeout_secs(secs: f64) -> Result<Option<Duration>, String> {
    if secs.is_nan() || secs < 0.0 {
        return Err(format!(
            "timeout must be a non-negative number or None, got {secs}"
        ));
    }
    Ok(no_limit_if_unreachable(
        Duration::try_from_secs_f64(secs).ok(),
    ))
}

/// A number of seconds as a float (int or float; TypeError otherwise). An int beyond
/// float's range becomes an infinity of its sign (a huge timeout is no limit).
fn float_seconds(py: Attached<'_>, obj: Borrowed<'_, '_>) -> PyResult<f64> {
    // SAFETY: attached; converts int/float (raises TypeError otherwise).
    let secs = unsafe { PyFloat_AsDouble(obj.as_ptr()) };
    if secs == -1.0 && err::occurred(py) {
        // SAFETY: attached; an exception is set; `obj` is a borrowed argument.
        let too_big_int = unsafe {
            PyErr_ExceptionMatches(PyExc_OverflowError) != 0 && PyLong_Check(obj.as_ptr()) != 0
        };
        if !too_big_int {
            return Err(PyErrSet);
        }
        // Drop the OverflowError handled here before calling back in.
        err::clear(py);
        let zero = new_int(py, 0)?;
        // SAFETY: attached; two valid ints.
        return match unsafe { PyObject_RichCompareBool(obj.as_ptr(), zero.as_ptr(), Py_GT) } {
            1 => Ok(f64::INFINITY),
            0 => Ok(f64::NEG_INFINITY),
            _ => Err(PyErrSet),
        };
    }
    Ok(secs)
}

/// `None` ("no limit") for a timeout whose deadline cannot be represented from now: a
/// timeout of centuries is no limit in practice, and computing its deadline would overflow.
pub(crate) fn no_limit_if_unreachable(timeout: Option<Duration>) -> Option<Duration> {
    timeout.filter(|&t| std::time::Instant::now().checked_add(t).is_some())
}
/// A `bytes` argument, copied out (`TypeError` naming `what` for anything else).
pub(crate) fn bytes(py: Attached<'_>, what: &str, obj: Borrowed<'_, '_>) -> PyResult<Vec<u8>> {
    // SAFETY: attached; a borrowed argument.
    if unsafe { PyBytes_Check(obj.as_ptr()) } == 0 {
        return Err(err::type_error(
            py,
            &format!("{what} must be bytes, not {}", err::type_name(py, obj)),
        ));
    }
    // SAFETY: a bytes object, kept alive by the caller for the call: its buffer holds
    // PyBytes_Size bytes; they are copied before returning.
    let data = unsafe {
        std::slice::from_raw_parts(
            PyBytes_AsString(obj.as_ptr()).cast::<u8>(),
            PyBytes_Size(obj.as_ptr()) as usize,
        )
    };
    Ok(data.to_vec())
}

/// A `str` or a `bytes` argument.
pub(crate) enum TextOrBytes {
    /// A `str`, as UTF-8.
    Text(String),
    /// A `bytes`, copied out.
    Bytes(Vec<u8>),
}

/// A `str` or `bytes` argument (`TypeError` naming `what` for anything else; a `str`
/// with lone surrogates raises `UnicodeEncodeError`).
pub(crate) fn text_or_bytes(
    py: Attached<'_>,
    what: &str,
    obj: Borrowed<'_, '_>,
) -> PyResult<TextOrBytes> {
    // SAFETY: attached; a borrowed argument.
    if unsafe { PyUnicode_Check(obj.as_ptr()) } != 0 {
        return Ok(TextOrBytes::Text(obj.str_utf8()?.to_owned()));
    }
    // SAFETY: as above.
    if unsafe { PyBytes_Check(obj.as_ptr()) } != 0 {
        return bytes(py, what, obj).map(TextOrBytes::Bytes);
    }
    Err(err::type_error(
        py,
        &format!(
            "{what} must be str or bytes, not {}",
            err::type_name(py, obj)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_follow_the_documented_rules() {
        assert_eq!(timeout_secs(0.25), Ok(Some(Duration::from_millis(250))));
        assert_eq!(timeout_secs(0.0), Ok(Some(Duration::ZERO)));
        // No deadline can be represented: no limit.
        assert_eq!(timeout_secs(f64::INFINITY), Ok(None));
        assert_eq!(timeout_secs(1e300), Ok(None));
        let negative = timeout_secs(-0.5).unwrap_err();
        assert!(
            negative.contains("non-negative") && negative.contains("-0.5"),
            "{negative}"
        );
        assert!(timeout_secs(f64::NAN).unwrap_err().contains("NaN"));
    }

    #[test]
    fn threading_timeouts_treat_negative_as_do_not_wait() {
        assert_eq!(sync_timeout_secs(-3.0), Duration::ZERO);
        assert_eq!(sync_timeout_secs(0.0), Duration::ZERO);
        assert_eq!(sync_timeout_secs(1.5), Duration::from_millis(1500));
        assert_eq!(sync_timeout_secs(f64::INFINITY), Duration::MAX);
    }

    #[test]
    fn lock_timeouts_follow_threading_lock_acquire() {
        assert_eq!(
            lock_timeout_secs(true, -1.0),
            Ok((true, None)),
            "-1: forever"
        );
        assert_eq!(lock_timeout_secs(false, -1.0), Ok((false, None)));
        assert_eq!(
            lock_timeout_secs(true, 2.0),
            Ok((true, Some(Duration::from_secs(2))))
        );
        assert_eq!(
            lock_timeout_secs(false, 2.0),
            Err("can't specify a timeout for a non-blocking call")
        );
        assert_eq!(
            lock_timeout_secs(true, -0.5),
            Err("timeout value must be a non-negative number")
        );
        assert_eq!(
            lock_timeout_secs(true, f64::INFINITY),
            Ok((true, Some(Duration::MAX)))
        );
    }

    #[test]
    fn a_timeout_too_far_to_reach_is_no_limit() {
        assert_eq!(no_limit_if_unreachable(None), None);
        assert_eq!(no_limit_if_unreachable(Some(Duration::MAX)), None);
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(no_limit_if_unreachable(hour), hour);
    }

    #[test]
    fn arity_errors_name_the_function_and_the_counts() {
        assert_eq!(arity_error("f", 2, 2, 2), None);
        assert_eq!(arity_error("f", 4, 4, 5), None);
        assert_eq!(arity_error("f", 5, 4, 5), None);
        assert_eq!(
            arity_error("exec", 1, 2, 3).as_deref(),
            Some("exec() takes 2 to 3 positional arguments (1 given)")
        );
        assert_eq!(
            arity_error("submit", 6, 5, 5).as_deref(),
            Some("submit() takes 5 positional arguments (6 given)")
        );
    }

    #[test]
    fn classes_are_named_without_their_module() {
        assert_eq!(short_name("manygil.Lock"), "Lock");
        assert_eq!(short_name("manygil._native.PoolCore"), "PoolCore");
        assert_eq!(short_name("release"), "release");
    }
}
