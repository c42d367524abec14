//! `manygil.SharedBuffer`: fixed-size memory owned by Rust ([`SharedMemory`]), exposed to
//! every interpreter through the buffer protocol.
//!
//! Lifetime: each handle object holds an `Arc<SharedMemory>`, and every exported
//! `Py_buffer` holds one more in its `internal` field (released by `bf_releasebuffer`), on
//! top of CPython keeping the exporting handle alive through `view.obj`. So the memory is
//! freed exactly when the last handle, the last view and the last value in transit (a
//! `Value::Shared` in a queue or a call) are gone, in whatever interpreters and order.

use std::ffi::c_int;
use std::sync::Arc;

use manygil_core::buffer::{BufferError, SharedBuffer, SharedMemory};

use crate::ffi::buffer::{self as ffi_buffer, BytesView, Py_buffer, ScopedView};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::raw::{
    PyObject, Py_bf_getbuffer, Py_bf_releasebuffer, Py_mp_ass_subscript, Py_mp_length,
    Py_mp_subscript, Py_sq_length, Py_ssize_t, Py_tp_iter,
};
use crate::ffi::tstate::detached;
use crate::ffi::{boolean, new_int, Attached, Borrowed, Owned};

use super::{handle_type, new_object, Handle};
use crate::ffi::args::{self, Call};
use crate::ffi::entry::{guard, guard_c};

/// Copies larger than this release the GIL.
const DETACH_COPY: usize = 1 << 20;

handle_type! {
    name: c"manygil.SharedBuffer",
    state: Handle::Buffer(SharedBuffer),
    new: buffer_new,
    of: buffer_of,
    doc: c"SharedBuffer(size)
--

size bytes of zero-initialised memory shared by every interpreter of the process.

The memory is owned by manygil, not by an interpreter: it supports the buffer protocol
(memoryview(buf), struct.pack_into/unpack_from, numpy.frombuffer, file.readinto, ...),
and every interpreter that holds the buffer sees the same bytes, so a write in one is
visible in all. Passing it to another interpreter (call argument, prepare_main, a queue)
copies nothing. buf[i], buf[a:b] (bytes) and buf[a:b] = data work as on a bytearray of
fixed size; out-of-range access raises the errors bytearray gives. The memory is freed
when the last handle and the last memoryview in every interpreter are gone.

The memory is an anonymous memory file (memfd) mapped shared: pickling a SharedBuffer
for a process started by multiprocessing (ProcessPoolExecutor, Pool(fallback=\"process\"))
sends the file, not the bytes, and that process maps the same memory, which lives while
any process holds it.

Concurrent writes are not synchronised: coordinate them with a Lock, a Queue message or
an Event, as with multiprocessing.shared_memory. A negative size raises ValueError, a
size that cannot be allocated MemoryError.",
    methods: [
        call_class c"from_bytes" => c_from_bytes(from_bytes), c"from_bytes($type, data, /)\n--\n\nA new SharedBuffer holding a copy of data (any C-contiguous bytes-like object).";
        call_class c"_from_fd" => c_from_fd(from_fd), c"_from_fd($type, fd, size, readonly=False, /)\n--\n\nA SharedBuffer on the memory file fd (a duplicate is kept; fd stays the caller's),\nas sent by another process: the same bytes. For pickling.";
        noargs c"_fd" => c_fd(fd), c"_fd($self, /)\n--\n\nThe memory file's descriptor (valid while this buffer lives; do not close it).\nFor pickling to another process.";
        noargs c"readonly" => c_readonly(readonly), c"readonly($self, /)\n--\n\nA read-only handle on the same memory: writes through it (memoryview, buf[i] = x)\nraise TypeError; writable handles are unaffected. It travels as read-only.";
    ],
    getters: [
        get c"nbytes" => g_nbytes(nbytes), c"The size in bytes.";
        get c"writable" => g_writable(writable), c"False for a handle made by readonly().";
        get c"_shares" => g_shares(shares), c"How many references to the memory exist in the process (handles, exported views and values in transit): for tests.";
    ],
    slots: [
        Py_bf_getbuffer => buffer_get,
        Py_bf_releasebuffer => buffer_release,
        Py_mp_length => buffer_len,
        Py_sq_length => buffer_len,
        Py_mp_subscript => buffer_getitem,
        Py_mp_ass_subscript => buffer_setitem,
        Py_tp_iter => buffer_iter,
    ],
}

fn alloc_error(py: Attached<'_>, e: BufferError) -> PyErrSet {
    let msg = e.to_string();
    match e {
        BufferError::AllocFailed { .. } => err::memory_error(py, &msg),
        BufferError::Os { .. } => err::os_error(py, &msg),
        _ => err::value_error(py, &msg),
    }
}

fn buffer_new(py: Attached<'_>, call: &Call<'_, '_>) -> PyResult<SharedBuffer> {
    let [size] = call.bind(py, "SharedBuffer", [c"size"], 1)?;
    let size = args::count(py, "size", size.ok_or(PyErrSet)?)?;
    let memory = SharedMemory::new(size).map_err(|e| alloc_error(py, e))?;
    Ok(SharedBuffer::new(Arc::new(memory)))
}

fn from_bytes<'py>(
    py: Attached<'py>,
    cls: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [data] = call.bind(py, "from_bytes", [c"data"], 1)?;
    let data = data.ok_or(PyErrSet)?;
    // Held (and released, attached) around the copy; the copy may run detached.
    let view = BytesView::simple(py, data)?;
    let bytes = view.as_bytes();
    let memory = if bytes.len() > DETACH_COPY {
        detached(py, || SharedMemory::from_bytes(bytes))
    } else {
        SharedMemory::from_bytes(bytes)
    }
    .map_err(|e| alloc_error(py, e))?;
    drop(view);
    let handle = Handle::Buffer(SharedBuffer::new(Arc::new(memory)));
    // SAFETY: a class method of the (final) SharedBuffer type: `cls` is that type.
    unsafe { new_object(py, cls.as_ptr().cast(), handle) }
}

fn from_fd<'py>(
    py: Attached<'py>,
    cls: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [fd, size, ro] = call.bind(py, "_from_fd", [c"fd", c"size", c"readonly"], 2)?;
    let fd = args::int(py, "fd", fd.ok_or(PyErrSet)?)?;
    let fd = i32::try_from(fd).map_err(|_| err::value_error(py, "fd out of range"))?;
    let size = args::count(py, "size", size.ok_or(PyErrSet)?)?;
    let readonly = args::truth(ro, false)?;
    let memory = SharedMemory::from_dup(fd, size).map_err(|e| alloc_error(py, e))?;
    let mut buffer = SharedBuffer::new(Arc::new(memory));
    if readonly {
        buffer = buffer.to_readonly();
    }
    // SAFETY: a class method of the (final) SharedBuffer type: `cls` is that type.
    unsafe { new_object(py, cls.as_ptr().cast(), Handle::Buffer(buffer)) }
}

