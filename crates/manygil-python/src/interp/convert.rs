//! The values of a call as Python sees them: the checked and encoded arguments
//! ([`encode_call`]) and the outcome turned back into `(ok, value)` ([`outcome_to_python`]).

use manygil_core::Value;

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::err::{self, PyResult};
use crate::ffi::raw::{PyDict_Type, PyTuple_Type};
use crate::ffi::{boolean, new_tuple, Attached, Borrowed, Owned};

use super::jobs::Outcome;

/// Encode `(callable, args, kwargs)` after checking their types.
pub(crate) fn encode_call(
    py: Attached<'_>,
    func: Borrowed<'_, '_>,
    a: Borrowed<'_, '_>,
    kw: Borrowed<'_, '_>,
) -> PyResult<(Value, Value, Value)> {
    if !a.is_instance(&raw mut PyTuple_Type) {
        return Err(err::type_error(
            py,
            &format!("args must be a tuple, not {}", err::type_name(py, a)),
        ));
    }
    if !kw.is_instance(&raw mut PyDict_Type) {
        return Err(err::type_error(
            py,
            &format!("kwargs must be a dict, not {}", err::type_name(py, kw)),
        ));
    }
    if !func.is_callable() {
        return Err(err::type_error(
            py,
            &format!("{} object is not callable", err::type_name(py, func)),
        ));
    }
    let f = encode(func, EncodeMode::Full)?;
    // limit: each argument may nest as deep as any value.)
    let a = crate::codec::encode_wrapper(a, EncodeMode::Full, 1)?;
    let kw = crate::codec::encode_wrapper(kw, EncodeMode::Full, 1)?;
    Ok((f, a, kw))
}

/// `(True, result)` or `(False, exception_record)`.
pub(crate) fn outcome_to_python<'py>(py: Attached<'py>, outcome: Outcome) -> PyResult<Owned<'py>> {
    let (ok, v) = match &outcome {
        Ok(v) => (true, v),
        Err(rec) => (false, rec),
    };
    crate::runtime::main_ref::release_deferred(py);
    let obj = decode(py, v)?;
    // Drop the value's memory while still attached is not required (Rust memory), but do it
    // before building the tuple to keep peak memory low for large results.
    drop(outcome);
    new_tuple(py, vec![boolean(py, ok), obj])
}
