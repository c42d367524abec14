//! [`Value`] → fresh objects of the attached interpreter.

use manygil_core::value::{Pickled, MAX_DEPTH};
use manygil_core::Value;

use crate::ffi::err::{self, PyResult};
use crate::ffi::values::{
    int_from_le_bytes, marshal_loads, new_bytearray, new_bytes, new_complex, new_float,
    new_frozenset, new_function, new_set, str_from_surrogatepass,
};
use crate::ffi::{
    boolean, new_dict, new_int, new_list, new_str, new_tuple, new_uint, none, Attached, Owned,
};

use super::refs;

/// Build an object of the attached interpreter from `value`.
pub(crate) fn decode<'py>(py: Attached<'py>, value: &Value) -> PyResult<Owned<'py>> {
    let mut st = State {
        memo: Memo::Off,
        items: Vec::new(),
    };
    decode_at(py, value, 0, &mut st)
}

/// What decoding carries along.
struct State<'py> {
    /// The numbered objects of the innermost [`Value::Graph`] being decoded.
    memo: Memo<'py>,
    /// A stack of the items of the tuples and lists being built (innermost on top), one
    /// allocation for the whole value.
    items: Vec<Owned<'py>>,
}

/// The objects numbered so far inside a [`Value::Graph`]: those of its [`Value::Memo`]s.
enum Memo<'py> {
    /// Outside any graph: nothing is numbered.
    Off,
    /// Inside a graph: object number `i` is `objs[i]` (`None` while it is being built).
    On(Vec<Option<Owned<'py>>>),
}

impl<'py> Memo<'py> {
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
    fn fill(&mut self, slot: Option<usize>, obj: &Owned<'py>) {
        if let (Memo::On(objs), Some(i)) = (self, slot) {
            objs[i] = Some(obj.clone());
        }
    }

    /// The object numbered `n`, again.
    fn get(&self, py: Attached<'py>, n: usize) -> PyResult<Owned<'py>> {
        match self {
            Memo::On(objs) => match objs.get(n) {
                Some(Some(obj)) => Ok(obj.clone()),
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

fn decode_at<'py>(
    py: Attached<'py>,
    value: &Value,
    depth: usize,
    st: &mut State<'py>,
) -> PyResult<Owned<'py>> {
    // The encoder's limit, plus the levels of wrappers that do not count (call arguments
    // and map chunks: see `encode_wrapper`).
    if depth > MAX_DEPTH + 2 {
        return Err(err::value_error(py, "value nests too deeply to decode"));
    }
    match value {
        Value::Graph(inner) => {
            let outer = std::mem::replace(&mut st.memo, Memo::On(Vec::new()));
            let r = decode_at(py, inner, depth, st);
            st.memo = outer;
            r
        }
        Value::Backref(n) => st.memo.get(py, *n),
        Value::Memo(inner) => {
            let slot = st.memo.reserve();
            let obj = decode_at(py, inner, depth, st)?;
            st.memo.fill(slot, &obj);
            Ok(obj)
        }
        _ => decode_one(py, value, depth, st),
    }
}

/// Build `value` itself (numbering is handled by [`decode_at`]).
fn decode_one<'py>(
    py: Attached<'py>,
    value: &Value,
    depth: usize,
    st: &mut State<'py>,
) -> PyResult<Owned<'py>> {
    let d = depth + 1;
    match value {
        Value::None => Ok(none(py)),
        Value::Bool(b) => Ok(boolean(py, *b)),
        Value::Int(i) => new_int(py, *i),
        Value::BigInt(bytes) => int_from_le_bytes(py, bytes),
        Value::Float(f) => new_float(py, *f),
        Value::Complex(re, im) => new_complex(py, *re, *im),
        Value::Str(s) => new_str(py, s),
        Value::StrSurrogates(b) => str_from_surrogatepass(py, b),
        Value::Bytes(b) => new_bytes(py, b),
        Value::BytesView(b) => new_bytes(py, b.as_slice()),
        Value::ByteArray(b) => new_bytearray(py, b),
        Value::Tuple(items) => {
            let base = decode_items(py, items, d, st)?;
            new_tuple(py, st.items.drain(base..))
        }
        Value::List(items) => {
            let base = decode_items(py, items, d, st)?;
            new_list(py, st.items.drain(base..))
        }
        Value::Dict(items) => {
            let dict = new_dict(py)?;
            for (k, v) in items {
                let k = decode_at(py, k, d, st)?;
                let v = decode_at(py, v, d, st)?;
                dict.borrow().dict_set(k.borrow(), v.borrow())?;
            }
            Ok(dict)
        }
        Value::Set(items) | Value::FrozenSet(items) => {
            let set = new_set(py)?;
            for v in items {
                let o = decode_at(py, v, d, st)?;
                set.borrow().set_add(o.borrow())?;
            }
            if matches!(value, Value::FrozenSet(_)) {
                return new_frozenset(set.borrow());
            }
            Ok(set)
        }
        Value::Ref { module, qualname } => refs::resolve(py, module, qualname),
        Value::Code {
            code,
            module,
            attrs,
        } => decode_code(py, code, module, attrs, d, st),
        Value::Pickle(p) => decode_pickle(py, p),
        Value::Shared(shared) => crate::handles::decode_handle(py, shared),
        // Handled by `decode_at`; kept total without a panic path.
        Value::Graph(_) | Value::Memo(_) | Value::Backref(_) => decode_at(py, value, depth, st),
    }
}

/// Decode `items` onto the top of `st.items`; returns where they start there. On failure
/// the items decoded so far are dropped.
fn decode_items<'py>(
    py: Attached<'py>,
    items: &[Value],
    d: usize,
    st: &mut State<'py>,
) -> PyResult<usize> {
    let base = st.items.len();
    for v in items {
        match decode_at(py, v, d, st) {
            Ok(o) => st.items.push(o),
            Err(e) => {
                st.items.truncate(base);
                return Err(e);
            }
        }
    }
    Ok(base)
}

