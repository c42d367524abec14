//! Objects → [`Value`].

use manygil_core::value::{Pickled, MAX_DEPTH};
use manygil_core::Value;

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

use super::refs;

/// What the encoder may fall back to for objects it cannot encode natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncodeMode {
    /// References, code and pickle are all allowed (calls, queues).
    Full,
    /// Only native values: used by `is_shareable()`.
    NativeOnly,
}

/// Encode `obj`. On failure a Python exception is set: `NotShareableError` naming the
/// object, or whatever the object's own methods raised.
///
/// # Safety
///
/// `obj` is a valid object of the attached interpreter.
pub(crate) unsafe fn encode(
    py: Attached<'_>,
    obj: *mut PyObject,
    mode: EncodeMode,
) -> PyResult<Value> {
    // SAFETY: forwarded from the caller.
    unsafe { encode_wrapper(py, obj, mode, 0) }
}

/// [`encode`] for a container of values (a call's argument tuple or keyword dict: `wraps`
/// = 1; a map chunk's list of argument tuples: 2) whose own `wraps` levels do not count
/// towards the nesting limit: each value inside may nest [`MAX_DEPTH`] levels.
///
/// # Safety
///
/// `obj` is a valid object of the attached interpreter.
pub(crate) unsafe fn encode_wrapper(
    py: Attached<'_>,
    obj: *mut PyObject,
    mode: EncodeMode,
    wraps: usize,
) -> PyResult<Value> {
    crate::runtime::main_ref::release_deferred(py);
    let mut enc = Encoder {
        py,
        mode,
        limit: MAX_DEPTH + wraps,
        depth: 0,
        memo: Memo::default(),
        too_deep: TooDeep::default(),
    };
    // SAFETY: forwarded from the caller.
    match unsafe { enc.encode(obj) } {
        Err(Failure::Raised) => Err(PyErrSet),
        Err(Failure::TooDeep) if enc.too_deep.is_cycle() && mode == EncodeMode::Full => {
            // A reference cycle: pickle keeps those, so send the whole object pickled (its
            // own error, if any, is the cause of ours).
            // SAFETY: forwarded from the caller.
            unsafe { enc.pickle(obj) }.map_err(|_| PyErrSet)
        }
        Err(Failure::TooDeep) => {
            let what = if enc.too_deep.is_cycle() {
                "contains a reference cycle".to_owned()
            } else {
                format!(
                    "nests containers deeper than {MAX_DEPTH} levels (manygil's limit; a {} \
                     starts level {})",
                    enc.too_deep.leaf_type,
                    MAX_DEPTH + 1
                )
            };
            // Inside a wrapper (call arguments, a map chunk) name the value itself.
            let objs = &enc.too_deep.objs;
            let root = objs
                .len()
                .checked_sub(1 + wraps)
                .map_or_else(|| err::type_name(py, obj), |i| objs[i].1.clone());
            Err(not_shareable(
                py,
                &format!(
                    "{root} object {what} at {}; flatten it, or send pickle.dumps() of it as \
                     bytes",
                    enc.too_deep.path(wraps)
                ),
            ))
        }
        // Some object occurred twice: number the objects (see `Value::Graph`).
        Ok(v) if enc.memo.backrefs => Ok(Value::Graph(Box::new(v))),
        Ok(v) => Ok(v),
    }
}

/// Raise `manygil.NotShareableError(msg)`.
pub(crate) fn not_shareable(py: Attached<'_>, msg: &str) -> PyErrSet {
    crate::handles::errors::raise(py, crate::handles::errors::Exc::NotShareable, msg)
}

/// Where nesting passed [`MAX_DEPTH`], recorded while the failure unwinds (leaf first).
#[derive(Default)]
struct TooDeep {
    /// Addresses and type names of the objects on the failing path, innermost first.
    objs: Vec<(usize, String)>,
    /// Subscripts from each container to the next, innermost first (`[3]`, `['k']`).
    subs: Vec<String>,
    /// Type name of the innermost object (the one that would start the next level).
    leaf_type: String,
}

impl TooDeep {
    /// Whether the path meets an object twice: a reference cycle, not just depth.
    fn is_cycle(&self) -> bool {
        let mut seen = std::collections::HashSet::new();
        self.objs.iter().any(|(o, _)| !seen.insert(*o))
    }

