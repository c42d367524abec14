//! [`SharedMemory`]: a fixed, zero-initialised, page-aligned byte region backed by a memfd,
//! so that other processes can map the same bytes.

use super::BufferError;
use std::fmt;
use std::mem::{align_of, size_of};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Alignment of [`SharedMemory::as_ptr`]: 64 bytes, a cache line and enough for any numpy
/// dtype or SIMD access (the mapping is page-aligned).
pub const ALIGN: usize = 64;

/// Bytes per word of the region: every Rust-side access is a word-sized atomic operation.
const WORD: usize = size_of::<usize>();

/// A type whose dangling pointer is [`ALIGN`]-aligned, for empty regions.
#[repr(align(64))]
struct Aligned;
const _: () = assert!(align_of::<Aligned>() == ALIGN);

/// A fixed-size, zero-initialised byte region shared by every interpreter, and by other
/// processes that map its file.
///
/// The bytes live in an anonymous memory file (`memfd_create`) mapped with `MAP_SHARED`:
/// [`SharedMemory::fd`] can be sent to another process (over a Unix socket, as
/// `multiprocessing` does), which maps the same bytes with [`SharedMemory::from_fd`].
/// The kernel keeps the bytes while any process maps the file or holds a descriptor of
/// it, so each process's `SharedMemory` is independent of the others' lifetimes.
///
/// The region is mapped once and never moves or resizes: the pointer from
/// [`SharedMemory::as_ptr`] is valid, [`ALIGN`]-aligned and `len()` bytes long for as long
/// as this value lives, so for as long as any `Arc<SharedMemory>` lives.
///
/// Rust code reads and writes it only through word-sized relaxed atomic operations
/// ([`SharedMemory::read_into`], [`SharedMemory::write_from`]), so concurrent use from safe Rust
/// is never undefined behaviour, though overlapping concurrent copies may interleave word by
/// word. Code handed the raw pointer (Python's buffer protocol, numpy) accesses it without
/// atomics: as with `multiprocessing.shared_memory`, synchronising concurrent writes with
/// other accesses (by a lock, a queue message, ...) is the user's responsibility.
///
/// # Examples
///
/// ```
/// use manygil_core::buffer::{SharedMemory, ALIGN};
/// use std::sync::Arc;
///
/// let mem = Arc::new(SharedMemory::new(8).unwrap());
/// assert_eq!(mem.to_vec(), [0; 8]);
/// mem.write_from(2, b"hi").unwrap();
/// let mut out = [0; 4];
/// mem.read_into(1, &mut out).unwrap();
/// assert_eq!(&out, b"\0hi\0");
/// assert!(mem.write_from(7, b"xy").is_err()); // out of bounds
/// assert_eq!(mem.as_ptr() as usize % ALIGN, 0);
///
/// // A second mapping of the same file (as another process would make) sees the bytes.
/// let other = SharedMemory::from_fd(mem.fd().try_clone_to_owned().unwrap(), 8).unwrap();
/// assert_eq!(&other.to_vec()[2..4], b"hi");
/// ```
pub struct SharedMemory {
    /// The memory file. Immutable; closed by `Drop` (after the mapping is removed).
    fd: OwnedFd,
    /// Size of the mapping in bytes (`words * WORD`), 0 when nothing is mapped. Immutable.
    mapped: usize,
    /// First byte of the region: the start of a `mapped`-byte `MAP_SHARED` mapping of `fd`
    /// (page-aligned, so [`ALIGN`]-aligned), followed by `words` `AtomicUsize`s; dangling
    /// and aligned when `words == 0`. Immutable; the words are only accessed atomically
    /// from Rust (through `&self`), and unmapped only by `Drop`.
    data: NonNull<AtomicUsize>,
    /// Number of words in the region, `len.div_ceil(WORD)`. Immutable.
    words: usize,
    /// Size of the region in bytes. Immutable.
    len: usize,
    /// Mapped without write access (the descriptor was opened read-only, as another
    /// process receives a read-only buffer): writing through it would fault, so every
    /// write is refused. Immutable.
    read_only: bool,
}

// SAFETY: `SharedMemory` owns its mapping and descriptor exclusively (both are released
// only by `Drop`, which has exclusive access), and shared access from Rust goes only through
// `&AtomicUsize`, which is `Send + Sync`; moving the owner moves nothing but the handles.
unsafe impl Send for SharedMemory {}
// SAFETY: see `Send`: every access through `&SharedMemory` is an atomic operation.
unsafe impl Sync for SharedMemory {}

