//! What runs inside a worker's interpreter: calls, `exec`, `prepare_main`, and capturing
//! the exception of a failed one as a [`Value`].

use std::ffi::CString;

use manygil_core::Value;

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

use super::worker::{InterruptReason, JobCtx};

/// The result of a job: a value, or a captured exception (see [`capture_exception`]).
pub(crate) type Outcome = Result<Value, Value>;

/// Call `func(*args, **kwargs)`, all three decoded here; encode the result.
pub(crate) fn run_call(
    py: Attached<'_>,
    ctx: &JobCtx<'_>,
    func: &Value,
    args: &Value,
    kwargs: &Value,
) -> Outcome {
    let r = (|| -> PyResult<Value> {
        let (func, mut args, kwargs) = before_call(py, || {
            Ok((decode(py, func)?, decode(py, args)?, decode(py, kwargs)?))
        })?;
        if frameless_eval_or_exec(py, &func, &args, &kwargs)? {
            // As in 3.14's stdlib: call(eval, "expr") evaluates in the interpreter's __main__
            // (a job has no Python frame for eval/exec to take globals from).
            // SAFETY: a 1-tuple (checked above); borrowed item kept alive by `args`.
            let source = unsafe { Owned::from_borrowed(py, PyTuple_GET_ITEM(args.as_ptr(), 0)) };
            args = new_tuple(py, vec![source, main_dict(py)?])?;
        }
        // SAFETY: attached; `args` is a tuple and `kwargs` a dict by construction of the
        // caller (module functions check both before encoding).
        let res = unsafe {
            Owned::from_new(
                py,
                PyObject_Call(func.as_ptr(), args.as_ptr(), kwargs.as_ptr()),
            )?
        };
        encode(res.borrow(py), EncodeMode::Full)
    })();
    finish(py, ctx, r)
}

/// Run `resolve` (decoding a job's callable and arguments, which may import modules); if
/// it fails, tag the exception as raised before the callable ran
/// (`exc._manygil_unresolved = True`, which survives the trip to the caller with the
/// exception's pickle), so that the caller knows the job can be run elsewhere with no
/// effect repeated (`manygil.Pool(fallback="process")`).
pub(crate) fn before_call<T>(
    py: Attached<'_>,
    resolve: impl FnOnce() -> PyResult<T>,
) -> PyResult<T> {
    resolve().map_err(|PyErrSet| {
        let exc = err::take(py);
        // SAFETY: attached; `exc` is a live exception object; True is immortal. A failure
        // (an exception type refusing attributes) only loses the tag and is cleared.
        unsafe {
            if PyObject_SetAttrString(exc.as_ptr(), c"_manygil_unresolved".as_ptr(), Py_True()) < 0
            {
                PyErr_Clear();
            }
        }
        err::restore(py, exc)
    })
}

/// `exec(source, __main__.__dict__)`.
pub(crate) fn run_exec(py: Attached<'_>, ctx: &JobCtx<'_>, source: &str) -> Outcome {
    let r = (|| -> PyResult<Value> {
        let src = CString::new(source)
            .map_err(|_| err::value_error(py, "source code contains a NUL character"))?;
        let globals = main_dict(py)?;
        // SAFETY: attached; NUL-terminated source and filename; Py_file_input mode.
        let code = unsafe {
            Owned::from_new(
                py,
                Py_CompileString(src.as_ptr(), c"<string>".as_ptr(), Py_file_input),
            )?
        };
        // SAFETY: attached; a code object and the __main__ dict as globals and locals.
        unsafe {
            Owned::from_new(
                py,
                PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), globals.as_ptr()),
            )?
        };
        Ok(Value::None)
    })();
    finish(py, ctx, r)
}

/// Bind the items of `ns` (a dict value) into `__main__`.
pub(crate) fn run_set_main(py: Attached<'_>, ctx: &JobCtx<'_>, ns: &Value) -> Outcome {
    let r = (|| -> PyResult<Value> {
        let ns = decode(py, ns)?;
        let globals = main_dict(py)?;
        // SAFETY: attached; both are dicts.
        if unsafe { PyDict_Update(globals.as_ptr(), ns.as_ptr()) } < 0 {
            return Err(PyErrSet);
        }
        Ok(Value::None)
    })();
    finish(py, ctx, r)
}

