//! [`Value`]: the owned tree that carries Python data from one interpreter to another.
//!
//! The encoding interpreter builds a `Value` from its objects while attached; the value
//! holds only Rust-owned memory, so it can be moved to any thread; the decoding interpreter
//! builds fresh objects of its own from it. No Python object is ever shared.
//!
//! - [`Value`]: the variants, one per natively supported Python type plus references,
//!   code, pickles and shared handles.
//! - [`MAX_DEPTH`]: how deeply containers may nest before encoding refuses.

mod external;
mod shared;

pub use external::{ExternalBytes, ExternalSource};
pub use shared::{Shared, SharedKind};

/// How many container levels a [`Value`] may nest. Encoders refuse deeper input with a
/// clear error instead of overflowing the stack; decoders and `Drop` therefore never
/// recurse deeper than this either.
pub const MAX_DEPTH: usize = 512;

/// One Python value, owned by Rust and independent of any interpreter.
///
/// Containers keep their element order; `Dict` keeps insertion order. Identity of
/// containers and bytes is preserved inside a [`Value::Graph`]: an object reachable twice is
/// encoded once, its later occurrences being [`Value::Backref`]s (so shared sub-objects cost
/// their size once, and `r[0] is r[1]` survives the trip).
///
/// # Examples
///
/// ```
/// use manygil_core::Value;
///
/// let v = Value::Tuple(vec![Value::Int(1), Value::Str("two".into()), Value::None]);
/// assert_eq!(v.type_name(), "tuple");
/// assert_eq!(v.depth(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// An `int` that does not fit in 64 bits: two's-complement, little-endian bytes.
    BigInt(Vec<u8>),
    /// A `float`.
    Float(f64),
    /// A `complex` as (real, imag).
    Complex(f64, f64),
    /// A `str` that is valid UTF-8.
    Str(Box<str>),
    /// A `str` holding lone surrogates, as UTF-8 with `surrogatepass`.
    StrSurrogates(Box<[u8]>),
    /// `bytes`.
    Bytes(Box<[u8]>),
    /// `bytes` whose memory is still owned by the sending side (large payloads: the
    /// receiver makes the one and only copy).
    BytesView(ExternalBytes),
    /// `bytearray`.
    ByteArray(Vec<u8>),
    /// `tuple`.
    Tuple(Vec<Value>),
    /// `list`.
    List(Vec<Value>),
    /// `dict`, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// `set`.
    Set(Vec<Value>),
    /// `frozenset`.
    FrozenSet(Vec<Value>),
    /// A module-level function, class or other object found by `getattr` on an importable
    /// module: the receiver imports `module` and walks `qualname`.
    Ref {
        /// The module's name (`__main__` means the caller's main script).
        module: Box<str>,
        /// Dotted attribute path inside the module.
        qualname: Box<str>,
    },
    /// A function with no closure, shipped as marshalled code.
    Code {
        /// `marshal.dumps(func.__code__)`.
        code: Box<[u8]>,
        /// The function's `__module__`, whose namespace becomes its globals if importable.
        module: Box<str>,
        /// `__name__`, `__qualname__`, `__defaults__`, `__kwdefaults__` as a tuple.
        attrs: Box<Value>,
    },
    /// Anything else that pickle (protocol 5) accepts, with the handles it holds.
    Pickle(Box<Pickled>),
    /// A handle to Rust-owned shared state (queue, buffer, lock...): every interpreter
    /// that decodes it gets a handle to the *same* state.
    Shared(Shared),
    /// A value in which some container or bytes object occurs more than once. Inside it,
    /// the [`Value::Memo`]s are numbered in pre-order (0, 1, ...) and a [`Value::Backref`]
    /// stands for a numbered object again. A `Graph` nested in another starts its own
    /// numbering.
    Graph(Box<Value>),
    /// An object that may occur again (the encoder saw other references to it): inside a
    /// [`Value::Graph`] it gets the next number; elsewhere it is just its content.
    Memo(Box<Value>),
    /// The object numbered `n` in the enclosing [`Value::Graph`], which appeared earlier
    /// in pre-order and is complete (containers never refer back to themselves).
    Backref(usize),
}