    /// The path from the object to where it failed, e.g. `x[0][0]...[0]['k']`, with
    /// long runs shortened.
    fn path(&self, skip: usize) -> String {
        let parts: Vec<&str> = self
            .subs
            .iter()
            .rev()
            .skip(skip)
            .map(String::as_str)
            .collect();
        let shown = |ps: &[&str]| ps.concat();
        if parts.len() <= 12 {
            return format!("x{}", shown(&parts));
        }
        format!(
            "x{}...({} more)...{}",
            shown(&parts[..6]),
            parts.len() - 12,
            shown(&parts[parts.len() - 6..])
        )
    }
}

enum Failure {
    /// A Python exception is set.
    Raised,
    /// Nesting passed [`MAX_DEPTH`] (or a cycle was met); no exception is set; the path
    /// is in `Encoder::too_deep`.
    TooDeep,
}

impl From<PyErrSet> for Failure {
    fn from(_: PyErrSet) -> Self {
        Failure::Raised
    }
}

struct Encoder<'py> {
    py: Attached<'py>,
    mode: EncodeMode,
    /// Container levels allowed: [`MAX_DEPTH`] plus the wrapper's own levels.
    limit: usize,
    depth: usize,
    /// Containers and bytes met so far, so each is encoded once (see `Value::Graph`).
    memo: Memo,
    /// Where nesting went too deep, once it did.
    too_deep: TooDeep,
}

/// pickle's memo, for the exact container and bytes types: an object that may be met
/// again (it has other references) is encoded once, as a `Value::Memo` numbered in
/// pre-order; a later occurrence becomes `Value::Backref(number)`. This keeps identity
/// (`r[0] is r[1]`) and bounds the work by the input's size (a DAG whose expansion is
/// exponential stays linear).
#[derive(Default)]
struct Memo {
    /// Object address → its number.
    seen: std::collections::HashMap<usize, usize, PtrHash>,
    /// Addresses of the numbered objects being encoded now (at most `MAX_DEPTH`): meeting
    /// one again means a reference cycle.
    open: Vec<usize>,
    /// Strong references to the numbered objects, so that no address is freed and reused
    /// by another object while encoding runs (user code may run, e.g. in pickle).
    keep: Vec<Owned>,
    /// Whether a `Backref` was emitted (the result is then wrapped in `Value::Graph`).
    backrefs: bool,
}

/// Hashes object addresses (already unique; only their bits need spreading).
#[derive(Default, Clone, Copy)]
struct PtrHash;

impl std::hash::BuildHasher for PtrHash {
    type Hasher = PtrHasher;
    fn build_hasher(&self) -> PtrHasher {
        PtrHasher(0)
    }
}

struct PtrHasher(u64);

impl std::hash::Hasher for PtrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        let x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Whether objects of exact type `tp` go through the memo: the containers and bytes types
/// (whose identity Python code can observe, and which can be large).
fn memoized(tp: *mut PyTypeObject) -> bool {
    [
        &raw mut PyBytes_Type,
        &raw mut PyByteArray_Type,
        &raw mut PyTuple_Type,
        &raw mut PyList_Type,
        &raw mut PyDict_Type,
        &raw mut PySet_Type,
        &raw mut PyFrozenSet_Type,
    ]
    .contains(&tp)
}

type EncResult<T> = Result<T, Failure>;

