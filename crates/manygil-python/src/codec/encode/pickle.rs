//! Everything else, by pickle (`manygil._pickle.dumps`).

use manygil_core::value::Pickled;
use manygil_core::Value;

use crate::ffi::err;
use crate::ffi::values::ExactType;
use crate::ffi::Borrowed;
use crate::runtime::py_names::PICKLE_DUMPS;

use super::{EncResult, Encoder};

impl<'py> Encoder<'py> {
    /// By pickle: `manygil._wire.pickle.dumps(obj)` gives the bytes, the handles they refer to
    /// by persistent ID (each becomes a [`Shared`](manygil_core::value::Shared) owned by
    /// the value) and, for functions, the key receivers may cache them under. A failure is
    /// raised by `dumps` as `NotShareableError` naming the path to the culprit.
    pub(super) fn pickle(&mut self, obj: Borrowed<'_, 'py>) -> EncResult<Value> {
        let py = self.py;
        let dumps = PICKLE_DUMPS.get(py)?;
        let out = dumps.borrow().call(&[obj])?;
        let out = out.borrow();
        // Check the shape `dumps` returns, a 3-tuple (bytes, tuple, int | None), before
        // reading it.
        let shape = || -> Option<_> {
            if out.exact_type() != ExactType::Tuple || out.tuple_len().ok()? != 3 {
                return None;
            }
            let parts = (
                out.tuple_get(0).ok()?,
                out.tuple_get(1).ok()?,
                out.tuple_get(2).ok()?,
            );
            (parts.0.exact_type() == ExactType::Bytes && parts.1.exact_type() == ExactType::Tuple)
                .then_some(parts)
        };
        let Some((data, handles, key)) = shape() else {
            return Err(err::type_error(
                py,
                &format!("{} returned a malformed result", PICKLE_DUMPS.dotted()),
            )
            .into());
        };
        let data = err::try_copy(py, data.bytes_data()?)?.into_boxed_slice();
        let n = handles.tuple_len()?;
        let mut shared = Vec::with_capacity(n);
        for i in 0..n {
            let h = handles.tuple_get(i)?;
            match crate::handles::encode_handle(py, h)? {
                Some(s) => shared.push(s),
                None => {
                    return Err(err::type_error(
                        py,
                        &format!("{} returned a non-handle", PICKLE_DUMPS.dotted()),
                    )
                    .into())
                }
            }
        }
        let key = if key.is_none() {
            None
        } else {
            Some(key.int_to_u64()?)
        };
        Ok(Value::Pickle(Box::new(Pickled {
            data,
            handles: shared,
            key,
        })))
    }
}
