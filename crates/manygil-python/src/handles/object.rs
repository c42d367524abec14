//! The one object layout of every handle type, and the one way to build a handle type:
//! [`make_type`] gives the common slots (dealloc, compare, hash, repr) plus a type's own.

use std::ffi::{c_int, c_void, CStr};

use crate::ffi::entry::{guard, guard_c};
use crate::ffi::err::PyResult;
use crate::ffi::raw::{
    newfunc, PyGetSetDef, PyMethodDef, PyObject, PyTypeObject, PyType_Slot, Py_EQ, Py_NE,
    Py_hash_t, Py_tp_doc, Py_tp_getset, Py_tp_hash, Py_tp_methods, Py_tp_new, Py_tp_repr,
    Py_tp_richcompare,
};
use crate::ffi::types::{self, slot, TypeSpec};
use crate::ffi::{boolean, hash_address, new_str, not_implemented, Attached, Borrowed, Owned};

use super::{this, Handle};

/// What makes one handle type besides the common slots.
pub(crate) struct TypeDef<'a> {
    /// `manygil.Name`.
    pub(crate) name: &'static CStr,
    /// The class docstring (with a `__text_signature__` line).
    pub(crate) doc: &'static CStr,
    /// `tp_new`.
    pub(crate) new: newfunc,
    /// A static, zero-terminated method table.
    pub(crate) methods: *mut PyMethodDef,
    /// A static, zero-terminated property table, if any.
    pub(crate) getset: Option<*mut PyGetSetDef>,
    /// Type-specific slots (iteration, buffer protocol, ...).
    pub(crate) extra: &'a [PyType_Slot],
}

/// Build a handle type (instances hold a [`Handle`]): the common slots (dealloc, compare,
/// hash, repr) plus those of `def`, whose tables are static.
pub(crate) fn make_type<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
    def: TypeDef<'_>,
) -> PyResult<Owned<'py>> {
    let TypeDef {
        name,
        doc,
        new,
        methods,
        getset,
        extra,
    } = def;
    let mut slots = vec![
        slot(Py_tp_richcompare, handle_richcompare as *mut c_void),
        slot(Py_tp_hash, handle_hash as *mut c_void),
        slot(Py_tp_repr, handle_repr as *mut c_void),
        slot(Py_tp_doc, doc.as_ptr() as *mut c_void),
        slot(Py_tp_new, new as *mut c_void),
        slot(Py_tp_methods, methods.cast()),
    ];
    if let Some(g) = getset {
        slots.push(slot(Py_tp_getset, g.cast()));
    }
    slots.extend(extra.iter().map(|s| slot(s.slot, s.pfunc)));
    let spec = TypeSpec {
        name,
        dealloc: handle_dealloc,
        instantiable: true,
        slots: &slots,
    };
    // SAFETY: `module` is ours (every caller is a type's `create_type`, called at module
    // exec); the slots point to static tables and to functions of this file or of the
    // handle type; `handle_dealloc` frees `BoxObject<Handle>` instances.
    unsafe { types::make_type::<Handle>(py, module, spec) }
}

/// A new instance of handle type `tp` around `handle`.
///
/// # Safety
///
/// `tp` is one of this interpreter's handle types (or a `tp_new` subtype argument, which
/// is the same since the types are final).
pub(crate) unsafe fn new_object<'py>(
    py: Attached<'py>,
    tp: *mut PyTypeObject,
    handle: Handle,
) -> PyResult<Owned<'py>> {
    // SAFETY: a type made by `make_type`, i.e. by `types::make_type::<Handle>`.
    unsafe { types::new_instance(py, tp, handle) }
}

/// The handle inside `obj`, if `obj` is a handle object; borrowed for as long as `obj` is.
pub(crate) fn handle_of<'a>(obj: Borrowed<'a, '_>) -> Option<&'a Handle> {
    // Handle types, and only they, free their instances with `handle_dealloc`.
    if !types::has_dealloc(obj, handle_dealloc) {
        return None;
    }
    // SAFETY: an instance of a handle type (checked above), made by `new_object`.
    Some(unsafe { types::value_of::<Handle>(obj) })
}

unsafe extern "C" fn handle_dealloc(slf: *mut PyObject) {
    // SAFETY: CPython's tp_dealloc of the handle types, made by `make_type`.
    unsafe { types::dealloc::<Handle>(slf) }
}

unsafe extern "C" fn handle_richcompare(
    slf: *mut PyObject,
    other: *mut PyObject,
    op: c_int,
) -> *mut PyObject {
    guard(|py| {
        // SAFETY: both are the objects CPython is comparing, alive for the call.
        let (slf, other) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, other)) };
        let (a, b) = (handle_of(slf), handle_of(other));
        let (Some(a), Some(b)) = (a, b) else {
            return Ok(not_implemented(py));
        };
        let same = a.kind() == b.kind() && a.identity() == b.identity();
        if op == Py_EQ {
            Ok(boolean(py, same))
        } else if op == Py_NE {
            Ok(boolean(py, !same))
        } else {
            Ok(not_implemented(py))
        }
    })
}

unsafe extern "C" fn handle_hash(slf: *mut PyObject) -> Py_hash_t {
    guard_c(-1, |py| {
        // SAFETY: the object CPython is hashing, alive for the call.
        let h = this(py, unsafe { Borrowed::from_ptr(py, slf) })?;
        Ok(hash_address(h.identity().0))
    })
}

