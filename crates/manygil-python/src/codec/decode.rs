//! [`Value`] → fresh objects of the attached interpreter.

use std::ffi::c_char;

use manygil_core::value::{Pickled, MAX_DEPTH};
use manygil_core::Value;

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

use super::refs;

/// Build an object of the attached interpreter from `value`.
pub(crate) fn decode(py: Attached<'_>, value: &Value) -> PyResult<Owned> {
    decode_at(py, value, 0, &mut Memo::Off)
}

/// The objects numbered so far inside a [`Value::Graph`]: those of its [`Value::Memo`]s.
enum Memo {
    /// Outside any graph: nothing is numbered.
    Off,
    /// Inside a graph: object number `i` is `objs[i]` (`None` while it is being built).
    On(Vec<Option<Owned>>),
}

impl Memo {
    /// Reserve the next number (pre-order) if inside a graph.
    fn reserve(&mut self) -> Option<usize> {
        match self {
            Memo::Off => None,
            Memo::On(objs) => {
                objs.push(None);
                Some(objs.len() - 1)
            }
        }
    }

    /// Record the object built for a number reserved with [`Self::reserve`].
    fn fill(&mut self, py: Attached<'_>, slot: Option<usize>, obj: &Owned) {
        if let (Memo::On(objs), Some(i)) = (self, slot) {
            // SAFETY: attached; `obj` is a valid object of this interpreter.
            objs[i] = Some(unsafe { Owned::from_borrowed(py, obj.as_ptr()) });
        }
    }

    /// The object numbered `n`, again.
    fn get(&self, py: Attached<'_>, n: usize) -> PyResult<Owned> {
        match self {
            Memo::On(objs) => match objs.get(n) {
                // SAFETY: attached; a valid object of this interpreter.
                Some(Some(obj)) => Ok(unsafe { Owned::from_borrowed(py, obj.as_ptr()) }),
                _ => Err(err::value_error(
                    py,
                    "malformed value: a back-reference to an object not decoded yet",
                )),
            },
            Memo::Off => Err(err::value_error(
                py,
                "malformed value: a back-reference outside a graph",
            )),
        }
    }
}

fn decode_at(py: Attached<'_>, value: &Value, depth: usize, memo: &mut Memo) -> PyResult<Owned> {
    // The encoder's limit, plus the levels of wrappers that do not count (call arguments
    // and map chunks: see `encode_wrapper`).
    if depth > MAX_DEPTH + 2 {
        return Err(err::value_error(py, "value nests too deeply to decode"));
    }
    match value {
        Value::Graph(inner) => decode_at(py, inner, depth, &mut Memo::On(Vec::new())),
        Value::Backref(n) => memo.get(py, *n),
        Value::Memo(inner) => {
            let slot = memo.reserve();
            let obj = decode_at(py, inner, depth, memo)?;
            memo.fill(py, slot, &obj);
            Ok(obj)
        }
        _ => decode_one(py, value, depth, memo),
    }
}

/// Build `value` itself (numbering is handled by [`decode_at`]).
fn decode_one(py: Attached<'_>, value: &Value, depth: usize, memo: &mut Memo) -> PyResult<Owned> {
    let d = depth + 1;
    // SAFETY: (whole match) attached (py); each constructor returns a new reference or NULL
    // with an exception set, which `Owned::from_new` turns into `Err`; pointer/length pairs
    // describe memory owned by `value` for the duration of the call.
    unsafe {
        match value {
            Value::None => Ok(Owned::from_borrowed(py, Py_None())),
            Value::Bool(b) => Ok(Owned::from_borrowed(
                py,
                if *b { Py_True() } else { Py_False() },
            )),
            Value::Int(i) => Owned::from_new(py, PyLong_FromLongLong(*i)),
            Value::BigInt(bytes) => Owned::from_new(
                py,
                PyLong_FromNativeBytes(
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    Py_ASNATIVEBYTES_LITTLE_ENDIAN,
                ),
            ),
            Value::Float(f) => Owned::from_new(py, PyFloat_FromDouble(*f)),
            Value::Complex(re, im) => Owned::from_new(py, PyComplex_FromDoubles(*re, *im)),
            Value::Str(s) => new_str(py, s),
            Value::StrSurrogates(b) => Owned::from_new(
                py,
                PyUnicode_DecodeUTF8(
                    b.as_ptr().cast::<c_char>(),
                    b.len() as Py_ssize_t,
                    c"surrogatepass".as_ptr(),
                ),
            ),
            Value::Bytes(b) => Owned::from_new(
                py,
                PyBytes_FromStringAndSize(b.as_ptr().cast::<c_char>(), b.len() as Py_ssize_t),
            ),
            Value::BytesView(b) => {
                let b = b.as_slice();
                Owned::from_new(
                    py,
                    PyBytes_FromStringAndSize(b.as_ptr().cast::<c_char>(), b.len() as Py_ssize_t),
                )
            }
            Value::ByteArray(b) => Owned::from_new(
                py,
                PyByteArray_FromStringAndSize(b.as_ptr().cast::<c_char>(), b.len() as Py_ssize_t),
            ),
            Value::Tuple(items) => {
                let objs = items
                    .iter()
                    .map(|v| decode_at(py, v, d, memo))
                    .collect::<PyResult<Vec<_>>>()?;
                new_tuple(py, objs)
            }
            Value::List(items) => {
                let list = Owned::from_new(py, PyList_New(items.len() as Py_ssize_t))?;
                for (i, v) in items.iter().enumerate() {
                    let o = decode_at(py, v, d, memo)?;
                    // SAFETY: fresh list of the right length; slot i empty; steals `o`.
                    PyList_SET_ITEM(list.as_ptr(), i as Py_ssize_t, o.into_raw());
                }
                Ok(list)
            }
            Value::Dict(items) => {
                let dict = Owned::from_new(py, PyDict_New())?;
                for (k, v) in items {
                    let k = decode_at(py, k, d, memo)?;
                    let v = decode_at(py, v, d, memo)?;
                    if PyDict_SetItem(dict.as_ptr(), k.as_ptr(), v.as_ptr()) < 0 {
                        return Err(PyErrSet);
                    }
                }
                Ok(dict)
            }
            Value::Set(items) | Value::FrozenSet(items) => {
                let set = Owned::from_new(py, PySet_New(std::ptr::null_mut()))?;
                for v in items {
                    let o = decode_at(py, v, d, memo)?;
                    if PySet_Add(set.as_ptr(), o.as_ptr()) < 0 {
                        return Err(PyErrSet);
                    }
                }
                if matches!(value, Value::FrozenSet(_)) {
                    return Owned::from_new(py, PyFrozenSet_New(set.as_ptr()));
                }
                Ok(set)
            }
            Value::Ref { module, qualname } => refs::resolve(py, module, qualname),
            Value::Code {
                code,
                module,
                attrs,
            } => decode_code(py, code, module, attrs, d, memo),
            Value::Pickle(p) => decode_pickle(py, p),
            Value::Shared(shared) => crate::handles::decode_handle(py, shared),
            // Handled by `decode_at`; kept total without a panic path.
            Value::Graph(_) | Value::Memo(_) | Value::Backref(_) => {
                decode_at(py, value, depth, memo)
            }
        }
    }
}

