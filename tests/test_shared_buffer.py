"""manygil.SharedBuffer: Rust-owned memory, the same bytes in every interpreter."""

from __future__ import annotations

import struct

import handle_helpers as hh
import helpers
import manygil
import pytest


def test_zeroed_size_and_buffer_protocol():
    b = manygil.SharedBuffer(16)
    assert len(b) == b.nbytes == 16 and b.writable
    assert bytes(b) == b"\0" * 16
    m = memoryview(b)
    assert (m.format, m.itemsize, m.nbytes, m.readonly, m.contiguous) == ("B", 1, 16, False, True)
    m[0] = 7
    b[1] = 8
    b[2:4] = b"ab"
    struct.pack_into("<I", b, 4, 0xDEADBEEF)
    assert b[0] == 7 and b[1:4] == b"\x08ab"
    assert struct.unpack_from("<I", b, 4) == (0xDEADBEEF,)
    assert bytes(m[:2]) == b"\x07\x08"
    m.release()
    assert manygil.SharedBuffer(0).nbytes == 0 and bytes(manygil.SharedBuffer(0)) == b""


def test_bad_sizes():
    with pytest.raises(ValueError):
        manygil.SharedBuffer(-1)
    with pytest.raises(TypeError):
        manygil.SharedBuffer("8")
    with pytest.raises(TypeError):
        manygil.SharedBuffer()
    with pytest.raises((MemoryError, OverflowError)):
        manygil.SharedBuffer(2**62)


def test_from_bytes_and_readonly():
    b = manygil.SharedBuffer.from_bytes(b"hello")
    assert bytes(b) == b"hello"
    assert bytes(manygil.SharedBuffer.from_bytes(bytearray(b"xy"))) == b"xy"
    assert bytes(manygil.SharedBuffer.from_bytes(memoryview(b"abc")[1:])) == b"bc"
    with pytest.raises(TypeError):
        manygil.SharedBuffer.from_bytes("text")
    ro = b.readonly()
    assert not ro.writable and memoryview(ro).readonly
    assert ro != b and ro == ro and b.readonly() == ro
    with pytest.raises(TypeError):
        ro[0] = 1
    with pytest.raises(TypeError):
        memoryview(ro)[0] = 1
    with pytest.raises(TypeError):
        struct.pack_into("B", ro, 0, 1)
    b[0:1] = b"j"
    assert bytes(ro) == b"jello", "same memory"


OPS = {
    "index past the end": lambda x: x[len(x)],
    "negative index past the start": lambda x: x[-len(x) - 1],
    "store past the end": lambda x: x.__setitem__(len(x), 1),
    "store a value over 255": lambda x: x.__setitem__(0, 256),
    "store a negative value": lambda x: x.__setitem__(0, -1),
    "store a str": lambda x: x.__setitem__(0, "a"),
    "unpack past the end": lambda x: struct.unpack_from("<I", x, len(x) - 2),
    "pack past the end": lambda x: struct.pack_into("<Q", x, len(x) - 4, 1),
    "unpack at a negative offset": lambda x: struct.unpack_from("<I", x, -len(x) - 1),
    "index with a str": lambda x: x["a"],
}


@pytest.mark.parametrize("op", OPS, ids=list(OPS))
def test_out_of_range_errors_match_bytearray(op):
    fn = OPS[op]
    with pytest.raises(Exception) as expected:
        fn(bytearray(8))
    with pytest.raises(Exception) as got:
        fn(manygil.SharedBuffer(8))
    assert isinstance(got.value, type(expected.value)), (got.value, expected.value)


MESSAGE_OPS = [
    "index past the end",
    "negative index past the start",
    "store past the end",
    "store a value over 255",
    "store a negative value",
    "store a str",
    "index with a str",
]