/// A pickle (protocol 5) and the shared handles it refers to by persistent ID.
///
/// Persistent ID `i` in `data` means `handles[i]`: the value owns each handle's state, so a
/// handle inside a pickled object lives exactly as long as the message that carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pickled {
    /// The pickle bytes.
    pub data: Box<[u8]>,
    /// The handles `data` refers to, in persistent-ID order.
    pub handles: Vec<Shared>,
    /// For functions sent by value: a digest of `data` and of the handles' identities. A
    /// receiver may reuse the object it decoded earlier for the same key instead of
    /// unpickling again.
    pub key: Option<u64>,
}

impl Pickled {
    /// A pickle without handles or key.
    pub fn plain(data: Box<[u8]>) -> Self {
        Pickled {
            data,
            handles: Vec::new(),
            key: None,
        }
    }
}

impl Value {
    /// The Python type name this value decodes to (`"pickle"`, `"ref"`, `"code"` and the
    /// shared kinds' names for the non-native variants).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Complex(..) => "complex",
            Value::Str(_) | Value::StrSurrogates(_) => "str",
            Value::Bytes(_) | Value::BytesView(_) => "bytes",
            Value::ByteArray(_) => "bytearray",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::Ref { .. } => "ref",
            Value::Code { .. } => "code",
            Value::Pickle(_) => "pickle",
            Value::Shared(s) => s.kind().name(),
            Value::Graph(v) | Value::Memo(v) => v.type_name(),
            Value::Backref(_) => "backref",
        }
    }

    /// How many container levels deep this value is (a scalar is 1).
    pub fn depth(&self) -> usize {
        let children: Box<dyn Iterator<Item = &Value>> = match self {
            Value::Tuple(v) | Value::List(v) | Value::Set(v) | Value::FrozenSet(v) => {
                Box::new(v.iter())
            }
            Value::Dict(items) => Box::new(items.iter().flat_map(|(k, v)| [k, v])),
            Value::Code { attrs, .. } => Box::new(std::iter::once(&**attrs)),
            Value::Graph(v) | Value::Memo(v) => return v.depth(),
            _ => return 1,
        };
        1 + children.map(Value::depth).max().unwrap_or(0)
    }

    /// Whether every part of this value is native (no `Ref`, `Code` or `Pickle`): the
    /// meaning of `is_shareable()` in the Python API.
    pub fn is_native(&self) -> bool {
        match self {
            Value::Ref { .. } | Value::Code { .. } | Value::Pickle(_) => false,
            Value::Tuple(v) | Value::List(v) | Value::Set(v) | Value::FrozenSet(v) => {
                v.iter().all(Value::is_native)
            }
            Value::Dict(items) => items.iter().all(|(k, v)| k.is_native() && v.is_native()),
            Value::Graph(v) | Value::Memo(v) => v.is_native(),
            _ => true,
        }
    }

    /// Approximate heap bytes held by this value (for statistics and batching decisions).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::BigInt(b) | Value::ByteArray(b) => b.len(),
            Value::Str(s) => s.len(),
            Value::StrSurrogates(b) | Value::Bytes(b) => b.len(),
            Value::Pickle(p) => p.data.len(),
            Value::BytesView(b) => b.as_slice().len(),
            Value::Tuple(v) | Value::List(v) | Value::Set(v) | Value::FrozenSet(v) => v
                .iter()
                .map(|x| x.heap_size() + std::mem::size_of::<Value>())
                .sum(),
            Value::Dict(items) => items
                .iter()
                .map(|(k, v)| k.heap_size() + v.heap_size() + 2 * std::mem::size_of::<Value>())
                .sum(),
            Value::Ref { module, qualname } => module.len() + qualname.len(),
            Value::Code {
                code,
                module,
                attrs,
            } => code.len() + module.len() + attrs.heap_size(),
            Value::Graph(v) | Value::Memo(v) => v.heap_size(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests;
