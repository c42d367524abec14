//! What runs inside a worker's interpreter: calls, `exec`, `prepare_main`, and capturing
//! the exception of a failed one as a [`Value`].

use std::ffi::CString;

use manygil_core::Value;

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::{
    boolean, builtin, compile, eval_code, import_attr, main_dict, new_str, new_tuple, Attached,
    Borrowed, Mode, Owned,
};

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
            let source = args.borrow().tuple_items().map(|a| a[0].to_owned());
            let source = source.ok_or_else(|| err::type_error(py, "args must be a tuple"))?;
            args = new_tuple(py, vec![source, main_dict(py)?])?;
        }
        // `args` is a tuple and `kwargs` a dict: the caller's module functions check both
        // before encoding.
        let res = func
            .borrow()
            .call_tuple_dict(args.borrow(), Some(kwargs.borrow()))?;
        encode(res.borrow(), EncodeMode::Full)
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
        // A failure (an exception type refusing attributes) only loses the tag.
        let tagged = exc
            .borrow()
            .set_attr(c"_manygil_unresolved", boolean(py, true).borrow());
        if tagged.is_err() {
            err::clear(py);
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
        let code = compile(py, &src, c"<string>", Mode::Exec)?;
        eval_code(py, code.borrow(), globals.borrow())?;
        Ok(Value::None)
    })();
    finish(py, ctx, r)
}

/// Bind the items of `ns` (a dict value) into `__main__`.
pub(crate) fn run_set_main(py: Attached<'_>, ctx: &JobCtx<'_>, ns: &Value) -> Outcome {
    let r = (|| -> PyResult<Value> {
        let ns = decode(py, ns)?;
        let globals = main_dict(py)?;
        globals.borrow().dict_update(ns.borrow())?;
        Ok(Value::None)
    })();
    finish(py, ctx, r)
}

/// Whether this is `eval(source)` or `exec(source)` with no namespace given.
fn frameless_eval_or_exec<'py>(
    py: Attached<'py>,
    func: &Owned<'py>,
    args: &Owned<'py>,
    kwargs: &Owned<'py>,
) -> PyResult<bool> {
    let one_arg =
        args.borrow().tuple_items().is_some_and(|a| a.len() == 1) && kwargs.borrow().len()? == 0;
    if !one_arg {
        return Ok(false);
    }
    let is_builtin = |name| builtin(py, name).is_some_and(|f| f.as_ptr() == func.as_ptr());
    Ok(is_builtin(c"eval") || is_builtin(c"exec"))
}

/// Turn a job's result into an [`Outcome`], taking interrupts into account: an interrupted
/// job reports the interrupt's reason whatever the code did with the exception.
pub(crate) fn finish(py: Attached<'_>, ctx: &JobCtx<'_>, r: PyResult<Value>) -> Outcome {
    let interrupted = ctx.interrupted();
    match (r, interrupted) {
        (_, Some(reason)) => {
            err::clear(py);
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

/// `"".join(traceback.format_exception(exc))`.
fn stdlib_traceback(py: Attached<'_>, exc: Borrowed<'_, '_>) -> PyResult<String> {
    let format = import_attr(py, c"traceback", c"format_exception")?;
    let lines = format.borrow().call(&[exc])?;
    let empty = new_str(py, "")?;
    let join = new_str(py, "join")?;
    let text = empty
        .borrow()
        .call_method(join.borrow(), &[lines.borrow()])?;
    crate::ffi::args::string(py, "traceback", text.borrow())
}

/// Capture the current exception (there must be one) as an exception record, using
/// `manygil._wire.remote.capture`; if even that fails, a minimal record built here.
pub(crate) fn capture_exception(py: Attached<'_>) -> Value {
    let exc = err::take(py);
    let captured = (|| -> PyResult<Value> {
        let capture = crate::runtime::py_names::REMOTE_CAPTURE.get(py)?;
        let record = capture.borrow().call(&[exc.borrow()])?;
        encode(record.borrow(), EncodeMode::Full)
    })();
    match captured {
        Ok(v) => v,
        Err(PyErrSet) => {
            // Drop the helper's own failure (in a program that embeds CPython the Python
            // package may not be importable at all): the stdlib's traceback text instead.
            err::clear(py);
            let name = err::type_name(py, exc.borrow());
            let msg = err::describe(py, exc.borrow());
            let traceback = stdlib_traceback(py, exc.borrow()).unwrap_or_else(|PyErrSet| {
                err::clear(py);
                String::new()
            });
            exc_record(
                &name,
                "builtins",
                &msg,
                &format!("{name}: {msg}"),
                &traceback,
                Value::None,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields `manygil._remote.rebuild` reads, by position.
    fn fields(v: &Value) -> Vec<&str> {
        let Value::Tuple(items) = v else {
            panic!("a record is a tuple: {v:?}")
        };
        assert_eq!(items.len(), 7);
        items[..6]
            .iter()
            .map(|i| match i {
                Value::Str(s) => &**s,
                other => panic!("a str field: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn an_exception_record_has_the_shape_rebuild_reads() {
        let r = exc_record("E", "m", "msg", "tb", "disp", Value::None);
        assert_eq!(fields(&r), ["E", "E", "m", "msg", "tb", "disp"]);
    }

    #[test]
    fn each_interrupt_reports_its_reason_as_a_builtin_exception() {
        for (reason, name) in [
            (InterruptReason::KeyboardInterrupt, "KeyboardInterrupt"),
            (InterruptReason::Timeout, "TimeoutError"),
            (InterruptReason::Cancelled, "CancelledError"),
            (InterruptReason::Shutdown, "SystemExit"),
        ] {
            let v = interrupt_value(reason);
            let f = fields(&v);
            assert_eq!((f[0], f[2]), (name, "builtins"));
            assert!(
                f[4].starts_with(name),
                "the formatted text names it: {}",
                f[4]
            );
        }
    }
}
