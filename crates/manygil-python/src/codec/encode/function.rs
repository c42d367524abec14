//! Python functions: by reference, or as marshalled code running with its module's globals.

use manygil_core::Value;

use crate::ffi::Borrowed;

use super::super::refs;
use super::{EncResult, Encoder};

/// Marshal format written for code objects (readable by every supported Python).
const MARSHAL_VERSION: i32 = 4;

impl<'py> Encoder<'py> {
    /// A Python function: by reference when it can be found by name in an importable
    /// module; as code (running with its module's globals) when it has no closure and its
    /// module is not `__main__`; otherwise by value (cloudpickle, see `manygil._pickle`).
    /// A `__main__` function is never sent by reference: the receiver's `__main__` is not
    /// the sender's (and the user's script never runs again elsewhere).
    pub(super) fn function(&mut self, obj: Borrowed<'_, 'py>) -> EncResult<Value> {
        if let Some(v) = refs::reference_to(obj)? {
            return Ok(v);
        }
        let has_closure = obj.function_closure().is_some();
        match refs::module_of(obj)? {
            Some(module) if !has_closure && module != "__main__" => self.code(obj, module),
            _ => self.pickle(obj),
        }
    }

    /// A function with no closure whose `__module__` is `module`.
    fn code(&mut self, obj: Borrowed<'_, 'py>, module: String) -> EncResult<Value> {
        let code = obj.get_attr(c"__code__")?;
        let marshalled = code.borrow().marshal_dumps(MARSHAL_VERSION)?;
        let bytes = crate::ffi::err::try_copy(self.py, marshalled.borrow().bytes_data()?)?
            .into_boxed_slice();
        let mut attrs = Vec::new();
        for name in [
            c"__name__",
            c"__qualname__",
            c"__defaults__",
            c"__kwdefaults__",
        ] {
            let a = obj.get_attr(name)?;
            attrs.push(self.nested(|e| e.encode(a.borrow()))?);
        }
        Ok(Value::Code {
            code: bytes,
            module: module.into(),
            attrs: Box::new(Value::Tuple(attrs)),
        })
    }
}