fn fd<'py>(py: Attached<'py>, b: &SharedBuffer) -> PyResult<Owned<'py>> {
    use std::os::fd::AsRawFd;
    new_int(py, i64::from(b.memory().fd().as_raw_fd()))
}

fn readonly<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    let ro = buffer_of(py, slf)?.to_readonly();
    // SAFETY: `slf` is a SharedBuffer, so its type is this interpreter's SharedBuffer type.
    unsafe { new_object(py, slf.type_ptr(), Handle::Buffer(ro)) }
}

fn nbytes<'py>(py: Attached<'py>, b: &SharedBuffer) -> PyResult<Owned<'py>> {
    new_int(py, b.len() as i64)
}

fn writable<'py>(py: Attached<'py>, b: &SharedBuffer) -> PyResult<Owned<'py>> {
    Ok(boolean(py, !b.is_readonly()))
}

fn shares<'py>(py: Attached<'py>, b: &SharedBuffer) -> PyResult<Owned<'py>> {
    new_int(py, Arc::strong_count(b.memory()) as i64)
}

unsafe extern "C" fn buffer_get(slf: *mut PyObject, view: *mut Py_buffer, flags: c_int) -> c_int {
    guard_c(-1, |py| {
        // SAFETY: the object CPython asks a buffer of, alive for the call.
        let slf = unsafe { Borrowed::from_ptr(py, slf) };
        let b = buffer_of(py, slf)?;
        // SAFETY: `view` is the Py_buffer CPython passed to this bf_getbuffer, and
        // `buffer_release` (this type's bf_releasebuffer) releases it with the same owner
        // type; the memory is valid for `len` bytes while its Arc (the owner) lives, and
        // writable unless the handle is read-only (FillInfo then refuses a writable view).
        unsafe {
            ffi_buffer::export(
                view,
                slf,
                b.memory().clone(),
                b.memory().as_ptr(),
                b.len(),
                b.is_readonly(),
                flags,
            )
        }?;
        Ok(0)
    })
}

unsafe extern "C" fn buffer_release(_slf: *mut PyObject, view: *mut Py_buffer) {
    guard_c((), |_py| {
        // SAFETY: `view` was filled by `buffer_get` with an `Arc<SharedMemory>` owner.
        unsafe { ffi_buffer::release_export::<SharedMemory>(view) };
        Ok(())
    })
}

