//! Shared handles (queues, buffers, sync primitives) as [`Value::Shared`]: encoding a
//! handle object gives its Rust state; decoding gives this interpreter's handle type
//! around the same state.
//!
//! Every handle type is a per-interpreter heap type (`PyType_FromModuleAndSpec`, kept in
//! [`HandleTypes`] in the module state) whose instances are a [`HandleObject`]: the object
//! header and a boxed [`Handle`], which holds only `Arc`s of Rust state, never a Python
//! object. So the same state can be wrapped by one object in each interpreter at once,
//! and lives until the last wrapper (and the last value in transit) is gone.
//!
//! Recognising a handle (on the encoder's path for every non-native object) costs one
//! load and compare: all handle types, and only they, use [`handle_dealloc`] as
//! `tp_dealloc`; the types are final (no `Py_TPFLAGS_BASETYPE`), so no subclass can
//! inherit a different layout. No module lookup is needed to encode. Decoding finds this
//! interpreter's types through `sys.modules["manygil._native"]` (a dict lookup; the module
//! is imported if it was not yet).

use std::any::Any;
use std::ffi::{c_int, c_void, CStr};
use std::sync::Arc;

use manygil_core::buffer::{SharedBuffer, SharedMemory};
use manygil_core::queue::Queue;
use manygil_core::sync::{AtomicInt, BoundedSemaphore, Event, Lock, RLock, Semaphore};
use manygil_core::value::{Shared, SharedKind};
use manygil_core::Value;

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

use super::guard;
use super::params::guard_c;
use super::sync_barrier::BarrierState;
use super::sync_cond::CondState;

/// The Rust state behind one handle object. Only `Arc`s of `Send + Sync` Rust data.
pub(crate) enum Handle {
    Queue(Arc<Queue<Value>>),
    Buffer(SharedBuffer),
    Lock(Arc<Lock>),
    RLock(Arc<RLock>),
    Semaphore(Arc<Semaphore>),
    BoundedSemaphore(Arc<BoundedSemaphore>),
    Event(Arc<Event>),
    Condition(Arc<CondState>),
    Barrier(Arc<BarrierState>),
    AtomicInt(Arc<AtomicInt>),
}

/// Which handle type; indexes [`HandleTypes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Queue,
    Buffer,
    Lock,
    RLock,
    Semaphore,
    BoundedSemaphore,
    Event,
    Condition,
    Barrier,
    AtomicInt,
}

/// Number of [`Kind`]s.
const KINDS: usize = 10;

