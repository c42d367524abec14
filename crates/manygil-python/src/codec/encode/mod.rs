//! Objects → [`Value`].
//!
//! - this file: the entry points and the dispatch on the object's type;
//! - `scalars`: numbers, text and bytes; `containers`: tuple, list, dict and sets;
//! - `function`: Python functions by reference or as code; `pickle`: everything else;
//! - `memo`: each container met once, identity kept; `too_deep`: the nesting-limit report.

mod containers;
mod function;
mod memo;
mod pickle;
mod scalars;
mod too_deep;

use manygil_core::value::MAX_DEPTH;
use manygil_core::Value;

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::values::ExactType;
use crate::ffi::{Attached, Borrowed};

use super::refs;
use memo::Memo;
use too_deep::TooDeep;

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
pub(crate) fn encode(obj: Borrowed<'_, '_>, mode: EncodeMode) -> PyResult<Value> {
    encode_wrapper(obj, mode, 0)
}

/// [`encode`] for a container of values (a call's argument tuple or keyword dict: `wraps`
/// = 1; a map chunk's list of argument tuples: 2) whose own `wraps` levels do not count
/// towards the nesting limit: each value inside may nest [`MAX_DEPTH`] levels.
pub(crate) fn encode_wrapper(
    obj: Borrowed<'_, '_>,
    mode: EncodeMode,
    wraps: usize,
) -> PyResult<Value> {
    let py = obj.py();
    crate::runtime::main_ref::release_deferred(py);
    let mut enc = Encoder {
        py,
        mode,
        limit: MAX_DEPTH + wraps,
        depth: 0,
        memo: Memo::default(),
        too_deep: TooDeep::default(),
    };
    match enc.encode(obj) {
        Err(Failure::Raised) => Err(PyErrSet),
        Err(Failure::TooDeep) if enc.too_deep.is_cycle() && mode == EncodeMode::Full => {
            // A reference cycle: pickle keeps those, so send the whole object pickled (its
            // own error, if any, is the cause of ours).
            enc.pickle(obj).map_err(|_| PyErrSet)
        }
        Err(Failure::TooDeep) => Err(enc.too_deep.raise(obj, wraps)),
        // Some object occurred twice: number the objects (see `Value::Graph`).
        Ok(v) if enc.memo.backrefs => Ok(Value::Graph(Box::new(v))),
        Ok(v) => Ok(v),
    }
}

/// Raise `manygil.NotShareableError(msg)`.
pub(crate) fn not_shareable(py: Attached<'_>, msg: &str) -> PyErrSet {
    crate::handles::errors::raise(py, crate::handles::errors::Exc::NotShareable, msg)
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

type EncResult<T> = Result<T, Failure>;

struct Encoder<'py> {
    py: Attached<'py>,
    mode: EncodeMode,
    /// Container levels allowed: [`MAX_DEPTH`] plus the wrapper's own levels.
    limit: usize,
    depth: usize,
    /// Containers and bytes met so far, so each is encoded once (see `Value::Graph`).
    memo: Memo<'py>,
    /// Where nesting went too deep, once it did.
    too_deep: TooDeep,
}

impl<'py> Encoder<'py> {
    /// Encode any object (through the memo), recording the path if it goes too deep.
    fn encode(&mut self, obj: Borrowed<'_, 'py>) -> EncResult<Value> {
        let r = self.encode_memo(obj);
        if let Err(Failure::TooDeep) = r {
            self.too_deep.record(obj);
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

    /// One more level of nesting for `f`, or `TooDeep` past the limit.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> EncResult<T>) -> EncResult<T> {
        if self.depth >= self.limit {
            return Err(Failure::TooDeep);
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// Encode `obj`, of exact type `t`, itself (the memo is handled by [`Self::encode`]).
    fn encode_one(&mut self, obj: Borrowed<'_, 'py>, t: ExactType) -> EncResult<Value> {
        match t {
            ExactType::None => Ok(Value::None),
            ExactType::Bool => Ok(Value::Bool(obj.is_true_singleton())),
            ExactType::Int => Ok(scalars::int(obj)?),
            ExactType::Float => Ok(Value::Float(obj.float_to_f64()?)),
            ExactType::Str => Ok(scalars::str(obj)?),
            ExactType::Bytes => Ok(scalars::bytes(obj)?),
            ExactType::ByteArray => Ok(Value::ByteArray(obj.bytearray_to_vec()?)),
            ExactType::Complex => {
                let (re, im) = obj.complex_parts()?;
                Ok(Value::Complex(re, im))
            }
            ExactType::Tuple => self.nested(|e| e.tuple(obj)).map(Value::Tuple),
            ExactType::List => self.nested(|e| e.list(obj)).map(Value::List),
            ExactType::Dict => self.nested(|e| e.dict(obj)).map(Value::Dict),
            ExactType::Set => self.nested(|e| e.iterable(obj)).map(Value::Set),
            ExactType::FrozenSet => self.nested(|e| e.iterable(obj)).map(Value::FrozenSet),
            ExactType::Function | ExactType::Other => self.encode_object(obj, t),
        }
    }

    /// Anything that is not a builtin value: a handle, or (in [`EncodeMode::Full`]) a
    /// reference, code or a pickle.
    fn encode_object(&mut self, obj: Borrowed<'_, 'py>, t: ExactType) -> EncResult<Value> {
        if let Some(shared) = crate::handles::encode_handle(self.py, obj)? {
            return Ok(Value::Shared(shared));
        }
        if self.mode == EncodeMode::NativeOnly {
            let msg = format!(
                "{} objects are not natively shareable",
                err::type_name(self.py, obj)
            );
            return Err(not_shareable(self.py, &msg).into());
        }
        if t == ExactType::Function {
            return self.function(obj);
        }
        if obj.is_type() || obj.is_builtin_function() {
            if let Some(v) = refs::reference_to(obj)? {
                return Ok(v);
            }
        }
        self.pickle(obj)
    }
}