unsafe extern "C" fn buffer_len(slf: *mut PyObject) -> Py_ssize_t {
    guard_c(-1, |py| {
        // SAFETY: the object CPython asks the length of, alive for the call.
        let slf = unsafe { Borrowed::from_ptr(py, slf) };
        Ok(buffer_of(py, slf)?.len() as Py_ssize_t)
    })
}

/// What a subscript key is, with bytearray's rules and errors.
enum Key {
    /// An index, made non-negative and checked against the length.
    Index(isize),
    /// A slice (handled by the memoryview).
    Slice,
}

/// Classify `key` for a buffer of `len` bytes: `IndexError: SharedBuffer index out of
/// range` and `TypeError: SharedBuffer indices must be integers or slices, not T`, as
/// bytearray words them.
fn key_of(py: Attached<'_>, key: Borrowed<'_, '_>, len: usize) -> PyResult<Key> {
    if key.is_slice() {
        return Ok(Key::Slice);
    }
    if !key.is_index() {
        return Err(err::type_error(
            py,
            &format!(
                "SharedBuffer indices must be integers or slices, not {}",
                err::type_name(py, key)
            ),
        ));
    }
    // Too large values raise IndexError.
    let i = key.index_as_isize()?;
    let len = len as isize;
    let i = if i < 0 { i + len } else { i };
    if !(0..len).contains(&i) {
        return Err(err::index_error(py, "SharedBuffer index out of range"));
    }
    Ok(Key::Index(i))
}

unsafe extern "C" fn buffer_getitem(slf: *mut PyObject, key: *mut PyObject) -> *mut PyObject {
    guard(|py| {
        // SAFETY: the object CPython subscripts and the key, alive for the call.
        let (slf, key) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, key)) };
        let b = buffer_of(py, slf)?;
        if let Key::Index(i) = key_of(py, key, b.len())? {
            // SAFETY: `i` is within the `len` bytes of the live shared memory.
            let byte = unsafe { *b.as_ptr().add(i as usize) };
            return new_int(py, i64::from(byte));
        }
        let view = ScopedView::new(py, slf)?;
        let item = view.get().get_item(key)?;
        // A slice of the memoryview: copy it out as bytes (as bytearray gives a copy).
        item.borrow().bytes()
    })
}

unsafe extern "C" fn buffer_setitem(
    slf: *mut PyObject,
    key: *mut PyObject,
    value: *mut PyObject,
) -> c_int {
    guard_c(-1, |py| {
        if value.is_null() {
            return Err(err::type_error(
                py,
                "SharedBuffer has a fixed size: items cannot be deleted",
            ));
        }
        // SAFETY: the object CPython assigns into, the key and the value, alive for the call
        // (`value` is non-NULL: checked above).
        let (slf, key, value) = unsafe {
            (
                Borrowed::from_ptr(py, slf),
                Borrowed::from_ptr(py, key),
                Borrowed::from_ptr(py, value),
            )
        };
        let b = buffer_of(py, slf)?;
        if b.is_readonly() {
            return Err(err::type_error(py, "this SharedBuffer handle is read-only"));
        }
        let len = b.len();
        match key_of(py, key, len)? {
            Key::Index(i) => {
                // bytearray's rules: an int (or __index__) in range(0, 256).
                // TypeError if not an integer.
                let v = value.index()?;
                let byte = args::int(py, "byte", v.borrow())
                    .ok()
                    .and_then(|v| u8::try_from(v).ok());
                let Some(byte) = byte else {
                    err::clear(py);
                    return Err(err::value_error(py, "byte must be in range(0, 256)"));
                };
                // SAFETY: `i` is within the `len` bytes of the live, writable memory;
                // unsynchronised byte writes are the documented contract.
                unsafe { *b.memory().as_ptr().add(i as usize) = byte };
                Ok(0)
            }
            Key::Slice => {
                let view = ScopedView::new(py, slf)?;
                // The memoryview checks ranges and sizes.
                if view.get().set_item(key, value).is_err() {
                    if err::value_error_is_set(py) {
                        err::clear(py); // replaced by ours below
                        return Err(err::value_error(
                            py,
                            &format!(
                                "SharedBuffer has a fixed size ({len} bytes): a slice \
                                 assignment must not change its length"
                            ),
                        ));
                    }
                    return Err(PyErrSet);
                }
                Ok(0)
            }
        }
    })
}

unsafe extern "C" fn buffer_iter(slf: *mut PyObject) -> *mut PyObject {
    guard(|py| {
        // `iter(memoryview(buf))`: the iterator keeps the view (and so the memory) alive
        // until it is dropped; the view is not released early (unlike `View`).
        // SAFETY: the live SharedBuffer CPython iterates, alive for the call.
        let slf = unsafe { Borrowed::from_ptr(py, slf) };
        ffi_buffer::memoryview(py, slf)?.borrow().iter()
    })
}