/// Unpickle `p` with this interpreter's handle objects for its persistent IDs; a keyed
/// pickle (a function sent by value) decoded here before is reused without unpickling.
fn decode_pickle<'py>(py: Attached<'py>, p: &Pickled) -> PyResult<Owned<'py>> {
    let key = match p.key {
        Some(k) => new_uint(py, k)?,
        None => none(py),
    };
    if p.key.is_some() {
        let cached = crate::runtime::py_names::UNPICKLE_CACHED.get(py)?;
        let hit = cached.borrow().call(&[key.borrow()])?;
        if !hit.borrow().is_none() {
            return Ok(hit);
        }
    }
    let handles = p
        .handles
        .iter()
        .map(|shared| crate::handles::decode_handle(py, shared))
        .collect::<PyResult<Vec<_>>>()?;
    let handles = new_tuple(py, handles)?;
    let data = new_bytes(py, &p.data)?;
    let loads = crate::runtime::py_names::UNPICKLE_LOADS.get(py)?;
    loads
        .borrow()
        .call(&[data.borrow(), handles.borrow(), key.borrow()])
}

/// Rebuild a closure-free function of a module other than `__main__`: its globals are its
/// module's namespace when that module can be imported here, else a namespace with builtins.
fn decode_code<'py>(
    py: Attached<'py>,
    code: &[u8],
    module: &str,
    attrs: &Value,
    d: usize,
    st: &mut State<'py>,
) -> PyResult<Owned<'py>> {
    let code = marshal_loads(py, code)?;
    let helper = crate::runtime::py_names::CODE_GLOBALS.get(py)?;
    let module_name = new_str(py, module)?;
    let globals = helper.borrow().call(&[module_name.borrow()])?;
    let func = new_function(code.borrow(), globals.borrow())?;
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
        let obj = decode_at(py, v, d, st)?;
        func.borrow().set_attr(name, obj.borrow())?;
    }
    Ok(func)
}