/// Each kind with the function that makes its type for a module.
type MakeType = fn(Attached<'_>, *mut PyObject) -> PyResult<Owned>;
const MAKERS: [(Kind, MakeType); KINDS] = [
    (Kind::Queue, super::queue::create_type),
    (Kind::Buffer, super::buffer::create_type),
    (Kind::Lock, super::sync::create_lock_type),
    (Kind::RLock, super::sync::create_rlock_type),
    (Kind::Semaphore, super::sync::create_semaphore_type),
    (
        Kind::BoundedSemaphore,
        super::sync::create_bounded_semaphore_type,
    ),
    (Kind::Event, super::sync_cond::create_event_type),
    (Kind::Condition, super::sync_cond::create_condition_type),
    (Kind::Barrier, super::sync_barrier::create_barrier_type),
    (Kind::AtomicInt, super::sync_barrier::create_atomic_int_type),
];

impl Handle {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Handle::Queue(_) => Kind::Queue,
            Handle::Buffer(_) => Kind::Buffer,
            Handle::Lock(_) => Kind::Lock,
            Handle::RLock(_) => Kind::RLock,
            Handle::Semaphore(_) => Kind::Semaphore,
            Handle::BoundedSemaphore(_) => Kind::BoundedSemaphore,
            Handle::Event(_) => Kind::Event,
            Handle::Condition(_) => Kind::Condition,
            Handle::Barrier(_) => Kind::Barrier,
            Handle::AtomicInt(_) => Kind::AtomicInt,
        }
    }

    /// The shared state (what identifies the handle across interpreters).
    fn state(&self) -> Arc<dyn Any + Send + Sync> {
        match self {
            Handle::Queue(a) => a.clone(),
            Handle::Buffer(b) => b.memory().clone(),
            Handle::Lock(a) => a.clone(),
            Handle::RLock(a) => a.clone(),
            Handle::Semaphore(a) => a.clone(),
            Handle::BoundedSemaphore(a) => a.clone(),
            Handle::Event(a) => a.clone(),
            Handle::Condition(a) => a.clone(),
            Handle::Barrier(a) => a.clone(),
            Handle::AtomicInt(a) => a.clone(),
        }
    }

    /// The state's address, and for buffers whether the handle is read-only: two handles
    /// are the same object (`==`) exactly when these are equal.
    fn identity(&self) -> (usize, bool) {
        fn addr<T>(a: &Arc<T>) -> usize {
            Arc::as_ptr(a) as usize
        }
        match self {
            Handle::Queue(a) => (addr(a), false),
            Handle::Buffer(b) => (addr(b.memory()), b.is_readonly()),
            Handle::Lock(a) => (addr(a), false),
            Handle::RLock(a) => (addr(a), false),
            Handle::Semaphore(a) => (addr(a), false),
            Handle::BoundedSemaphore(a) => (addr(a), false),
            Handle::Event(a) => (addr(a), false),
            Handle::Condition(a) => (addr(a), false),
            Handle::Barrier(a) => (addr(a), false),
            Handle::AtomicInt(a) => (addr(a), false),
        }
    }

    fn to_shared(&self) -> Shared {
        let kind = match self {
            Handle::Queue(_) => SharedKind::Queue,
            Handle::Buffer(b) if b.is_readonly() => SharedKind::ReadOnlyBuffer,
            Handle::Buffer(_) => SharedKind::Buffer,
            _ => SharedKind::Sync,
        };
        Shared::new(kind, self.state())
    }

    fn from_shared(shared: &Shared) -> Option<Handle> {
        Some(match shared.kind() {
            SharedKind::Queue => Handle::Queue(shared.downcast()?),
            SharedKind::Buffer => {
                Handle::Buffer(SharedBuffer::new(shared.downcast::<SharedMemory>()?))
            }
            SharedKind::ReadOnlyBuffer => {
                Handle::Buffer(SharedBuffer::new(shared.downcast::<SharedMemory>()?).to_readonly())
            }
            SharedKind::Sync => {
                if let Some(a) = shared.downcast() {
                    Handle::Lock(a)
                } else if let Some(a) = shared.downcast() {
                    Handle::RLock(a)
                } else if let Some(a) = shared.downcast() {
                    Handle::Semaphore(a)
                } else if let Some(a) = shared.downcast() {
                    Handle::BoundedSemaphore(a)
                } else if let Some(a) = shared.downcast() {
                    Handle::Event(a)
                } else if let Some(a) = shared.downcast() {
                    Handle::Condition(a)
                } else if let Some(a) = shared.downcast() {
                    Handle::Barrier(a)
                } else {
                    Handle::AtomicInt(shared.downcast()?)
                }
            }
        })
    }

    /// The `repr()` text.
    fn describe(&self, type_name: &str) -> String {
        let (addr, _) = self.identity();
        let detail = match self {
            Handle::Queue(q) => format!(
                "maxsize={} qsize={}{}",
                q.maxsize(),
                q.len(),
                if q.is_closed() { " closed" } else { "" }
            ),
            Handle::Buffer(b) => format!(
                "size={}{}",
                b.len(),
                if b.is_readonly() { " readonly" } else { "" }
            ),
            Handle::Lock(l) => (if l.locked() { "locked" } else { "unlocked" }).to_owned(),
            Handle::RLock(l) => (if l.locked() { "locked" } else { "unlocked" }).to_owned(),
            Handle::Semaphore(s) => format!("value={}", s.value()),
            Handle::BoundedSemaphore(s) => {
                format!("value={}/{}", s.value(), s.initial_value())
            }
            Handle::Event(e) => (if e.is_set() { "set" } else { "unset" }).to_owned(),
            Handle::Condition(_) => String::new(),
            Handle::Barrier(b) => format!(
                "parties={} waiting={}{}",
                b.barrier.parties(),
                b.barrier.n_waiting(),
                if b.barrier.broken() { " broken" } else { "" }
            ),
            Handle::AtomicInt(a) => format!("value={}", a.get()),
        };
        let sep = if detail.is_empty() { "" } else { " " };
        format!("<{type_name}{sep}{detail} shared at {addr:#x}>")
    }
}