@pytest.mark.parametrize("op", MESSAGE_OPS)
def test_index_errors_read_like_bytearray(op):
    fn = OPS[op]
    with pytest.raises(Exception) as expected:
        fn(bytearray(8))
    with pytest.raises(Exception) as got:
        fn(manygil.SharedBuffer(8))
    assert str(got.value) == str(expected.value).replace("bytearray", "SharedBuffer")


def test_slices_past_the_end_are_short_like_bytearray():
    b = manygil.SharedBuffer.from_bytes(b"abcdef")
    assert b[4:100] == bytes(bytearray(b"abcdef")[4:100]) == b"ef"
    assert b[::2] == b"ace" and b[-2:] == b"ef"
    assert list(b) == list(b"abcdef") and bool(b) and not manygil.SharedBuffer(0)
    with pytest.raises(ValueError):
        b[0:2] = b"xyz"  # fixed size: no resizing
    with pytest.raises(TypeError):
        del b[0]


def test_same_bytes_in_every_interpreter(two_interps):
    a, c = two_interps
    b = manygil.SharedBuffer(32)
    assert a.call(hh.buffer_write, b, 0, b"from a") == 32
    assert bytes(b[:6]) == b"from a"
    b[8:14] = b"main.."
    assert c.call(hh.buffer_read, b, 8, 6) == b"main.."
    a.prepare_main(buf=b)
    a.exec("buf[16:20] = b'kept'")
    c.call(hh.buffer_pack, b, "<d", 24, 2.5)
    assert bytes(b[16:20]) == b"kept" and struct.unpack_from("<d", b, 24) == (2.5,)
    assert a.call(hh.main_attr, "buf") == b, "the same buffer comes back"
    ro = b.readonly()
    with pytest.raises(manygil.ExecutionFailed, match="TypeError"):
        c.call(hh.buffer_write, ro, 0, b"x")  # read-only travels as read-only


def test_passing_is_by_reference_not_copy(interp):
    big = manygil.SharedBuffer(64 << 20)
    big[-1] = 42
    interp.call(hh.keep_in_main, "big", big)
    assert big._shares == 2, "the interpreter holds the same memory, not a copy"
    interp.call(hh.buffer_write, big, (64 << 20) - 2, b"\x07")
    assert big[-2:] == b"\x07\x2a"
    interp.call(hh.drop_from_main, "big")
    assert big._shares == 1


@pytest.mark.parametrize(
    "order",
    ["main handle first", "interp handle first", "views first", "view outlives every handle"],
)
def test_memory_lives_until_the_last_handle_and_view(two_interps, order):
    a, c = two_interps
    b = manygil.SharedBuffer(1 << 16)
    b[:4] = b"live"
    a.call(hh.keep_in_main, "h", b)
    # Main's handle, a's handle and view, the argument object and the encoded arguments.
    assert a.call(hh.hold_view, "v", b) == 5
    c.call(hh.keep_in_main, "h", b)
    c.call(hh.hold_view, "v", b)
    main_view = memoryview(b)
    # Per interpreter: its handle, its view, and the (argument) handle the view keeps alive.
    assert b._shares == 1 + 3 + 3 + 1
    if order == "main handle first":
        del b
        a.call(hh.drop_from_main, "h")
        c.call(hh.drop_from_main, "h")
    elif order == "interp handle first":
        a.call(hh.drop_from_main, "h")
        c.call(hh.drop_from_main, "h")
        assert b._shares == 6
        del b
    elif order == "views first":
        a.call(hh.release_view, "v")
        c.call(hh.release_view, "v")
        main_view.release()
        assert b._shares == 3
        a.call(hh.drop_from_main, "h")
        c.call(hh.drop_from_main, "h")
        assert b._shares == 1 and bytes(b[:4]) == b"live"
        return
    else:
        a.call(hh.drop_from_main, "h")
        c.call(hh.drop_from_main, "h")
        c.call(hh.release_view, "v")
        del b
    # No handle is left anywhere: the views alone keep the memory alive and shared.
    assert a.call(hh.read_view, "v", 0, 4) == b"live"
    a.call(hh.write_view, "v", 0, b"LIVE")
    assert bytes(main_view[:4]) == b"LIVE"
    if order != "view outlives every handle":
        assert c.call(hh.read_view, "v", 0, 4) == b"LIVE"
        c.call(hh.release_view, "v")
    main_view.release()
    assert a.call(hh.read_view, "v", 0, 4) == b"LIVE", "the last view, in another interpreter"
    a.call(hh.release_view, "v")