impl Encoder<'_> {
    /// # Safety
    ///
    /// `obj` is a valid object of the attached interpreter.
    unsafe fn encode(&mut self, obj: *mut PyObject) -> EncResult<Value> {
        // SAFETY: forwarded from the caller.
        let r = unsafe { self.encode_memo(obj) };
        if let Err(Failure::TooDeep) = r {
            if self.too_deep.objs.is_empty() {
                self.too_deep.leaf_type = err::type_name(self.py, obj);
            }
            let name = err::type_name(self.py, obj);
            self.too_deep.objs.push((obj as usize, name));
        }
        r
    }

    /// Record the subscript `sub` of a failure that went too deep inside a container.
    fn at<T>(&mut self, r: EncResult<T>, sub: impl FnOnce(&mut Self) -> String) -> EncResult<T> {
        if let Err(Failure::TooDeep) = r {
            let s = sub(self);
            self.too_deep.subs.push(s);
        }
        r
    }

    /// [`Self::encode`] through the memo.
    ///
    /// # Safety
    ///
    /// `obj` is a valid object of the attached interpreter.
    unsafe fn encode_memo(&mut self, obj: *mut PyObject) -> EncResult<Value> {
        // SAFETY: `obj` is valid (caller's duty).
        let tp = unsafe { Py_TYPE(obj) };
        if !memoized(tp) {
            // SAFETY: forwarded from the caller.
            return unsafe { self.encode_one(obj) };
        }
        // Only an object with other references than its container's (and ours, held
        // while we encode it) can be met again: the others, most objects of tree-shaped
        // data, cost nothing here.
        // SAFETY: reading the reference count of a valid object.
        if unsafe { Py_REFCNT(obj) } <= 2 {
            // SAFETY: forwarded from the caller.
            return unsafe { self.encode_one(obj) };
        }
        let key = obj as usize;
        if let Some(&number) = self.memo.seen.get(&key) {
            if self.memo.open.contains(&key) {
                // A container that contains itself: the caller falls back to pickle.
                return Err(Failure::TooDeep);
            }
            self.memo.backrefs = true;
            return Ok(Value::Backref(number));
        }
        self.memo.seen.insert(key, self.memo.seen.len());
        // SAFETY: attached; a valid object, kept alive for the whole encoding.
        let held = unsafe { Owned::from_borrowed(self.py, obj) };
        self.memo.keep.push(held);
        self.memo.open.push(key);
        // SAFETY: forwarded from the caller.
        let r = unsafe { self.encode_one(obj) };
        self.memo.open.pop();
        Ok(Value::Memo(Box::new(r?)))
    }

    /// Encode `obj` itself (the memo is handled by [`Self::encode`]).
    ///
    /// # Safety
    ///
    /// `obj` is a valid object of the attached interpreter.
    unsafe fn encode_one(&mut self, obj: *mut PyObject) -> EncResult<Value> {
        // SAFETY: (whole function) attached (self.py); `obj` valid per the caller; every
        // exact-type check below makes the following type-specific call valid.
        unsafe {
            let tp = Py_TYPE(obj);
            if obj == Py_None() {
                return Ok(Value::None);
            }
            if tp == &raw mut PyBool_Type {
                return Ok(Value::Bool(obj == Py_True()));
            }
            if tp == &raw mut PyLong_Type {
                return self.int(obj).map_err(Into::into);
            }
            if tp == &raw mut PyFloat_Type {
                return Ok(Value::Float(PyFloat_AsDouble(obj)));
            }
            if tp == &raw mut PyUnicode_Type {
                return self.str(obj).map_err(Into::into);
            }
            if tp == &raw mut PyBytes_Type {
                let p = PyBytes_AsString(obj);
                let n = PyBytes_Size(obj) as usize;
                if n >= super::borrowed::BORROW_AT_LEAST {
                    if let Some(v) = super::borrowed::borrow_bytes(self.py, obj) {
                        return Ok(v);
                    }
                }
                return Ok(Value::Bytes(
                    std::slice::from_raw_parts(p.cast::<u8>(), n).into(),
                ));
            }
            if tp == &raw mut PyByteArray_Type {
                let p = PyByteArray_AsString(obj);
                let n = PyByteArray_Size(obj) as usize;
                return Ok(Value::ByteArray(
                    std::slice::from_raw_parts(p.cast::<u8>(), n).to_vec(),
                ));
            }
            if tp == &raw mut PyComplex_Type {
                return Ok(Value::Complex(
                    PyComplex_RealAsDouble(obj),
                    PyComplex_ImagAsDouble(obj),
                ));
            }
            if tp == &raw mut PyTuple_Type {
                return self.nested(|e| e.tuple(obj)).map(Value::Tuple);
            }
            if tp == &raw mut PyList_Type {
                return self.nested(|e| e.list(obj)).map(Value::List);
            }
            if tp == &raw mut PyDict_Type {
                return self.nested(|e| e.dict(obj)).map(Value::Dict);
            }
            if tp == &raw mut PySet_Type {
                return self.nested(|e| e.iterable(obj)).map(Value::Set);
            }
            if tp == &raw mut PyFrozenSet_Type {
                return self.nested(|e| e.iterable(obj)).map(Value::FrozenSet);
            }
            if let Some(shared) = crate::handles::encode_handle(self.py, obj)? {
                return Ok(Value::Shared(shared));
            }
            if self.mode == EncodeMode::NativeOnly {
                return Err(not_shareable(
                    self.py,
                    &format!(
                        "{} objects are not natively shareable",
                        err::type_name(self.py, obj)
                    ),
                )
                .into());
            }
            if tp == &raw mut PyFunction_Type {
                return self.function(obj);
            }
            if PyType_Check(obj) != 0 || PyCFunction_Check(obj) != 0 {
                if let Some(v) = refs::reference_to(self.py, obj)? {
                    return Ok(v);
                }
            }
            self.pickle(obj)
        }
    }

    /// `['key']` for a dict value whose key is a str or an int (their repr runs no user
    /// code), `[<T key>]` otherwise.
    fn key_subscript(&mut self, key: *mut PyObject) -> String {
        // SAFETY: attached; `key` is valid; exact str/int reprs run no user code.
        unsafe {
            let tp = Py_TYPE(key);
            if tp == &raw mut PyUnicode_Type || tp == &raw mut PyLong_Type {
                if let Ok(r) = Owned::from_new(self.py, PyObject_Repr(key)) {
                    if let Ok(text) = str_to_string(self.py, r.as_ptr()) {
                        if text.len() <= 40 {
                            return format!("[{text}]");
                        }
                    }
                }
                PyErr_Clear();
            }
        }
        format!("[<{} key>]", err::type_name(self.py, key))
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> EncResult<T>) -> EncResult<T> {
        if self.depth >= self.limit {
            return Err(Failure::TooDeep);
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// # Safety
    /// `obj` is an exact `int` of the attached interpreter.
    unsafe fn int(&mut self, obj: *mut PyObject) -> PyResult<Value> {
        let mut overflow = 0;
        // SAFETY: attached; exact int.
        let v = unsafe { PyLong_AsLongLongAndOverflow(obj, &mut overflow) };
        if overflow == 0 {
            // SAFETY: attached.
            if v == -1 && unsafe { !PyErr_Occurred().is_null() } {
                return Err(PyErrSet);
            }
            return Ok(Value::Int(v));
        }
        let flags = Py_ASNATIVEBYTES_LITTLE_ENDIAN;
        // SAFETY: attached; a NULL buffer of size 0 asks for the size needed.
        let needed = unsafe { PyLong_AsNativeBytes(obj, std::ptr::null_mut(), 0, flags) };
        if needed < 0 {
            return Err(PyErrSet);
        }
        let mut buf = vec![0u8; needed as usize];
        // SAFETY: `buf` has `needed` writable bytes.
        let n = unsafe { PyLong_AsNativeBytes(obj, buf.as_mut_ptr().cast(), needed, flags) };
        if n < 0 {
            return Err(PyErrSet);
        }
        Ok(Value::BigInt(buf))
    }

    /// # Safety
    /// `obj` is an exact `str` of the attached interpreter.
    unsafe fn str(&mut self, obj: *mut PyObject) -> PyResult<Value> {
        let mut len: Py_ssize_t = 0;
        // SAFETY: attached; exact str.
        let p = unsafe { PyUnicode_AsUTF8AndSize(obj, &mut len) };
        if !p.is_null() {
            // SAFETY: CPython guarantees `len` bytes of valid UTF-8 at `p` while `obj` lives.
            let s = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len as usize) };
            // SAFETY: the bytes are valid UTF-8 (see above).
            return Ok(Value::Str(
                unsafe { std::str::from_utf8_unchecked(s) }.into(),
            ));
        }
        // Lone surrogates: keep them with surrogatepass.
        // SAFETY: attached; clear the UnicodeEncodeError and re-encode.
        unsafe { PyErr_Clear() };
        // SAFETY: attached; NUL-terminated codec and error-handler names.
        let b = unsafe {
            Owned::from_new(
                self.py,
                PyUnicode_AsEncodedString(obj, c"utf-8".as_ptr(), c"surrogatepass".as_ptr()),
            )?
        };
        // SAFETY: `b` is a bytes object.
        let (p, n) = unsafe { (PyBytes_AsString(b.as_ptr()), PyBytes_Size(b.as_ptr())) };
        // SAFETY: `n` bytes at `p`, alive while `b` is.
        Ok(Value::StrSurrogates(
            unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n as usize) }.into(),
        ))
    }

    /// # Safety
    /// `obj` is an exact tuple of the attached interpreter.
    unsafe fn tuple(&mut self, obj: *mut PyObject) -> EncResult<Vec<Value>> {
        // SAFETY: exact tuple.
        let n = unsafe { PyTuple_GET_SIZE(obj) };
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            // SAFETY: i < n; tuples are immutable and `obj` (held by our caller) keeps the
            // item alive; encoding holds it with a strong reference anyway.
            let item = unsafe { Owned::from_borrowed(self.py, PyTuple_GET_ITEM(obj, i)) };
            // SAFETY: a valid object of this interpreter.
            let r = unsafe { self.encode(item.as_ptr()) };
            out.push(self.at(r, |_| format!("[{i}]"))?);
        }
        Ok(out)
    }

    /// # Safety
    /// `obj` is an exact list of the attached interpreter.
    unsafe fn list(&mut self, obj: *mut PyObject) -> EncResult<Vec<Value>> {
        let mut out = Vec::new();
        let mut i = 0;
        // The list may change while pickle runs user code: re-read its size every step and
        // hold each item with a strong reference (PyList_GetItemRef).
        // SAFETY: exact list; size read each iteration.
        while i < unsafe { PyList_GET_SIZE(obj) } {
            // SAFETY: attached; returns a new reference or NULL (IndexError).
            let item = unsafe { Owned::from_new(self.py, PyList_GetItemRef(obj, i))? };
            // SAFETY: valid object of this interpreter.
            let r = unsafe { self.encode(item.as_ptr()) };
            out.push(self.at(r, |_| format!("[{i}]"))?);
            i += 1;
        }
        Ok(out)
    }

    /// # Safety
    /// `obj` is an exact dict of the attached interpreter.
    unsafe fn dict(&mut self, obj: *mut PyObject) -> EncResult<Vec<(Value, Value)>> {
        // Snapshot the items first (PyDict_Items gives strong references in a list), so
        // user code run by pickle cannot invalidate what we iterate.
        // SAFETY: attached; exact dict.
        let items = unsafe { Owned::from_new(self.py, PyDict_Items(obj))? };
        // SAFETY: a fresh list we own.
        let n = unsafe { PyList_GET_SIZE(items.as_ptr()) };
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            // SAFETY: `items` is a list of (key, value) 2-tuples that only we reference.
            let (k, v) = unsafe {
                let pair = PyList_GET_ITEM(items.as_ptr(), i);
                (PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1))
            };
            // SAFETY: valid objects kept alive by `items`.
            let key = unsafe { self.encode(k) };
            let key = self.at(key, |_| " (a dict key)".to_owned())?;
            // SAFETY: as above.
            let value = unsafe { self.encode(v) };
            let value = self.at(value, |e| e.key_subscript(k))?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// # Safety
    /// `obj` is a valid iterable object of the attached interpreter.
    unsafe fn iterable(&mut self, obj: *mut PyObject) -> EncResult<Vec<Value>> {
        // SAFETY: attached.
        let it = unsafe { Owned::from_new(self.py, PyObject_GetIter(obj))? };
        let mut out = Vec::new();
        loop {
            // SAFETY: attached; new reference or NULL (end or error).
            let next = unsafe { PyIter_Next(it.as_ptr()) };
            if next.is_null() {
                // SAFETY: attached.
                if unsafe { !PyErr_Occurred().is_null() } {
                    return Err(Failure::Raised);
                }
                return Ok(out);
            }
            // SAFETY: non-NULL new reference.
            let item = unsafe { Owned::from_new(self.py, next)? };
            // SAFETY: valid object.
            let r = unsafe { self.encode(item.as_ptr()) };
            out.push(self.at(r, |_| " (a set element)".to_owned())?);
        }
    }

    /// A Python function: by reference when it can be found by name in an importable
    /// module; as code (running with its module's globals) when it has no closure and its
    /// module is not `__main__`; otherwise by value (cloudpickle, see `manygil._pickle`).
    /// A `__main__` function is never sent by reference: the receiver's `__main__` is not
    /// the sender's (and the user's script never runs again elsewhere).
    ///
    /// # Safety
    /// `obj` is an exact function of the attached interpreter.
    unsafe fn function(&mut self, obj: *mut PyObject) -> EncResult<Value> {
        if let Some(v) = refs::reference_to(self.py, obj)? {
            return Ok(v);
        }
        // SAFETY: exact function; borrowed closure (NULL or None when there is none).
        let closure = unsafe { PyFunction_GetClosure(obj) };
        // SAFETY: comparing with the None singleton.
        let has_closure = !closure.is_null() && closure != unsafe { Py_None() };
        match refs::module_of(self.py, obj)? {
            Some(module) if !has_closure && module != "__main__" => {
                // SAFETY: forwarded; no closure.
                unsafe { self.code(obj, module) }
            }
            // SAFETY: forwarded.
            _ => unsafe { self.pickle(obj) },
        }
    }

    /// # Safety
    /// `obj` is an exact function with no closure; `module` is its `__module__`.
    unsafe fn code(&mut self, obj: *mut PyObject, module: String) -> EncResult<Value> {
        let py = self.py;
        // SAFETY: attached; `obj` valid; attribute names are NUL-terminated.
        let get = |name: &std::ffi::CStr| unsafe {
            Owned::from_new(py, PyObject_GetAttrString(obj, name.as_ptr()))
        };
        let code = get(c"__code__")?;
        // SAFETY: attached; `code` is a code object; version 4 is readable by 3.13+.
        let marshalled =
            unsafe { Owned::from_new(py, PyMarshal_WriteObjectToString(code.as_ptr(), 4))? };
        // SAFETY: marshal returns bytes.
        let bytes: Box<[u8]> = unsafe {
            std::slice::from_raw_parts(
                PyBytes_AsString(marshalled.as_ptr()).cast::<u8>(),
                PyBytes_Size(marshalled.as_ptr()) as usize,
            )
        }
        .into();
        let mut attrs = Vec::new();
        for name in [
            c"__name__",
            c"__qualname__",
            c"__defaults__",
            c"__kwdefaults__",
        ] {
            let a = get(name)?;
            // SAFETY: valid object.
            attrs.push(self.nested(|e| unsafe { e.encode(a.as_ptr()) })?);
        }
        Ok(Value::Code {
            code: bytes,
            module: module.into(),
            attrs: Box::new(Value::Tuple(attrs)),
        })
    }

    /// By pickle: `manygil._pickle.dumps(obj)` gives the bytes, the handles they refer to
    /// by persistent ID (each becomes a [`Shared`](manygil_core::value::Shared) owned by
    /// the value) and, for functions, the key receivers may cache them under. A failure is
    /// raised by `dumps` as `NotShareableError` naming the path to the culprit.
    ///
    /// # Safety
    /// `obj` is a valid object of the attached interpreter.
    unsafe fn pickle(&mut self, obj: *mut PyObject) -> EncResult<Value> {
        let py = self.py;
        let dumps = import_attr(py, c"manygil._pickle", c"dumps")?;
        // SAFETY: valid object.
        let arg = unsafe { Owned::from_borrowed(py, obj) };
        let out = call(py, &dumps, &[&arg])?;
        // SAFETY: attached; checking the shape `dumps` returns before reading it.
        let ok = unsafe {
            PyTuple_CheckExact(out.as_ptr()) != 0
                && PyTuple_GET_SIZE(out.as_ptr()) == 3
                && PyBytes_CheckExact(PyTuple_GET_ITEM(out.as_ptr(), 0)) != 0
                && PyTuple_CheckExact(PyTuple_GET_ITEM(out.as_ptr(), 1)) != 0
        };
        if !ok {
            return Err(
                err::type_error(py, "manygil._pickle.dumps returned a malformed result").into(),
            );
        }
        // SAFETY: checked above: a 3-tuple (bytes, tuple, int | None) that `out` keeps alive.
        let (data, handles, key) = unsafe {
            let t = out.as_ptr();
            (
                PyTuple_GET_ITEM(t, 0),
                PyTuple_GET_ITEM(t, 1),
                PyTuple_GET_ITEM(t, 2),
            )
        };
        // SAFETY: `data` is a bytes object alive while `out` is.
        let data: Box<[u8]> = unsafe {
            std::slice::from_raw_parts(
                PyBytes_AsString(data).cast::<u8>(),
                PyBytes_Size(data) as usize,
            )
        }
        .into();
        // SAFETY: a tuple alive while `out` is.
        let n = unsafe { PyTuple_GET_SIZE(handles) };
        let mut shared = Vec::with_capacity(n as usize);
        for i in 0..n {
            // SAFETY: i < n; the item is alive while `out` is.
            let h = unsafe { PyTuple_GET_ITEM(handles, i) };
            match crate::handles::encode_handle(py, h)? {
                Some(s) => shared.push(s),
                None => {
                    return Err(
                        err::type_error(py, "manygil._pickle.dumps returned a non-handle").into(),
                    )
                }
            }
        }
        // SAFETY: comparing with the None singleton.
        let key = if key == unsafe { Py_None() } {
            None
        } else {
            // SAFETY: attached; an int (or an error for anything else).
            let k = unsafe { PyLong_AsUnsignedLongLong(key) };
            // SAFETY: attached.
            if k == u64::MAX && unsafe { !PyErr_Occurred().is_null() } {
                return Err(Failure::Raised);
            }
            Some(k)
        };
        Ok(Value::Pickle(Box::new(Pickled {
            data,
            handles: shared,
            key,
        })))
    }
}