/// The `errno` of the last failed system call.
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl SharedMemory {
    /// Allocates a zero-initialised region of `len` bytes (`0` maps nothing) in a new
    /// memory file.
    ///
    /// Pages are allocated on first touch, so untouched pages cost no memory.
    ///
    /// # Errors
    ///
    /// [`BufferError::AllocFailed`] if `len` is too large or the memory cannot be reserved;
    /// [`BufferError::Os`] if the memory file cannot be created (e.g. too many open files).
    pub fn new(len: usize) -> Result<Self, BufferError> {
        let bytes = Self::mapped_size(len)?;
        // SAFETY: a NUL-terminated name and valid flags; returns a new descriptor or -1.
        let raw = unsafe {
            libc::memfd_create(
                c"manygil-shared-buffer".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if raw < 0 {
            return Err(BufferError::Os {
                op: "memfd_create",
                errno: errno(),
            });
        }
        // SAFETY: `raw` is a descriptor just returned to us, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: a valid descriptor of a memory file; extending it reads as zeros.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), bytes as libc::off_t) } < 0 {
            let errno = errno();
            return Err(
                if errno == libc::EFBIG || errno == libc::EINVAL || errno == libc::ENOSPC {
                    BufferError::AllocFailed { len }
                } else {
                    BufferError::Os {
                        op: "ftruncate",
                        errno,
                    }
                },
            );
        }
        // The size is fixed from now on, for every process the descriptor reaches: one that
        // shrank the file would make every other mapping fault (SIGBUS) on its next access.
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: a valid memory file created with MFD_ALLOW_SEALING; only adds seals.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
            return Err(BufferError::Os {
                op: "seal",
                errno: errno(),
            });
        }
        Self::map(fd, len)
    }

    /// A new descriptor of the same memory file that cannot write (opened read-only): what
    /// a read-only buffer sends to another process, which then maps it read-only.
    ///
    /// # Errors
    ///
    /// [`BufferError::Os`] if it cannot be opened (e.g. too many open files).
    pub fn read_only_fd(&self) -> Result<OwnedFd, BufferError> {
        let path = std::ffi::CString::new(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
            .map_err(|_| BufferError::Os {
                op: "open",
                errno: libc::EINVAL,
            })?;
        // SAFETY: a NUL-terminated path; returns a new descriptor or -1.
        let raw = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if raw < 0 {
            return Err(BufferError::Os {
                op: "open",
                errno: errno(),
            });
        }
        // SAFETY: `raw` is a descriptor just returned to us, owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }

    /// Whether this mapping refuses writes (see [`SharedMemory::read_only_fd`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Maps `len` bytes of the memory file `fd` (made by [`SharedMemory::new`] here or in
    /// another process, and received from it): the new region shares its bytes.
    ///
    /// # Errors
    ///
    /// [`BufferError::TooSmall`] if the file holds fewer bytes than the region needs;
    /// [`BufferError::Os`] if it cannot be inspected or mapped.
    pub fn from_fd(fd: OwnedFd, len: usize) -> Result<Self, BufferError> {
        let bytes = Self::mapped_size(len)?;
        // SAFETY: `stat` is plain data that fstat fills; `fd` is a valid open descriptor.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } < 0 {
            return Err(BufferError::Os {
                op: "fstat",
                errno: errno(),
            });
        }
        if (stat.st_size as u64) < bytes as u64 {
            return Err(BufferError::TooSmall {
                len,
                actual: stat.st_size as u64,
            });
        }
        Self::map(fd, len)
    }

    /// [`SharedMemory::from_fd`] on a duplicate of the descriptor number `fd`, which stays
    /// the caller's (an invalid number is an error, not undefined behaviour).
    ///
    /// # Errors
    ///
    /// [`BufferError::Os`] (`EBADF`) if `fd` is not an open descriptor; as
    /// [`SharedMemory::from_fd`] otherwise.
    pub fn from_dup(fd: RawFd, len: usize) -> Result<Self, BufferError> {
        // SAFETY: F_DUPFD_CLOEXEC only reads the descriptor table; an invalid or closed
        // number fails with EBADF and touches nothing.
        let raw = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if raw < 0 {
            return Err(BufferError::Os {
                op: "dup",
                errno: errno(),
            });
        }
        // SAFETY: `raw` is a descriptor just created for us, owned by nobody else.
        Self::from_fd(unsafe { OwnedFd::from_raw_fd(raw) }, len)
    }

    /// Bytes mapped for a region of `len` bytes: whole words, as Rust accesses words.
    fn mapped_size(len: usize) -> Result<usize, BufferError> {
        len.div_ceil(WORD)
            .checked_mul(WORD)
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or(BufferError::AllocFailed { len })
    }

    fn map(fd: OwnedFd, len: usize) -> Result<Self, BufferError> {
        let words = len.div_ceil(WORD);
        let mapped = words * WORD; // checked by `mapped_size`

        // SAFETY: F_GETFL only reads the open file description's flags.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        let read_only = flags >= 0 && flags & libc::O_ACCMODE == libc::O_RDONLY;
        if mapped == 0 {
            return Ok(Self {
                fd,
                mapped: 0,
                data: NonNull::<Aligned>::dangling().cast(),
                words: 0,
                len: 0,
                read_only,
            });
        }
        let prot = if read_only {
            libc::PROT_READ
        } else {
            libc::PROT_READ | libc::PROT_WRITE
        };
        // SAFETY: a fresh shared mapping chosen by the kernel (no fixed address, so nothing
        // existing is replaced) of a descriptor open for reading (and writing unless
        // `read_only`, which `prot` follows), at least `mapped` bytes long (ftruncate'd in
        // `new`, checked with fstat in `from_fd`).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            let errno = errno();
            return Err(if errno == libc::ENOMEM {
                BufferError::AllocFailed { len }
            } else {
                BufferError::Os { op: "mmap", errno }
            });
        }
        let data =
            NonNull::new(ptr.cast::<AtomicUsize>()).ok_or(BufferError::AllocFailed { len })?;
        Ok(Self {
            fd,
            mapped,
            data,
            words,
            len,
            read_only,
        })
    }

    /// The memory file, to hand to another process (which maps it with
    /// [`SharedMemory::from_fd`]); valid while `self` lives.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Allocates a region holding a copy of `bytes`.
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BufferError> {
        let memory = Self::new(bytes.len())?;
        memory.write_from(0, bytes)?;
        Ok(memory)
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first byte, [`ALIGN`]-aligned (dangling but aligned and non-null when empty).
    ///
    /// The pointer is valid for reads of `len()` bytes while `self` lives, and for writes
    /// unless [`SharedMemory::is_read_only`]; the caller is responsible for synchronising
    /// non-atomic accesses made through it (see the type's documentation).
    pub fn as_ptr(&self) -> *mut u8 {
        self.data.as_ptr().cast()
    }

    /// Copies `dst.len()` bytes starting at `offset` into `dst`.
    ///
    /// # Errors
    ///
    /// [`BufferError::OutOfBounds`] if the range exceeds the region; `dst` is untouched then.
    pub fn read_into(&self, offset: usize, dst: &mut [u8]) -> Result<(), BufferError> {
        self.check(offset, dst.len())?;
        let words = self.words();
        let (head, body) = dst.split_at_mut(dst.len().min((WORD - offset % WORD) % WORD));
        let mut word = offset / WORD;
        if !head.is_empty() {
            let bytes = words[word].load(Relaxed).to_ne_bytes();
            head.copy_from_slice(&bytes[offset % WORD..][..head.len()]);
            word += 1;
        }
        let mut chunks = body.chunks_exact_mut(WORD);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&words[word].load(Relaxed).to_ne_bytes());
            word += 1;
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            tail.copy_from_slice(&words[word].load(Relaxed).to_ne_bytes()[..tail.len()]);
        }
        Ok(())
    }

    /// Copies `src` into the region starting at `offset`.
    ///
    /// # Errors
    ///
    /// [`BufferError::OutOfBounds`] if the range exceeds the region, [`BufferError::ReadOnly`]
    /// if it is mapped read-only; nothing is written then.
    pub fn write_from(&self, offset: usize, src: &[u8]) -> Result<(), BufferError> {
        if self.read_only {
            return Err(BufferError::ReadOnly);
        }
        self.check(offset, src.len())?;
        let words = self.words();
        let (head, body) = src.split_at(src.len().min((WORD - offset % WORD) % WORD));
        let mut word = offset / WORD;
        if !head.is_empty() {
            store_part(&words[word], offset % WORD, head);
            word += 1;
        }
        let mut chunks = body.chunks_exact(WORD);
        for chunk in &mut chunks {
            let mut bytes = [0; WORD];
            bytes.copy_from_slice(chunk);
            words[word].store(usize::from_ne_bytes(bytes), Relaxed);
            word += 1;
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            store_part(&words[word], 0, tail);
        }
        Ok(())
    }

    /// A copy of the whole region.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = vec![0; self.len];
        // The range is the whole region, so it is in bounds.
        let _ = self.read_into(0, &mut bytes);
        bytes
    }

    /// Fails unless `offset..offset + len` lies within the region.
    fn check(&self, offset: usize, len: usize) -> Result<(), BufferError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(BufferError::OutOfBounds {
                offset,
                len,
                size: self.len,
            }),
        }
    }

    /// The region as atomic words.
    fn words(&self) -> &[AtomicUsize] {
        // SAFETY: `data` is non-null and aligned for `AtomicUsize`, and (when `words > 0`)
        // points to `words` initialised words inside our mapping (a memory file reads as zeros until
        // written), valid for reads and
        // writes until `Drop`, which cannot run while `&self` is borrowed. Zero is a valid
        // `AtomicUsize`, and shared references to atomics may alias each other and writes made
        // through them. When `words == 0` a dangling aligned pointer is valid for an empty slice.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.words) }
    }
}

/// Replaces the bytes `at..at + bytes.len()` of `word` with `bytes`, atomically.
fn store_part(word: &AtomicUsize, at: usize, bytes: &[u8]) {
    let _ = word.fetch_update(Relaxed, Relaxed, |old| {
        let mut all = old.to_ne_bytes();
        all[at..at + bytes.len()].copy_from_slice(bytes);
        Some(usize::from_ne_bytes(all))
    });
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        if self.mapped > 0 {
            // SAFETY: `data` is the start of a `mapped`-byte mapping made in `map` and
            // unmapped only here, once; `&mut self` proves no reference into it is left.
            // (Views handed to Python hold an `Arc`, so they are gone too.)
            unsafe { libc::munmap(self.data.as_ptr().cast(), self.mapped) };
        }
        // `fd` closes itself after this.
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("len", &self.len)
            .field("ptr", &self.as_ptr())
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}
