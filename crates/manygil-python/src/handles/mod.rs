//! Shared handles (queues, buffers, sync primitives) as [`Value::Shared`]: encoding a
//! handle object gives its Rust state; decoding gives this interpreter's handle type
//! around the same state.
//!
//! Every handle type is a per-interpreter heap type (`PyType_FromModuleAndSpec`, kept in
//! [`HandleTypes`] in the module state) whose instances are `ffi::types::BoxObject<Handle>`:
//! the object header and a boxed [`Handle`], which holds only `Arc`s of Rust state, never a
//! Python object. So the same state can be wrapped by one object in each interpreter at once,
//! and lives until the last wrapper (and the last value in transit) is gone.
//!
//! Recognising a handle (on the encoder's path for every non-native object) costs one
//! load and compare: all handle types, and only they, use [`handle_dealloc`] as
//! `tp_dealloc`; the types are final (no `Py_TPFLAGS_BASETYPE`), so no subclass can
//! inherit a different layout. No module lookup is needed to encode. Decoding finds this
//! interpreter's types through `sys.modules["manygil._native"]` (a dict lookup; the module
//! is imported if it was not yet).

use std::any::Any;
use std::sync::Arc;

use manygil_core::buffer::{SharedBuffer, SharedMemory};
use manygil_core::queue::Queue;
use manygil_core::sync::{AtomicInt, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};
use manygil_core::value::{Shared, SharedKind};
use manygil_core::Value;

use crate::ffi::err::{self, PyResult};
use crate::ffi::{Attached, Borrowed, Owned};

pub(crate) use object::{handle_of, handle_type, make_type, new_object, TypeDef};
pub(crate) use sync::barrier::BarrierState;

pub(crate) mod blocking;
pub(crate) mod buffer;
pub(crate) mod error_types;
pub(crate) mod errors;
mod object;
pub(crate) mod state;
pub(crate) mod sync;

/// A function that makes one handle type for a module (each handle file has one).
pub(crate) type MakeType = for<'py> fn(Attached<'py>, Borrowed<'_, 'py>) -> PyResult<Owned<'py>>;

/// Define [`Handle`] with one variant per handle type, and [`Kind`], [`KINDS`] and
/// [`Handle::kind`] from the same list.
macro_rules! handles {
    ($($variant:ident($state:ty),)*) => {
        /// The Rust state behind one handle object. Only `Arc`s of `Send + Sync` Rust data.
        pub(crate) enum Handle {
            $($variant($state),)*
        }

        /// Which handle type; indexes [`HandleTypes`](state::HandleTypes).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Kind {
            $($variant,)*
        }

        /// Number of [`Kind`]s.
        pub(crate) const KINDS: usize = [$(Kind::$variant),*].len();

        impl Handle {
            pub(crate) fn kind(&self) -> Kind {
                match self {
                    $(Handle::$variant(_) => Kind::$variant,)*
                }
            }
        }
    };
}

handles! {
    Queue(Arc<Queue<Value>>),
    Buffer(SharedBuffer),
    Lock(Arc<Lock>),
    RLock(Arc<RLock>),
    Semaphore(Arc<Semaphore>),
    BoundedSemaphore(Arc<BoundedSemaphore>),
    Event(Arc<Event>),
    Condition(Arc<Condition>),
    Barrier(Arc<BarrierState>),
    AtomicInt(Arc<AtomicInt>),
}

impl Handle {
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
    pub(crate) fn identity(&self) -> (usize, bool) {
        let addr = Arc::as_ptr(&self.state()).cast::<()>() as usize;
        (addr, matches!(self, Handle::Buffer(b) if b.is_readonly()))
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
        let buffer = || shared.downcast::<SharedMemory>().map(SharedBuffer::new);
        match shared.kind() {
            SharedKind::Queue => shared.downcast().map(Handle::Queue),
            SharedKind::Buffer => buffer().map(Handle::Buffer),
            SharedKind::ReadOnlyBuffer => buffer().map(|b| Handle::Buffer(b.to_readonly())),
            SharedKind::Sync => None
                .or_else(|| shared.downcast().map(Handle::Lock))
                .or_else(|| shared.downcast().map(Handle::RLock))
                .or_else(|| shared.downcast().map(Handle::Semaphore))
                .or_else(|| shared.downcast().map(Handle::BoundedSemaphore))
                .or_else(|| shared.downcast().map(Handle::Event))
                .or_else(|| shared.downcast().map(Handle::Condition))
                .or_else(|| shared.downcast().map(Handle::Barrier))
                .or_else(|| shared.downcast().map(Handle::AtomicInt)),
        }
    }

    /// The `repr()` text.
    pub(crate) fn describe(&self, type_name: &str) -> String {
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

/// The handle of `slf`, a method's self (raises `TypeError` if it is not a handle).
pub(crate) fn this<'a>(py: Attached<'_>, slf: Borrowed<'a, '_>) -> PyResult<&'a Handle> {
    handle_of(slf).ok_or_else(|| {
        err::type_error(
            py,
            &format!("expected a manygil handle, got {}", err::type_name(py, slf)),
        )
    })
}

/// If `obj` is one of manygil's handle objects, its shared state.
pub(crate) fn encode_handle(_py: Attached<'_>, obj: Borrowed<'_, '_>) -> PyResult<Option<Shared>> {
    Ok(handle_of(obj).map(Handle::to_shared))
}

