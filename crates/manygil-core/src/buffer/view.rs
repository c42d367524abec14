//! [`SharedBuffer`]: a shared handle on a [`SharedMemory`], possibly read-only.

use super::{BufferError, SharedMemory};
use std::sync::Arc;

/// A handle on shared memory as the glue exposes it: the memory plus a read-only flag.
///
/// Clones share the same bytes. A read-only handle refuses [`SharedBuffer::write_from`] and
/// [`SharedBuffer::as_mut_ptr`]; the glue must also report it as read-only to the buffer
/// protocol. Writable handles to the same memory are unaffected.
///
/// # Examples
///
/// ```
/// use manygil_core::buffer::{BufferError, SharedBuffer, SharedMemory};
/// use std::sync::Arc;
///
/// let writable = SharedBuffer::new(Arc::new(SharedMemory::new(4).unwrap()));
/// let readonly = writable.to_readonly();
/// writable.write_from(0, b"abcd").unwrap();
/// assert_eq!(readonly.to_vec(), b"abcd");
/// assert_eq!(readonly.write_from(0, b"x"), Err(BufferError::ReadOnly));
/// ```
#[derive(Debug, Clone)]
pub struct SharedBuffer {
    /// The shared bytes; kept alive (pointer valid) as long as this handle lives. Immutable.
    memory: Arc<SharedMemory>,
    /// Whether writes through this handle are refused. Immutable.
    readonly: bool,
}

impl SharedBuffer {
    /// A handle on `memory`: writable unless the memory is mapped read-only.
    pub fn new(memory: Arc<SharedMemory>) -> Self {
        let readonly = memory.is_read_only();
        Self { memory, readonly }
    }

    /// A read-only handle on the same memory.
    pub fn to_readonly(&self) -> Self {
        Self {
            memory: Arc::clone(&self.memory),
            readonly: true,
        }
    }

    /// Whether this handle refuses writes.
    pub fn is_readonly(&self) -> bool {
        self.readonly
    }

    /// The underlying memory.
    pub fn memory(&self) -> &Arc<SharedMemory> {
        &self.memory
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.memory.len()
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.memory.is_empty()
    }

    /// The first byte, for reading (see [`SharedMemory::as_ptr`]).
    pub fn as_ptr(&self) -> *const u8 {
        self.memory.as_ptr()
    }

    /// The first byte, for writing (see [`SharedMemory::as_ptr`]).
    ///
    /// # Errors
    ///
    /// [`BufferError::ReadOnly`] if this handle is read-only.
    pub fn as_mut_ptr(&self) -> Result<*mut u8, BufferError> {
        if self.readonly {
            return Err(BufferError::ReadOnly);
        }
        Ok(self.memory.as_ptr())
    }

    /// Copies bytes out, as [`SharedMemory::read_into`].
    ///
    /// # Errors
    ///
    /// [`BufferError::OutOfBounds`] if the range exceeds the memory.
    pub fn read_into(&self, offset: usize, dst: &mut [u8]) -> Result<(), BufferError> {
        self.memory.read_into(offset, dst)
    }

    /// Copies bytes in, as [`SharedMemory::write_from`].
    ///
    /// # Errors
    ///
    /// [`BufferError::ReadOnly`] if this handle is read-only, [`BufferError::OutOfBounds`] if
    /// the range exceeds the memory; nothing is written then.
    pub fn write_from(&self, offset: usize, src: &[u8]) -> Result<(), BufferError> {
        if self.readonly {
            return Err(BufferError::ReadOnly);
        }
        self.memory.write_from(offset, src)
    }

    /// A copy of all the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.memory.to_vec()
    }
}
