//! Errors of the shared-memory operations.

use thiserror::Error;

/// Why a [`SharedMemory`](super::SharedMemory) or [`SharedBuffer`](super::SharedBuffer)
/// operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BufferError {
    /// `offset..offset + len` does not lie within the `size` bytes of the memory.
    #[error("range {offset}..{offset}+{len} is out of bounds for {size} bytes")]
    OutOfBounds {
        /// Start of the requested range.
        offset: usize,
        /// Length of the requested range.
        len: usize,
        /// Size of the memory.
        size: usize,
    },
    /// A write through a read-only [`SharedBuffer`](super::SharedBuffer).
    #[error("shared buffer is read-only")]
    ReadOnly,
    /// The memory could not be allocated (Python's `MemoryError`).
    #[error("cannot allocate {len} bytes")]
    AllocFailed {
        /// The requested size.
        len: usize,
    },
    /// A system call creating or mapping the memory failed (e.g. too many open files).
    #[error("{op} failed: {}", std::io::Error::from_raw_os_error(*errno))]
    Os {
        /// The failing call (`memfd_create`, `ftruncate`, `mmap`, `fstat`, `dup`).
        op: &'static str,
        /// The `errno` it set.
        errno: i32,
    },
    /// A file descriptor given to [`SharedMemory::from_fd`](super::SharedMemory::from_fd)
    /// is smaller than the size it was said to hold.
    #[error("the shared memory file holds {actual} bytes, fewer than the {len} expected")]
    TooSmall {
        /// The size expected.
        len: usize,
        /// The file's size.
        actual: u64,
    },
}