/// Instance layout of every handle type.
#[repr(C)]
pub(crate) struct HandleObject {
    /// The object header.
    ob_base: PyObject,
    /// Owned `Box<Handle>`; NULL only between allocation and initialisation, and after
    /// dealloc.
    inner: *mut Handle,
}

/// The handle types of one interpreter: strong references owned by the module state
/// (NULL before exec and after clear). Zero-initialised memory is a valid empty value.
#[repr(C)]
pub(crate) struct HandleTypes {
    types: [*mut PyObject; KINDS],
}

impl HandleTypes {
    /// Create every handle type for `module` and add them to it.
    pub(crate) fn init(&mut self, py: Attached<'_>, module: *mut PyObject) -> PyResult<()> {
        for (kind, make) in MAKERS {
            let tp = make(py, module)?;
            // SAFETY: attached; a type object we own; PyModule_AddType does not steal it.
            if unsafe { PyModule_AddType(module, tp.as_ptr().cast()) } < 0 {
                return Err(PyErrSet);
            }
            let old = std::mem::replace(&mut self.types[kind as usize], tp.into_raw());
            if !old.is_null() {
                // SAFETY: a reference this state owned (exec runs once; defensive).
                unsafe { Py_DECREF(old) };
            }
        }
        Ok(())
    }

    /// The type of `kind` (NULL before exec / after clear).
    pub(crate) fn get(&self, kind: Kind) -> *mut PyObject {
        self.types[kind as usize]
    }

    /// `tp_traverse` of the module state.
    ///
    /// # Safety
    ///
    /// Called from the module's traverse with CPython's `visit`/`arg`.
    pub(crate) unsafe fn traverse(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        for &t in &self.types {
            if !t.is_null() {
                // SAFETY: visiting a strong reference this state owns.
                let r = unsafe { visit(t, arg) };
                if r != 0 {
                    return r;
                }
            }
        }
        0
    }

    /// Release every type (module clear/free).
    ///
    /// # Safety
    ///
    /// The owning interpreter is attached.
    pub(crate) unsafe fn clear(&mut self) {
        for t in &mut self.types {
            let old = std::mem::replace(t, std::ptr::null_mut());
            if !old.is_null() {
                // SAFETY: a strong reference this state owned; attached per the caller.
                unsafe { Py_DECREF(old) };
            }
        }
    }
}

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