unsafe extern "C" fn handle_repr(slf: *mut PyObject) -> *mut PyObject {
    guard(|py| {
        // SAFETY: the object CPython is getting the repr of, alive for the call.
        let slf = unsafe { Borrowed::from_ptr(py, slf) };
        let h = this(py, slf)?;
        // SAFETY: tp_name is a NUL-terminated string owned by the type.
        let name = unsafe { CStr::from_ptr((*slf.type_ptr()).tp_name) }.to_string_lossy();
        new_str(py, &h.describe(&name))
    })
}

/// Define a handle type (the one way to make one; each handle file has one invocation):
///
/// ```text
/// handle_type! {
///     name: c"manygil.Event",
///     state: Handle::Event(Arc<Event>),   // the `Handle` variant and what it holds
///     new: event_new,                     // fn(py, &Call) -> PyResult<Arc<Event>>, or
///                                         // `default`: no arguments, `State::default()`
///     of: event_of,                       // optional: a name for `state_of`
///     doc: c"Event()\n--\n\n...",         // the class docstring, with its signature line
///     methods: [ noargs c"set" => c_set(set), c"set($self, /)\n--\n\n..."; ],
///     getters: [ get c"_n_waiting" => g_n_waiting(n_waiting), c"..."; ],   // optional
///     slots: [ Py_tp_iter => event_iter ],                                  // optional
/// }
/// ```
///
/// It makes `type State` (what the variant holds), the method and property tables (rows
/// as in `methods!`/`getters!`), the type's `tp_new` (calling `new`, which returns the
/// state: the entry wraps it in the variant and makes the object), `pub(crate) fn
/// create_type(py, module)` (through [`make_type`], so the type gets the common slots),
/// `fn state_of(py, obj) -> PyResult<&State>` (`TypeError` naming the type for anything
/// but an instance), and `impl FromSelf for &T` over it (a method body may take the state,
/// `&Event` for `Arc<Event>`, as its self).
macro_rules! handle_type {
    (
        name: $name:literal,
        state: Handle::$variant:ident($($state:tt)+),
        new: $new:ident,
        $(of: $of:ident,)?
        doc: $doc:expr,
        methods: [ $($methods:tt)* ],
        $(getters: [ $($getters:tt)* ],)?
        $(slots: [ $($slot:ident => $func:ident),* $(,)? ],)?
    ) => {
        /// What this file's handle type holds (in `Handle::$variant`).
        type State = $($state)+;

        $crate::ffi::entry::methods! {
            /// The methods of the type (static C data; CPython only reads it).
            static TYPE_METHODS = [ $($methods)* ];
        }
        $(
            $crate::ffi::entry::getters! {
                /// The properties of the type (static C data; CPython only reads it).
                static TYPE_GETSET = [ $($getters)* ];
            }
        )?

        /// Create the type for `module`'s interpreter.
        pub(crate) fn create_type<'py>(
            py: $crate::ffi::Attached<'py>,
            module: $crate::ffi::Borrowed<'_, 'py>,
        ) -> $crate::ffi::err::PyResult<$crate::ffi::Owned<'py>> {
            $crate::handles::make_type(
                py,
                module,
                $crate::handles::TypeDef {
                    name: $name,
                    doc: $doc,
                    new: type_new,
                    methods: (&raw mut TYPE_METHODS).cast(),
                    getset: $crate::handles::handle_type!(@getset $($($getters)*)?),
                    extra: &[$($(
                        $crate::ffi::types::slot($slot, $func as *mut std::ffi::c_void),
                    )*)?],
                },
            )
        }

        $crate::ffi::entry::kw_new!(type_new => handle_new);

        fn handle_new<'py>(
            py: $crate::ffi::Attached<'py>,
            subtype: *mut $crate::ffi::raw::PyTypeObject,
            call: &$crate::ffi::args::Call<'_, 'py>,
        ) -> $crate::ffi::err::PyResult<$crate::ffi::Owned<'py>> {
            let state: State = $crate::handles::handle_type!(@new $new, $name, py, call);
            let handle = $crate::handles::Handle::$variant(state);
            // SAFETY: `subtype` is the type made by `create_type` (CPython calls the tp_new
            // of the type being called, and handle types are final).
            unsafe { $crate::handles::new_object(py, subtype, handle) }
        }

        /// The state of `obj`, which must be an instance of this type (else `TypeError`).
        fn state_of<'a>(
            py: $crate::ffi::Attached<'_>,
            obj: $crate::ffi::Borrowed<'a, '_>,
        ) -> $crate::ffi::err::PyResult<&'a State> {
            match $crate::handles::handle_of(obj) {
                Some($crate::handles::Handle::$variant(state)) => Ok(state),
                _ => Err($crate::ffi::entry::wrong_type(py, $name, obj)),
            }
        }
        $(use self::state_of as $of;)?

        impl<'a, 'py> $crate::ffi::entry::FromSelf<'a, 'py>
            for &'a $crate::handles::handle_type!(@target $($state)+)
        {
            fn from_self(
                py: $crate::ffi::Attached<'py>,
                slf: $crate::ffi::Borrowed<'a, 'py>,
            ) -> $crate::ffi::err::PyResult<Self> {
                let state: Self = state_of(py, slf)?; // `&Arc<T>` derefs to `&T`
                Ok(state)
            }
        }
    };
    (@new default, $name:literal, $py:ident, $call:ident) => {{
        $call.no_args($py, $name)?;
        State::default()
    }};
    (@new $new:ident, $name:literal, $py:ident, $call:ident) => {
        $new($py, $call)?
    };
    (@getset) => {
        None
    };
    (@getset $($getters:tt)+) => {
        Some((&raw mut TYPE_GETSET).cast())
    };
    // `Arc<T>` is self as `&T`; any other state as itself.
    (@target Arc<$t:ty>) => {
        $t
    };
    (@target $t:ty) => {
        $t
    };
}
pub(crate) use handle_type;