/// Unpickle `p` with this interpreter's handle objects for its persistent IDs; a keyed
/// pickle (a function sent by value) decoded here before is reused without unpickling.
fn decode_pickle(py: Attached<'_>, p: &Pickled) -> PyResult<Owned> {
    let key = match p.key {
        // SAFETY: attached; returns a new reference or NULL with an exception set.
        Some(k) => unsafe { Owned::from_new(py, PyLong_FromUnsignedLongLong(k))? },
        // SAFETY: attached; the None singleton.
        None => unsafe { Owned::from_borrowed(py, Py_None()) },
    };
    if p.key.is_some() {
        let cached = import_attr(py, c"manygil._pickle", c"cached")?;
        let hit = call(py, &cached, &[&key])?;
        // SAFETY: comparing with the None singleton.
        if hit.as_ptr() != unsafe { Py_None() } {
            return Ok(hit);
        }
    }
    // SAFETY: attached; new reference or NULL with an exception set.
    let handles = unsafe { Owned::from_new(py, PyTuple_New(p.handles.len() as Py_ssize_t))? };
    for (i, shared) in p.handles.iter().enumerate() {
        let h = crate::handles::decode_handle(py, shared)?;
        // SAFETY: a fresh tuple of the right length; slot i is empty; steals `h`.
        unsafe { PyTuple_SET_ITEM(handles.as_ptr(), i as Py_ssize_t, h.into_raw()) };
    }
    // SAFETY: attached; `p.data` is valid for its length during the call.
    let data = unsafe {
        Owned::from_new(
            py,
            PyBytes_FromStringAndSize(p.data.as_ptr().cast::<c_char>(), p.data.len() as Py_ssize_t),
        )?
    };
    let loads = import_attr(py, c"manygil._pickle", c"loads")?;
    call(py, &loads, &[&data, &handles, &key])
}

/// Rebuild a closure-free function of a module other than `__main__`: its globals are its
/// module's namespace when that module can be imported here, else a namespace with builtins.
fn decode_code(
    py: Attached<'_>,
    code: &[u8],
    module: &str,
    attrs: &Value,
    d: usize,
    memo: &mut Memo,
) -> PyResult<Owned> {
    // SAFETY: attached; the bytes came from PyMarshal_WriteObjectToString of a code object.
    let code = unsafe {
        Owned::from_new(
            py,
            PyMarshal_ReadObjectFromString(
                code.as_ptr().cast::<c_char>(),
                code.len() as Py_ssize_t,
            ),
        )?
    };
    let helper = import_attr(py, c"manygil._codeglobals", c"globals_for")?;
    let module_name = new_str(py, module)?;
    let globals = call(py, &helper, &[&module_name])?;
    // SAFETY: attached; `code` is a code object, `globals` a dict.
    let func = unsafe { Owned::from_new(py, PyFunction_New(code.as_ptr(), globals.as_ptr()))? };
    let Value::Tuple(parts) = attrs else {
        return Err(err::value_error(py, "malformed code value"));
    };
    for (name, v) in [
        c"__name__",
        c"__qualname__",
        c"__defaults__",
        c"__kwdefaults__",
    ]
    .iter()
    .zip(parts)
    {
        let obj = decode_at(py, v, d, memo)?;
        // SAFETY: attached; `func` valid; name NUL-terminated.
        if unsafe { PyObject_SetAttrString(func.as_ptr(), name.as_ptr(), obj.as_ptr()) } < 0 {
            return Err(PyErrSet);
        }
    }
    Ok(func)
}
