//! [`Shared`]: a handle to Rust-owned state that every interpreter sees as the same object.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// What a [`Shared`] handle points at; the glue picks the Python type from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SharedKind {
    /// A `manygil.Queue`.
    Queue,
    /// A `manygil.SharedBuffer` (writable view).
    Buffer,
    /// A read-only `manygil.SharedBuffer` view.
    ReadOnlyBuffer,
    /// A synchronization primitive (lock, event, ...); the payload says which.
    Sync,
}

impl SharedKind {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            SharedKind::Queue => "Queue",
            SharedKind::Buffer | SharedKind::ReadOnlyBuffer => "SharedBuffer",
            SharedKind::Sync => "sync primitive",
        }
    }
}

/// A reference-counted handle to state owned by Rust. Cloning it (or moving it to another
/// interpreter) never copies the state.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use manygil_core::value::{Shared, SharedKind};
///
/// let h = Shared::new(SharedKind::Queue, Arc::new(42_u32));
/// let again = h.clone();
/// assert!(h.same_as(&again));
/// assert_eq!(*again.downcast::<u32>().unwrap(), 42);
/// ```
#[derive(Clone)]
pub struct Shared {
    /// Which Python type the handle decodes to.
    kind: SharedKind,
    /// The state; immutable identity, interior mutability is the state's own business.
    state: Arc<dyn Any + Send + Sync>,
}

impl Shared {
    /// Wrap `state` as a handle of the given kind.
    pub fn new(kind: SharedKind, state: Arc<dyn Any + Send + Sync>) -> Self {
        Shared { kind, state }
    }

    /// The handle's kind.
    pub fn kind(&self) -> SharedKind {
        self.kind
    }

    /// The state as a concrete type, if it is one.
    pub fn downcast<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.state.clone().downcast::<T>().ok()
    }

    /// Whether both handles point at the same state.
    pub fn same_as(&self, other: &Shared) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Shared({:?} @ {:p})",
            self.kind,
            Arc::as_ptr(&self.state)
        )
    }
}

impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other)
    }
}