/// Whether this is `eval(source)` or `exec(source)` with no namespace given.
fn frameless_eval_or_exec(
    py: Attached<'_>,
    func: &Owned,
    args: &Owned,
    kwargs: &Owned,
) -> PyResult<bool> {
    // SAFETY: attached; `args` is a tuple and `kwargs` a dict (decoded from the caller's).
    let one_arg =
        unsafe { PyTuple_GET_SIZE(args.as_ptr()) == 1 && PyDict_Size(kwargs.as_ptr()) == 0 };
    if !one_arg {
        return Ok(false);
    }
    // SAFETY: attached; returns a borrowed dict of this interpreter's builtins.
    let builtins = unsafe { PyEval_GetBuiltins() };
    for name in [c"eval", c"exec"] {
        // SAFETY: attached; borrowed lookup in a dict; NUL-terminated key.
        let f = unsafe { PyDict_GetItemString(builtins, name.as_ptr()) };
        if f == func.as_ptr() {
            return Ok(true);
        }
    }
    let _ = py;
    Ok(false)
}

fn main_dict(py: Attached<'_>) -> PyResult<Owned> {
    // SAFETY: attached; returns a new reference to sys.modules['__main__'] (created if absent).
    let main = unsafe { Owned::from_new(py, PyImport_AddModuleRef(c"__main__".as_ptr()))? };
    // SAFETY: a module object; PyModule_GetDict returns a borrowed reference kept alive by it.
    Ok(unsafe { Owned::from_borrowed(py, PyModule_GetDict(main.as_ptr())) })
}

/// Turn a job's result into an [`Outcome`], taking interrupts into account: an interrupted
/// job reports the interrupt's reason whatever the code did with the exception.
pub(crate) fn finish(py: Attached<'_>, ctx: &JobCtx<'_>, r: PyResult<Value>) -> Outcome {
    let interrupted = ctx.interrupted();
    match (r, interrupted) {
        (_, Some(reason)) => {
            // SAFETY: attached.
            unsafe { PyErr_Clear() };
            Err(interrupt_value(reason))
        }
        (Ok(v), None) => Ok(v),
        (Err(PyErrSet), None) => Err(capture_exception(py)),
    }
}

/// The exception record of an interrupt, as the caller's side expects it.
pub(crate) fn interrupt_value(reason: InterruptReason) -> Value {
    let (name, msg) = match reason {
        InterruptReason::KeyboardInterrupt => ("KeyboardInterrupt", ""),
        InterruptReason::Timeout => (
            "TimeoutError",
            "the task ran past its timeout and was interrupted",
        ),
        InterruptReason::Cancelled => ("CancelledError", "the task was cancelled while running"),
        InterruptReason::Shutdown => (
            "SystemExit",
            "the interpreter was closed while the task ran",
        ),
    };
    exc_record(
        name,
        "builtins",
        msg,
        &format!("{name}: {msg}"),
        "",
        Value::None,
    )
}

/// The tuple the caller's `manygil._remote.rebuild` reads:
/// `(name, qualname, module, msg, formatted, errdisplay, pickled_or_None)`.
pub(crate) fn exc_record(
    name: &str,
    module: &str,
    msg: &str,
    formatted: &str,
    errdisplay: &str,
    pickled: Value,
) -> Value {
    Value::Tuple(vec![
        Value::Str(name.into()),
        Value::Str(name.into()),
        Value::Str(module.into()),
        Value::Str(msg.into()),
        Value::Str(formatted.into()),
        Value::Str(errdisplay.into()),
        pickled,
    ])
}

/// Capture the current exception (there must be one) as an exception record, using
/// `manygil._remote.capture`; if even that fails, a minimal record built here.
pub(crate) fn capture_exception(py: Attached<'_>) -> Value {
    let exc = err::take(py);
    let captured = (|| -> PyResult<Value> {
        let capture = import_attr(py, c"manygil._remote", c"capture")?;
        let record = call(py, &capture, &[&exc])?;
        encode(record.borrow(py), EncodeMode::Full)
    })();
    match captured {
        Ok(v) => v,
        Err(PyErrSet) => {
            // SAFETY: attached; drop the helper's own failure.
            unsafe { PyErr_Clear() };
            let name = err::type_name(py, exc.as_ptr());
            let msg = err::describe(py, exc.as_ptr());
            exc_record(
                &name,
                "builtins",
                &msg,
                &format!("{name}: {msg}"),
                "",
                Value::None,
            )
        }
    }
}
