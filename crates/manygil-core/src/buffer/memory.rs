//! [`SharedMemory`]: a fixed, zero-initialised, 64-byte-aligned byte region.

use super::BufferError;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fmt;
use std::mem::{align_of, size_of};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Alignment of [`SharedMemory::as_ptr`]: 64 bytes, a cache line and enough for any numpy
/// dtype or SIMD access.
pub const ALIGN: usize = 64;

/// Bytes per word of the region: every Rust-side access is a word-sized atomic operation.
const WORD: usize = size_of::<usize>();

/// A type whose dangling pointer is [`ALIGN`]-aligned, for empty regions.
#[repr(align(64))]
struct Aligned;
const _: () = assert!(align_of::<Aligned>() == ALIGN);

/// A fixed-size, zero-initialised byte region shared by every interpreter.
///
/// The region is allocated once by [`SharedMemory::new`] and never moves or resizes: the
/// pointer from [`SharedMemory::as_ptr`] is valid, [`ALIGN`]-aligned and `len()` bytes long for
/// as long as this value lives, so for as long as any `Arc<SharedMemory>` lives.
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
/// ```
pub struct SharedMemory {
    /// Start of the allocation, for `dealloc`; dangling when `layout` is `None`. Immutable.
    base: NonNull<u8>,
    /// Layout of the allocation, `None` when `len == 0` (nothing allocated). Immutable.
    layout: Option<Layout>,
    /// First byte of the region: [`ALIGN`]-aligned, inside the allocation, followed by `words`
    /// zero-initialised `AtomicUsize`s. Immutable; the words are only accessed atomically
    /// from Rust (through `&self`), and freed only by `Drop`.
    data: NonNull<AtomicUsize>,
    /// Number of words in the region, `len.div_ceil(WORD)`. Immutable.
    words: usize,
    /// Size of the region in bytes. Immutable.
    len: usize,
}

// SAFETY: `SharedMemory` owns its allocation exclusively (it is freed only by `Drop`, which
// has exclusive access), and shared access from Rust goes only through `&AtomicUsize`, which
// is `Send + Sync`; moving the owner to another thread moves nothing but the pointers.
unsafe impl Send for SharedMemory {}
// SAFETY: see `Send`: every access through `&SharedMemory` is an atomic operation.
unsafe impl Sync for SharedMemory {}

impl SharedMemory {
    /// Allocates a zero-initialised region of `len` bytes (`0` allocates nothing).
    ///
    /// Large regions come from `calloc`, so untouched pages cost no memory.
    ///
    /// # Errors
    ///
    /// [`BufferError::AllocFailed`] if `len` is too large or the allocation fails.
    pub fn new(len: usize) -> Result<Self, BufferError> {
        if len == 0 {
            return Ok(Self {
                base: NonNull::dangling(),
                layout: None,
                data: NonNull::<Aligned>::dangling().cast(),
                words: 0,
                len: 0,
            });
        }
        let failed = BufferError::AllocFailed { len };
        let words = len.div_ceil(WORD);
        // Over-allocate with the word's alignment (which keeps `calloc`'s lazily zeroed pages)
        // and round the start up to `ALIGN` inside the allocation.
        let size = words
            .checked_mul(WORD)
            .and_then(|bytes| bytes.checked_add(ALIGN - align_of::<AtomicUsize>()))
            .ok_or(failed)?;
        let layout =
            Layout::from_size_align(size, align_of::<AtomicUsize>()).map_err(|_| failed)?;
        // SAFETY: `layout` has a non-zero size (`len > 0`).
        let base = NonNull::new(unsafe { alloc_zeroed(layout) }).ok_or(failed)?;
        let offset = base.as_ptr().addr().wrapping_neg() % ALIGN;
        // `offset < ALIGN` is a multiple of the word alignment, so `offset + words * WORD`
        // is at most `size`: the region lies inside the allocation and is word-aligned.
        let data = base.as_ptr().wrapping_add(offset).cast::<AtomicUsize>();
        Ok(Self {
            base,
            layout: Some(layout),
            data: NonNull::new(data).ok_or(failed)?,
            words,
            len,
        })
    }

    /// Allocates a region holding a copy of `bytes`.
    ///
    /// # Errors
    ///
    /// [`BufferError::AllocFailed`] as [`SharedMemory::new`].
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
    /// The pointer is valid for reads and writes of `len()` bytes while `self` lives; the
    /// caller is responsible for synchronising non-atomic accesses made through it (see the
    /// type's documentation).
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
    /// [`BufferError::OutOfBounds`] if the range exceeds the region; nothing is written then.
    pub fn write_from(&self, offset: usize, src: &[u8]) -> Result<(), BufferError> {
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
        // points to `words` zero-initialised words inside our allocation, valid for reads and
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
        if let Some(layout) = self.layout {
            // SAFETY: `base` was returned by `alloc_zeroed(layout)` in `new` and is freed only
            // here, once; `&mut self` proves no reference into the region is left.
            unsafe { dealloc(self.base.as_ptr(), layout) };
        }
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("len", &self.len)
            .field("ptr", &self.as_ptr())
            .finish()
    }
}