def test_buffer_through_a_queue_and_identity(interp):
    b = manygil.SharedBuffer(8)
    q = manygil.Queue()
    q.put(b)
    got = q.get()
    assert got == b and hash(got) == hash(b) and got is not b
    got[0] = 1
    assert b[0] == 1
    assert "size=8" in repr(b) and "readonly" in repr(b.readonly())


def test_numpy_sees_the_shared_memory():
    np = pytest.importorskip("numpy")
    b = manygil.SharedBuffer(8 * 4)
    a = np.frombuffer(b, dtype=np.float64)
    a[:] = [1.0, 2.0, 3.0, 4.0]
    assert struct.unpack_from("<4d", b) == (1.0, 2.0, 3.0, 4.0)
    del a


# --- shared with other processes (memfd + MAP_SHARED; pickling sends the descriptor) ----


def _spawn_pool():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))


def test_pickling_shares_the_memory_instead_of_copying():
    import pickle

    b = manygil.SharedBuffer(16)
    again = pickle.loads(pickle.dumps(b))
    again[3] = 9
    assert b[3] == 9, "the same memory, mapped twice"
    ro = pickle.loads(pickle.dumps(b.readonly()))
    assert not ro.writable and ro[3] == 9


def test_a_process_writes_the_same_memory():
    import ext_helpers

    b = manygil.SharedBuffer(64)
    b[0:4] = b"main"
    with _spawn_pool() as ex:
        assert ex.submit(ext_helpers.write_byte, b, 1, ord("A")).result(timeout=120) == b"mAin"
    assert bytes(b[:4]) == b"mAin"


def test_memory_made_in_a_process_outlives_it():
    import ext_helpers

    with _spawn_pool() as ex:
        b = ex.submit(ext_helpers.new_buffer, b"from the child").result(timeout=120)
    # The child process has exited; the parent's mapping keeps the memory.
    assert bytes(b) == b"from the child"
    b[0:4] = b"FROM"
    assert bytes(b[:4]) == b"FROM"


def test_from_fd_rejects_bad_descriptors():
    with pytest.raises(OSError):
        manygil.SharedBuffer._from_fd(-1, 8)
    b = manygil.SharedBuffer(8)
    with pytest.raises(ValueError, match="fewer than"):
        manygil.SharedBuffer._from_fd(b._fd(), 1 << 20)


# --- issue 23, item 9: another process can neither resize the memory nor write a read-only one


def test_another_process_cannot_resize_a_buffer_or_write_through_a_read_only_one():
    import concurrent.futures as cf
    import errno
    import multiprocessing

    buf = manygil.SharedBuffer(4096)
    buf[0:3] = b"abc"
    ctx = multiprocessing.get_context("forkserver")
    with cf.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        # Writable handle: the size is sealed (a shrink used to make this process die of
        # SIGBUS on its next access); writing through it is allowed.
        (shrink, write), writable, head = ex.submit(helpers.resize_or_write, buf).result(60)
        assert shrink == errno.EPERM and write is None and writable and head == b"Xbc"
        assert bytes(buf[0:3]) == b"Xbc", "the process wrote through its writable mapping"
        # Read-only handle: the process gets a descriptor that cannot write.
        (shrink, write), writable, head = ex.submit(helpers.resize_or_write, buf.readonly()).result(
            60
        )
        assert shrink in (errno.EPERM, errno.EINVAL, errno.EBADF)
        assert write == errno.EACCES and not writable and head == b"Xbc"
    assert bytes(buf[0:3]) == b"Xbc" and len(buf) == 4096