/// A handle object of this interpreter for `shared`.
pub(crate) fn decode_handle<'py>(py: Attached<'py>, shared: &Shared) -> PyResult<Owned<'py>> {
    let Some(handle) = Handle::from_shared(shared) else {
        return Err(err::type_error(
            py,
            &format!(
                "cannot decode a {} handle in this build",
                shared.kind().name()
            ),
        ));
    };
    wrap(py, &state::current(py)?, handle)
}

/// A new handle object of this interpreter for `handle` (its type is in the module state).
pub(crate) fn wrap<'py>(
    py: Attached<'py>,
    module: &state::CurrentModule,
    handle: Handle,
) -> PyResult<Owned<'py>> {
    let tp = module.state().handles.get(handle.kind());
    if tp.is_null() {
        return Err(err::runtime_error(
            py,
            "manygil._native is not initialized in this interpreter",
        ));
    }
    // SAFETY: one of our handle types.
    unsafe { new_object(py, tp.cast(), handle) }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;

    use manygil_core::sync::CondLock;

    use super::*;

    fn condition() -> Arc<Condition> {
        Arc::new(Condition::new(CondLock::RLock(Arc::default())))
    }

    /// One handle of every kind, in `Kind` order.
    fn one_of_each() -> Vec<Handle> {
        let memory = Arc::new(SharedMemory::new(4).expect("4 bytes of shared memory"));
        let parties = NonZeroUsize::new(2).expect("2 > 0");
        vec![
            Handle::Queue(Arc::new(Queue::new(3))),
            Handle::Buffer(SharedBuffer::new(memory)),
            Handle::Lock(Arc::default()),
            Handle::RLock(Arc::default()),
            Handle::Semaphore(Arc::new(Semaphore::new(2))),
            Handle::BoundedSemaphore(Arc::new(BoundedSemaphore::new(2))),
            Handle::Event(Arc::default()),
            Handle::Condition(condition()),
            Handle::Barrier(Arc::new(BarrierState {
                barrier: manygil_core::sync::Barrier::new(parties, None),
                timeout: None,
            })),
            Handle::AtomicInt(Arc::new(AtomicInt::new(7))),
        ]
    }

    #[test]
    fn kinds_number_the_variants_in_order() {
        let kinds: Vec<usize> = one_of_each().iter().map(|h| h.kind() as usize).collect();
        assert_eq!(kinds, (0..KINDS).collect::<Vec<_>>());
    }

    #[test]
    fn a_handle_comes_back_from_a_value_as_the_same_state() {
        for h in one_of_each() {
            let shared = h.to_shared();
            let back = Handle::from_shared(&shared).expect("every kind decodes");
            assert_eq!(back.kind(), h.kind());
            assert_eq!(back.identity(), h.identity(), "{:?}", h.kind());
        }
    }

    #[test]
    fn handles_on_different_states_differ_and_on_one_state_are_equal() {
        let (a, b) = (one_of_each(), one_of_each());
        for (x, y) in a.iter().zip(&b) {
            assert_ne!(x.identity(), y.identity(), "{:?}", x.kind());
        }
        let lock: Arc<Lock> = Arc::default();
        let (x, y) = (Handle::Lock(lock.clone()), Handle::Lock(lock));
        assert_eq!(x.identity(), y.identity());
    }

    #[test]
    fn a_read_only_buffer_is_its_own_handle_on_the_same_memory_and_stays_read_only() {
        let memory = Arc::new(SharedMemory::new(8).expect("8 bytes"));
        let rw = Handle::Buffer(SharedBuffer::new(memory.clone()));
        let ro = Handle::Buffer(SharedBuffer::new(memory).to_readonly());
        assert_eq!(rw.identity().0, ro.identity().0, "the same memory");
        assert_ne!(rw.identity(), ro.identity(), "but not the same object");
        let shared = ro.to_shared();
        assert_eq!(shared.kind(), SharedKind::ReadOnlyBuffer);
        let back = Handle::from_shared(&shared).expect("decodes");
        assert!(matches!(back, Handle::Buffer(b) if b.is_readonly()));
    }

    #[test]
    fn a_value_of_an_unknown_state_is_refused() {
        let shared = Shared::new(SharedKind::Sync, Arc::new(42_u8));
        assert!(Handle::from_shared(&shared).is_none());
    }

    #[test]
    fn repr_shows_the_state() {
        let text = |h: &Handle, name: &str| {
            let full = h.describe(name);
            let (head, tail) = full.split_once(" shared at 0x").expect("an address");
            assert!(tail.ends_with('>') && tail.len() > 1, "{full}");
            head.to_owned()
        };
        let lock: Arc<Lock> = Arc::default();
        let h = Handle::Lock(lock.clone());
        assert_eq!(text(&h, "manygil.Lock"), "<manygil.Lock unlocked");
        assert!(lock.acquire(false, None));
        assert_eq!(text(&h, "manygil.Lock"), "<manygil.Lock locked");
        let sem = Handle::BoundedSemaphore(Arc::new(BoundedSemaphore::new(3)));
        assert_eq!(text(&sem, "B"), "<B value=3/3");
        let queue = Arc::new(Queue::new(5));
        queue.close();
        assert_eq!(
            text(&Handle::Queue(queue), "Q"),
            "<Q maxsize=5 qsize=0 closed"
        );
        assert_eq!(
            text(&Handle::Condition(condition()), "C"),
            "<C",
            "no detail, no space"
        );
    }
}