/// Build a handle type: the common slots (dealloc, compare, hash, repr) plus those of
/// `def`. The spec and slot array are only read during the call; the tables in `def` are
/// static.
pub(crate) fn make_type(
    py: Attached<'_>,
    module: *mut PyObject,
    def: TypeDef<'_>,
) -> PyResult<Owned> {
    let TypeDef {
        name,
        doc,
        new,
        methods,
        getset,
        extra,
    } = def;
    let slot = |slot: c_int, pfunc: *mut c_void| PyType_Slot { slot, pfunc };
    let mut slots = vec![
        slot(Py_tp_dealloc, handle_dealloc as *mut c_void),
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
    slots.push(slot(0, std::ptr::null_mut()));
    let mut spec = PyType_Spec {
        name: name.as_ptr(),
        basicsize: std::mem::size_of::<HandleObject>() as c_int,
        itemsize: 0,
        flags: (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE) as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: attached; `module` is ours; the spec and slots outlive the call (CPython
    // copies what it keeps), methods/getset/doc are static.
    unsafe {
        Owned::from_new(
            py,
            PyType_FromModuleAndSpec(module, &mut spec, std::ptr::null_mut()),
        )
    }
}

/// A new instance of handle type `tp` around `handle`.
///
/// # Safety
///
/// `tp` is one of this interpreter's handle types (or a `tp_new` subtype argument, which
/// is the same since the types are final).
pub(crate) unsafe fn new_object(
    py: Attached<'_>,
    tp: *mut PyTypeObject,
    handle: Handle,
) -> PyResult<Owned> {
    // SAFETY: attached; a handle type; GenericAlloc zero-fills and increfs the heap type.
    let obj = unsafe { Owned::from_new(py, PyType_GenericAlloc(tp, 0))? };
    // SAFETY: a fresh HandleObject whose `inner` we own.
    unsafe { (*obj.as_ptr().cast::<HandleObject>()).inner = Box::into_raw(Box::new(handle)) };
    Ok(obj)
}

/// A new handle object of this interpreter for `handle` (finds the type in the module
/// state of `module`, any object of this interpreter's `manygil._native`).
pub(crate) fn wrap(py: Attached<'_>, module: *mut PyObject, handle: Handle) -> PyResult<Owned> {
    // SAFETY: the caller passes our module.
    let tp = unsafe { super::state(module) }.handles.get(handle.kind());
    if tp.is_null() {
        return Err(err::runtime_error(
            py,
            "manygil._native is not initialized in this interpreter",
        ));
    }
    // SAFETY: one of our handle types.
    unsafe { new_object(py, tp.cast(), handle) }
}

/// Whether `obj` is a handle object (see the module docs).
fn is_handle(obj: *mut PyObject) -> bool {
    // SAFETY: `obj` is a valid object, so its type is a valid type object.
    let dealloc = unsafe { (*Py_TYPE(obj)).tp_dealloc };
    dealloc.map(|f| f as usize) == Some(handle_dealloc as destructor as usize)
}

/// The handle inside `obj`, if `obj` is a handle object.
///
/// # Safety
///
/// `obj` is a valid object that stays alive while the result is used.
pub(crate) unsafe fn handle_of<'a>(obj: *mut PyObject) -> Option<&'a Handle> {
    if !is_handle(obj) {
        return None;
    }
    // SAFETY: a HandleObject (checked above); `inner` is set before the object is visible
    // to Python and only freed by dealloc, after the last reference is gone.
    unsafe { (*obj.cast::<HandleObject>()).inner.as_ref() }
}

/// The handle of `slf`, a method's self (raises `TypeError` if it is not a handle).
pub(crate) fn this<'a>(py: Attached<'_>, slf: *mut PyObject) -> PyResult<&'a Handle> {
    // SAFETY: `slf` is the running method's self, alive for the call.
    unsafe { handle_of(slf) }.ok_or_else(|| {
        err::type_error(
            py,
            &format!("expected a manygil handle, got {}", err::type_name(py, slf)),
        )
    })
}

/// If `obj` is one of manygil's handle objects, its shared state.
pub(crate) fn encode_handle(_py: Attached<'_>, obj: *mut PyObject) -> PyResult<Option<Shared>> {
    // SAFETY: the encoder passes a valid object it holds.
    Ok(unsafe { handle_of(obj) }.map(Handle::to_shared))
}

/// A handle object of this interpreter for `shared`.
pub(crate) fn decode_handle(py: Attached<'_>, shared: &Shared) -> PyResult<Owned> {
    let Some(handle) = Handle::from_shared(shared) else {
        return Err(err::type_error(
            py,
            &format!(
                "cannot decode a {} handle in this build",
                shared.kind().name()
            ),
        ));
    };
    let module = native_module(py)?;
    wrap(py, module.as_ptr(), handle)
}

/// This interpreter's `manygil._native` (from `sys.modules`, imported if needed).
fn native_module(py: Attached<'_>) -> PyResult<Owned> {
    let name = new_str(py, "manygil._native")?;
    // SAFETY: attached; a new reference, or NULL (with an exception only on error).
    let m = unsafe { PyImport_GetModule(name.as_ptr()) };
    if !m.is_null() {
        // SAFETY: non-NULL new reference.
        return unsafe { Owned::from_new(py, m) };
    }
    // SAFETY: attached.
    if unsafe { !PyErr_Occurred().is_null() } {
        return Err(PyErrSet);
    }
    // SAFETY: attached; NUL-terminated name.
    unsafe { Owned::from_new(py, PyImport_ImportModule(c"manygil._native".as_ptr())) }
}

/// Raise `module.class(msg)` (a Python-defined exception), falling back to
/// `RuntimeError` if it cannot be imported.
pub(crate) fn raise_from(py: Attached<'_>, module: &CStr, class: &CStr, msg: &str) -> PyErrSet {
    match import_attr(py, module, class) {
        // SAFETY: an exception class, alive while `cls` is.
        Ok(cls) => unsafe { err::raise(py, cls.as_ptr(), msg) },
        Err(PyErrSet) => {
            // SAFETY: attached.
            unsafe { PyErr_Clear() };
            err::runtime_error(py, msg)
        }
    }
}

unsafe extern "C" fn handle_dealloc(slf: *mut PyObject) {
    // SAFETY: CPython calls dealloc once, attached, when the refcount reaches zero.
    unsafe {
        let tp = Py_TYPE(slf);
        let p = std::mem::replace(
            &mut (*slf.cast::<HandleObject>()).inner,
            std::ptr::null_mut(),
        );
        if !p.is_null() {
            // Dropping Rust state only (Arcs); a panic here would abort, none is possible.
            drop(Box::from_raw(p));
        }
        let free = PyType_GetSlot(tp, Py_tp_free);
        let free: freefunc = std::mem::transmute(free);
        free(slf.cast());
        Py_DECREF(tp.cast());
    }
}

unsafe extern "C" fn handle_richcompare(
    slf: *mut PyObject,
    other: *mut PyObject,
    op: c_int,
) -> *mut PyObject {
    guard(|py| {
        // SAFETY: both are valid objects for the call.
        let (a, b) = unsafe { (handle_of(slf), handle_of(other)) };
        let (Some(a), Some(b)) = (a, b) else {
            // SAFETY: NotImplemented is immortal.
            return Ok(unsafe { Owned::from_borrowed(py, Py_NotImplemented()) });
        };
        let same = a.kind() == b.kind() && a.identity() == b.identity();
        if op == Py_EQ {
            Ok(boolean(py, same))
        } else if op == Py_NE {
            Ok(boolean(py, !same))
        } else {
            // SAFETY: NotImplemented is immortal.
            Ok(unsafe { Owned::from_borrowed(py, Py_NotImplemented()) })
        }
    })
}

unsafe extern "C" fn handle_hash(slf: *mut PyObject) -> Py_hash_t {
    guard_c(-1, |py| {
        let h = this(py, slf)?;
        // SAFETY: hashing an address; never fails.
        Ok(unsafe { Py_HashPointer(h.identity().0 as *const c_void) })
    })
}

unsafe extern "C" fn handle_repr(slf: *mut PyObject) -> *mut PyObject {
    guard(|py| {
        let h = this(py, slf)?;
        // SAFETY: tp_name is a NUL-terminated string owned by the type.
        let name = unsafe { CStr::from_ptr((*Py_TYPE(slf)).tp_name) }.to_string_lossy();
        new_str(py, &h.describe(&name))
    })
}
