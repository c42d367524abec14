//! Numbers, text and bytes.

use manygil_core::Value;

use crate::ffi::err::{self, PyResult};
use crate::ffi::Borrowed;

/// An exact `int`: `Value::Int` when it fits in 64 bits, else `Value::BigInt`.
pub(super) fn int(obj: Borrowed<'_, '_>) -> PyResult<Value> {
    match obj.int_to_i64()? {
        Some(v) => Ok(Value::Int(v)),
        None => Ok(Value::BigInt(obj.int_to_le_bytes()?)),
    }
}

/// An exact `str`; one holding lone surrogates keeps them (`surrogatepass`).
pub(super) fn str(obj: Borrowed<'_, '_>) -> PyResult<Value> {
    let py = obj.py();
    if let Ok(s) = obj.str_utf8() {
        let copy = err::try_copy(py, s.as_bytes())?;
        // A copy of a str's UTF-8 is UTF-8.
        let text = String::from_utf8(copy).map_err(|_| err::type_error(py, "invalid UTF-8"))?;
        return Ok(Value::Str(text.into_boxed_str()));
    }
    // Lone surrogates: clear the UnicodeEncodeError and re-encode keeping them.
    err::clear(py);
    let b = obj.str_surrogatepass()?;
    let copy = err::try_copy(py, b.borrow().bytes_data()?)?;
    Ok(Value::StrSurrogates(copy.into_boxed_slice()))
}

/// An exact `bytes`: copied, or lent when large (see `codec::borrowed`).
pub(super) fn bytes(obj: Borrowed<'_, '_>) -> PyResult<Value> {
    let data = obj.bytes_data()?;
    if data.len() >= super::super::borrowed::BORROW_AT_LEAST {
        if let Some(v) = super::super::borrowed::borrow_bytes(obj) {
            return Ok(v);
        }
    }
    Ok(Value::Bytes(
        err::try_copy(obj.py(), data)?.into_boxed_slice(),
    ))
}
