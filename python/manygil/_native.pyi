"""Type stubs of ``manygil._native``, checked against the built module by ``mypy.stubtest``
(``make test``), and the contract of each function and method: its arguments, what it
returns, what it raises and what blocks for how long.

Conventions that hold throughout:

- Blocking calls release the GIL while they wait. In the main thread of the main
  interpreter Ctrl-C interrupts them (``KeyboardInterrupt``, within about 20 ms); in an
  interpreter made by manygil they also end when the interpreter's job is interrupted (a
  call's timeout, a cancelled task, process exit), within about 100 ms.
- ``timeout`` arguments are seconds (int or float). Where ``None`` is accepted it means
  no limit, and so does a timeout too large to represent (``float("inf")``). Negative or
  NaN timeouts raise ``ValueError``, except where a method follows ``threading`` (then a
  negative timeout means "do not wait", and ``-1`` forever where ``threading`` says so).
- Integer arguments are ``int`` or objects with ``__index__``, never ``bool``
  (``TypeError``); a value outside the 64-bit range raises ``OverflowError`` naming the
  argument.
- Objects sent to another interpreter (call arguments and results, queue items, cache
  values) are copied through manygil's codec before anything is sent: one that cannot be
  raises ``NotShareableError``, one too large to copy ``MemoryError``.
- A wrong number of arguments, or an unknown keyword, raises ``TypeError`` as a Python
  function would.
"""

import queue as _stdqueue
from collections.abc import Awaitable, Buffer, Callable, Iterable, Iterator
from typing import Any, Literal, Self, TypeVar, final

_T = TypeVar("_T")

class InterpreterError(Exception):
    """A manygil interpreter cannot do what was asked (e.g. closing a running one)."""

class InterpreterNotFoundError(InterpreterError):
    """The interpreter does not exist (any more), or was not created by manygil."""

class NotShareableError(TypeError):
    """An object cannot be sent to another interpreter; raised before anything is sent."""

class QueueError(Exception):
    """Base class of the errors of ``Queue`` operations."""

class QueueEmpty(QueueError, _stdqueue.Empty):
    """``get(block=False)``, ``get_nowait()`` or ``get(timeout=...)`` found no item."""

class QueueFull(QueueError, _stdqueue.Full):
    """``put(block=False)``, ``put_nowait()`` or ``put(timeout=...)`` found no room."""

class QueueClosed(QueueError, _stdqueue.ShutDown):
    """The queue was closed: raised by every put, and by gets once it is drained."""

@final
class Queue:
    """A FIFO queue shared by every interpreter and thread of the process.

    Items are copied through the codec when put (so an unshareable item raises before the
    queue changes) and rebuilt in the interpreter that gets them; manygil handles travel
    as themselves. Passing the queue to another interpreter gives it the same queue.
    """

    def __new__(cls, maxsize: int = 0) -> Self:
        """Make an empty queue.

        Args:
            maxsize: at most this many items (``put`` blocks while full); 0: unbounded.

        Raises:
            ValueError: ``maxsize`` is negative.
        """
    @property
    def maxsize(self) -> int:
        """The capacity given at creation (0: unbounded)."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called, in any interpreter."""
    @property
    def _getters_waiting(self) -> int:
        """Threads blocked in ``get()`` now, in every interpreter (for tests)."""
    @property
    def _putters_waiting(self) -> int:
        """Threads blocked in ``put()`` now, in every interpreter (for tests)."""
    @property
    def _n_subscribed(self) -> int:
        """Readiness subscriptions for items (``aget``, ``_wait_any``) now (for tests)."""
    def put(self, obj: object, block: bool = True, timeout: float | None = None) -> None:
        """Put ``obj`` at the end of the queue.

        Blocks while the queue is full: with ``block`` false not at all, else for at most
        ``timeout`` seconds (``None``: until there is room or the queue is closed). The
        queue is unchanged whenever this raises.

        Raises:
            QueueFull: still full when the wait ends (at once with ``block`` false).
            QueueClosed: the queue is, or becomes while waiting, closed.
            NotShareableError: ``obj`` cannot be sent to another interpreter.
            ValueError: ``timeout`` is negative or NaN.
        """
    def put_nowait(self, obj: object, /) -> None:
        """``put(obj, block=False)``: never blocks; raises as ``put`` does."""
    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the oldest item, rebuilt in this interpreter.

        Blocks while the queue is empty: with ``block`` false not at all, else for at most
        ``timeout`` seconds (``None``: until an item arrives or the queue is closed).

        Raises:
            QueueEmpty: still empty when the wait ends (at once with ``block`` false).
            QueueClosed: the queue is closed and drained (remaining items are returned
                first).
            ValueError: ``timeout`` is negative or NaN.
        """
    def get_nowait(self) -> Any:
        """``get(block=False)``: never blocks; raises as ``get`` does."""
    def qsize(self) -> int:
        """The number of items (a snapshot: other threads may change it at once)."""
    def empty(self) -> bool:
        """Whether the queue holds no item (a snapshot)."""
    def full(self) -> bool:
        """Whether the queue is bounded and holds ``maxsize`` items (a snapshot)."""
    def close(self) -> None:
        """Close the queue in every interpreter; idempotent, never blocks.

        Waiting putters raise ``QueueClosed``; waiting getters get the remaining items,
        then ``QueueClosed``; iteration stops.
        """
    def aget(self) -> Awaitable[Any]:
        """Await the oldest item inside a running asyncio loop, which is never blocked.

        Cancelling the await takes nothing from the queue.

        Raises:
            QueueClosed: as ``get`` does.
        """
    def aput(self, obj: object, /) -> Awaitable[None]:
        """Await room for ``obj`` inside a running asyncio loop, which is never blocked.

        Cancelling the await puts nothing.

        Raises:
            QueueClosed: as ``put`` does.
            NotShareableError: ``obj`` cannot be sent to another interpreter.
        """
    def __iter__(self) -> Iterator[Any]:
        """The queue itself: iteration gets items (blocking) until the queue is closed
        and drained."""
    def __next__(self) -> Any:
        """``get()``, blocking without limit; ``StopIteration`` once closed and drained."""
    def _subscribe(self, fd: int, space: bool, /) -> int:
        """Write 8 bytes (an eventfd increment) to a duplicate of ``fd`` after every put
        (``space`` false) or get (``space`` true), and at close; returns an id for
        ``_unsubscribe``. Never blocks.

        Raises:
            ValueError: ``fd`` is negative or too large.
            OSError: ``fd`` cannot be duplicated (not open).
        """
    def _unsubscribe(self, id: int, /) -> bool:
        """Undo ``_subscribe`` (closing the duplicate); whether the subscription existed."""
    @staticmethod
    def _wait_any(queues: Iterable[Queue], timeout: float | None = None, /) -> int | None:
        """Block until one of ``queues`` has an item or is closed, for at most ``timeout``
        seconds (``None``: no limit).

        Returns:
            The index of the first such queue, or ``None`` at the timeout.

        Raises:
            TypeError: an item is not a ``Queue``, or ``queues`` is not iterable.
            ValueError: ``queues`` is empty, or ``timeout`` is negative or NaN.
        """

@final
class SharedBuffer(Buffer):
    """Fixed-size memory owned by manygil, shared by every interpreter (and, pickled, by
    processes started by multiprocessing), exposed through the buffer protocol.

    ``buf[i]``, ``buf[a:b]`` (bytes) and ``buf[a:b] = data`` work as on a ``bytearray`` of
    fixed size. Writes are not synchronised: coordinate them with a ``Lock``, a ``Queue``
    message or an ``Event``. Nothing here blocks but copies larger than 1 MiB (GIL
    released meanwhile).
    """

    def __new__(cls, size: int) -> Self:
        """``size`` zero bytes.

        Raises:
            ValueError: ``size`` is negative.
            MemoryError: the memory cannot be allocated.
            OSError: the memory file cannot be made.
        """
    @classmethod
    def from_bytes(cls, data: Buffer, /) -> SharedBuffer:
        """A new buffer holding a copy of ``data`` (any C-contiguous bytes-like object).

        Raises:
            TypeError: ``data`` does not support the buffer protocol.
            MemoryError: the memory cannot be allocated.
            OSError: the memory file cannot be made.
        """
    @classmethod
    def _from_fd(cls, fd: int, size: int, readonly: bool = False, /) -> SharedBuffer:
        """A buffer on the memory file ``fd`` (duplicated; ``fd`` stays the caller's), as
        sent by another process: the same bytes. For unpickling.

        Raises:
            ValueError: ``fd`` or ``size`` is out of range.
            OSError: ``fd`` cannot be duplicated or mapped.
        """
    def _fd(self) -> int:
        """The memory file's descriptor, valid while this buffer lives (do not close it)."""
    def readonly(self) -> SharedBuffer:
        """A read-only handle on the same memory (writes through it raise ``TypeError``);
        it travels to other interpreters and processes as read-only."""
    @property
    def nbytes(self) -> int:
        """The size in bytes."""
    @property
    def writable(self) -> bool:
        """False for a handle made by ``readonly()``."""
    @property
    def _shares(self) -> int:
        """References to the memory in the process (handles, views, values in transit)."""
    def __len__(self) -> int:
        """The size in bytes."""
    def __getitem__(self, key: int | slice, /) -> Any:
        """The byte at ``key`` (an int) or a copy of the slice (bytes).

        Raises:
            IndexError: the index is out of range.
            TypeError: ``key`` is neither an integer nor a slice.
        """
    def __setitem__(self, key: int | slice, value: Any, /) -> None:
        """Set one byte, or a slice to bytes of the same length.

        Raises:
            TypeError: this handle is read-only, or ``value`` is of the wrong type.
            ValueError: a byte outside ``range(256)``, or a slice assignment that would
                change the length.
            IndexError: the index is out of range.
        """
    def __buffer__(self, flags: int, /) -> memoryview:
        """A view of the memory (writable unless the handle is read-only: ``BufferError``
        if a writable view of a read-only handle is asked)."""

@final
class Lock:
    """A lock shared by every interpreter and thread, with ``threading.Lock``'s API; any
    thread of any interpreter may release it."""

    def __new__(cls) -> Self: ...
    def acquire(self, blocking: bool = True, timeout: float | None = -1) -> bool:
        """Acquire the lock; return whether it was acquired.

        Blocks while another party holds it: with ``blocking`` false not at all, else for
        at most ``timeout`` seconds (-1 or ``None``: no limit).

        Raises:
            ValueError: a timeout with ``blocking`` false, or a negative timeout other
                than -1.
        """
    def release(self) -> None:
        """Release the lock, from any thread or interpreter; never blocks.

        Raises:
            RuntimeError: the lock is not held.
        """
    def locked(self) -> bool:
        """Whether the lock is held (a snapshot)."""
    @property
    def _n_waiting(self) -> int:
        """Threads blocked in ``acquire()`` now, in every interpreter (for tests)."""
    def __enter__(self) -> bool:
        """``acquire()``."""
    def __exit__(self, *exc: object) -> None:
        """``release()``."""

@final
class RLock:
    """A reentrant lock shared by every interpreter and thread, with ``threading.RLock``'s
    API: its owner is a thread of one interpreter, which may acquire it again and must
    release it as many times."""

    def __new__(cls) -> Self: ...
    def acquire(self, blocking: bool = True, timeout: float | None = -1) -> bool:
        """Acquire the lock, or add a level if this thread holds it; return whether it did.

        Blocks while another thread (of any interpreter) holds it, as ``Lock.acquire``.

        Raises:
            ValueError: as ``Lock.acquire``.
        """
    def release(self) -> None:
        """Release one level; never blocks.

        Raises:
            RuntimeError: the calling thread does not hold the lock.
        """
    def locked(self) -> bool:
        """Whether any thread holds the lock (a snapshot)."""
    def _is_owned(self) -> bool:
        """Whether the calling thread holds the lock."""
    def _recursion_count(self) -> int:
        """How many times the calling thread holds the lock (0: not at all)."""
    @property
    def _n_waiting(self) -> int:
        """Threads blocked in ``acquire()`` now, in every interpreter (for tests)."""
    def __enter__(self) -> bool:
        """``acquire()``."""
    def __exit__(self, *exc: object) -> None:
        """``release()``."""

@final
class Semaphore:
    """A counting semaphore shared by every interpreter and thread, with
    ``threading.Semaphore``'s API."""

    def __new__(cls, value: int = 1) -> Self:
        """A semaphore holding ``value`` units.

        Raises:
            ValueError: ``value`` is negative.
        """
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take one unit; return whether it did.

        Blocks while the value is 0: with ``blocking`` false not at all, else for at most
        ``timeout`` seconds (``None``: no limit; negative: do not wait).

        Raises:
            ValueError: a timeout with ``blocking`` false.
        """
    def release(self, n: int = 1) -> None:
        """Return ``n`` units, waking up to ``n`` waiters; never blocks.

        Raises:
            ValueError: ``n`` < 1.
            OverflowError: the value would pass the largest unsigned 64-bit integer.
        """
    @property
    def _value(self) -> int:
        """The current value (a snapshot)."""
    @property
    def _n_waiting(self) -> int:
        """Threads blocked in ``acquire()`` now, in every interpreter (for tests)."""
    def __enter__(self) -> bool:
        """``acquire()``."""
    def __exit__(self, *exc: object) -> None:
        """``release()``."""

@final
class BoundedSemaphore:
    """A ``Semaphore`` that refuses to be released above its initial value, as
    ``threading.BoundedSemaphore``."""

    def __new__(cls, value: int = 1) -> Self:
        """A semaphore holding ``value`` units, also its maximum.

        Raises:
            ValueError: ``value`` is negative.
        """
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """As ``Semaphore.acquire``."""
    def release(self, n: int = 1) -> None:
        """Return ``n`` units, waking up to ``n`` waiters; never blocks.

        Raises:
            ValueError: ``n`` < 1, or the value would exceed the initial value (nothing
                is released then).
        """
    @property
    def _value(self) -> int:
        """The current value (a snapshot)."""
    @property
    def _n_waiting(self) -> int:
        """Threads blocked in ``acquire()`` now, in every interpreter (for tests)."""
    @property
    def _initial_value(self) -> int:
        """The initial (and maximum) value."""
    def __enter__(self) -> bool:
        """``acquire()``."""
    def __exit__(self, *exc: object) -> None:
        """``release()``."""

@final
class Event:
    """A flag shared by every interpreter and thread, with ``threading.Event``'s API."""

    def __new__(cls) -> Self: ...
    def is_set(self) -> bool:
        """Whether the flag is set."""
    def set(self) -> None:
        """Set the flag and wake every waiter, in every interpreter; never blocks."""
    def clear(self) -> None:
        """Clear the flag; never blocks."""
    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set, for at most ``timeout`` seconds (``None``: no
        limit; negative: do not wait).

        Returns:
            True if the flag is set (or was set during the wait), False on timeout.
        """
    @property
    def _n_waiting(self) -> int:
        """Threads blocked in ``wait()`` now, in every interpreter (for tests)."""

@final
class Condition:
    """A condition variable shared by every interpreter and thread, with
    ``threading.Condition``'s API, over a ``Lock`` or ``RLock`` that may be shared."""

    def __new__(cls, lock: Lock | RLock | None = None) -> Self:
        """A condition over ``lock`` (``None``: a new ``RLock``).

        Raises:
            TypeError: ``lock`` is neither a manygil ``Lock`` nor ``RLock``.
        """
    def acquire(self, blocking: bool = True, timeout: float | None = -1) -> bool:
        """Acquire the underlying lock; blocks and raises as ``Lock.acquire``."""
    def release(self) -> None:
        """Release the underlying lock; raises as its ``release`` does."""
    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, block until notified, for at most ``timeout`` seconds
        (``None``: no limit), then re-acquire the lock (waiting for it without limit,
        even after Ctrl-C, as ``threading`` does).

        Returns:
            False on timeout, else True.

        Raises:
            RuntimeError: the caller does not hold the lock.
        """
    def wait_for(self, predicate: Callable[[], _T], timeout: float | None = None) -> _T:
        """``wait()`` until ``predicate()`` is true, for at most ``timeout`` seconds in
        all; return the last result of ``predicate()``.

        Raises:
            RuntimeError: the caller does not hold the lock.
            Exception: whatever ``predicate()`` raises.
        """
    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` waiters (in any interpreter), oldest first; never blocks.

        Raises:
            RuntimeError: the caller does not hold the lock.
        """
    def notify_all(self) -> None:
        """Wake every waiter; never blocks.

        Raises:
            RuntimeError: the caller does not hold the lock.
        """
    def _is_owned(self) -> bool:
        """Whether the caller holds the lock."""
    @property
    def _n_waiting(self) -> int:
        """Threads blocked in ``wait()`` for a notify now, in every interpreter (for
        tests)."""
    def __enter__(self) -> bool:
        """``acquire()``."""
    def __exit__(self, *exc: object) -> None:
        """``release()``."""

@final
class Barrier:
    """A reusable barrier for ``parties`` threads in any interpreters, with
    ``threading.Barrier``'s API (without ``action``)."""

    def __new__(cls, parties: int, action: None = None, timeout: float | None = None) -> Self:
        """A barrier for ``parties`` callers of ``wait()``.

        Args:
            timeout: the default of ``wait()`` (``None``: no limit).

        Raises:
            ValueError: ``parties`` < 1, an ``action`` is given (run it where ``wait()``
                returned 0), or ``timeout`` is NaN.
        """
    def wait(self, timeout: float | None = None) -> int:
        """Block until ``parties`` callers have arrived, for at most ``timeout`` seconds
        (``None``: the barrier's default); Ctrl-C leaves the barrier intact.

        Returns:
            This caller's arrival index, 0 to ``parties - 1``.

        Raises:
            threading.BrokenBarrierError: the wait timed out (which breaks the barrier),
                or the barrier is or becomes broken or reset while waiting.
        """
    def reset(self) -> None:
        """Return the barrier to its initial state; current waiters raise
        ``BrokenBarrierError``. Never blocks."""
    def abort(self) -> None:
        """Break the barrier: current and later waits raise ``BrokenBarrierError`` until
        ``reset()``. Never blocks."""
    @property
    def parties(self) -> int:
        """The number of parties required."""
    @property
    def n_waiting(self) -> int:
        """The number of parties waiting now."""
    @property
    def broken(self) -> bool:
        """Whether the barrier is broken."""

@final
class AtomicInt:
    """A signed 64-bit integer shared by every interpreter and thread, changed
    atomically; nothing here blocks or takes a lock."""

    def __new__(cls, value: int = 0) -> Self:
        """Raises ``OverflowError`` if ``value`` does not fit in 64 bits."""
    def get(self) -> int:
        """The current value."""
    def set(self, value: int, /) -> None:
        """Store ``value`` (``OverflowError`` if it does not fit in 64 bits)."""
    def add(self, delta: int = 1, /) -> int:
        """Add ``delta`` (may be negative) and return the new value.

        Raises:
            OverflowError: ``delta`` or the sum does not fit in 64 bits (the value is
                then unchanged).
        """
    def swap(self, value: int, /) -> int:
        """Store ``value`` and return the previous one."""
    def compare_exchange(self, expected: int, new: int, /) -> tuple[bool, int]:
        """Store ``new`` if the value is ``expected``.

        Returns:
            ``(True, expected)`` if it was stored, else ``(False, actual value)``.
        """

# --- interpreters, calls and the codec (interp/api.rs, interp/calls.rs) ---------------------

WHENCE_UNKNOWN: int
WHENCE_RUNTIME: int
WHENCE_MANYGIL: int

_Outcome = tuple[bool, Any]
"""``(True, result)``, or ``(False, record)`` where ``record`` describes the exception the
code raised: ``(name, qualname, module, message, formatted traceback, error display,
pickled exception or None)``, which ``manygil._wire.remote.rebuild`` turns into an exception.
A job that was interrupted reports the interrupt: ``TimeoutError`` (its timeout),
``CancelledError``, ``KeyboardInterrupt`` (Ctrl-C in the caller) or ``SystemExit`` (the
interpreter was closed)."""

# An interpreter's settings, in manygil._config.FIELDS order: (gil ("own"/"shared"),
# use_main_obmalloc, check_multi_interp_extensions, allow_fork, allow_exec, allow_threads,
# allow_daemon_threads).
_ConfigValues = tuple[str, bool, bool, bool, bool, bool, bool]

def create(
    sys_path: list[str] | None = None,
    name: str | None = None,
    origin: str | None = None,
    config: _ConfigValues | None = None,
    /,
) -> int:
    """Make an interpreter on a thread of its own and return its id.

    Blocks (GIL released) while the interpreter is created.

    Args:
        sys_path: the new interpreter's ``sys.path`` (``None``: its default).
        name: its name in snapshots and logs (``None``: ``interpreter-<id>``).
        origin: which part of manygil makes it: ``"create"`` (the default), ``"pool"``
            or ``"serve"``.
        config: its settings (``None``: "isolated", an own GIL), checked as
            :func:`check_config` does before anything is created.

    Raises:
        TypeError: ``sys_path`` is not a list, ``name`` or ``origin`` not a str, or
            ``config`` not a settings tuple of the right types.
        ValueError: ``name`` is empty, longer than 200 characters or has a control
            character; ``origin`` is not one of those above; ``config`` is a combination
            CPython refuses.
        NotShareableError: an item of ``sys_path`` is not a plain value.
        InterpreterError: the interpreter could not be created.
    """

def check_config(values: _ConfigValues, /) -> None:
    """Check interpreter settings without creating anything (``InterpreterConfig`` calls
    it when made). Never blocks.

    Raises:
        TypeError: not a tuple of 7, ``gil`` not a str, or a flag not a bool; the message
            names the field.
        ValueError: ``gil`` is not "own" or "shared", or the combination is one CPython
            refuses (own GIL with the main allocator or without the extension check; no
            extension check with an allocator of its own).
    """

def interpreter_config(id: int, /) -> _ConfigValues | None:
    """The settings interpreter ``id`` was created with (pool workers included), or
    ``None`` for the main interpreter. Never blocks.

    Raises:
        InterpreterNotFoundError: ``id`` is no live manygil interpreter.
    """

def interp_info(id: int, /) -> tuple[str, str, str] | None:
    """``(name, origin, thread name)`` of interpreter ``id`` (``("main", "main",
    "MainThread")`` for the main one), or ``None`` if manygil does not know it. Never
    blocks."""

def inspect(ids: list[int], timeout: float | None, /) -> list[dict[str, Any]]:
    """A snapshot of each manygil interpreter in ``ids`` that still exists: ``id``,
    ``name``, ``origin``, ``thread``, ``task`` (None or ``id``, ``function``,
    ``running_for``), ``answered``, ``note``, ``threads`` (None or dicts with ``name``,
    ``frames`` as ``(file, line, function)`` outermost first, ``omitted``). Waits at most
    ``timeout`` seconds in all, GIL released."""

def set_thread_name(name: str, /) -> None:
    """Name the calling OS thread (the first 15 bytes are kept, as Linux allows).

    Raises:
        TypeError: ``name`` is not a str.
    """

def destroy(id: int, /) -> None:
    """End interpreter ``id`` and join its thread, blocking (GIL released) until it has
    ended.

    Raises:
        InterpreterError: ``id`` is the current interpreter, the main one, or one of the
            parent process (after ``fork``), or it is running a job.
        InterpreterNotFoundError: there is no such interpreter made by manygil.
    """

def release(id: int, /) -> None:
    """Close interpreter ``id`` once its queued work is done, without waiting (its owner
    was dropped). A no-op for a closed or unknown interpreter, or the current one."""

def list_all() -> list[tuple[int, int]]:
    """``(id, whence)`` of the main interpreter, every manygil interpreter and the
    current one."""

def get_current() -> tuple[int, int]:
    """``(id, whence)`` of the interpreter the caller runs in."""

def get_main() -> tuple[int, int]:
    """``(id, whence)`` of the main interpreter: ``(0, WHENCE_RUNTIME)``."""

def whence(id: int, /) -> int:
    """Where interpreter ``id`` was created: a ``WHENCE_*`` constant.

    Raises:
        InterpreterNotFoundError: ``id`` is not the main, the current or a manygil
            interpreter.
        InterpreterError: ``id`` belonged to the parent process (after ``fork``).
    """

def is_running(id: int, /) -> bool:
    """Whether interpreter ``id`` is running a job now (the main and the current
    interpreter always are).

    Raises:
        InterpreterNotFoundError: there is no such interpreter made by manygil.
        InterpreterError: ``id`` belonged to the parent process (after ``fork``).
    """

def call(
    id: int,
    callable: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None = None,
    /,
) -> _Outcome:
    """Call ``callable(*args, **kwargs)`` in interpreter ``id`` and wait for it.

    Blocks (GIL released) until the call ends. Past ``timeout`` seconds (``None``: no
    limit) the call is interrupted and reports ``TimeoutError`` (if it does not stop
    within a second, because it is stuck in C code, the outcome is a ``TimeoutError``
    record saying so, and the interpreter stays busy until that code returns). Ctrl-C
    while waiting interrupts the call too, and raises ``KeyboardInterrupt`` here.

    Returns:
        The call's outcome (see ``_Outcome``); an exception raised by ``callable`` is in
        the record, not raised.

    Raises:
        TypeError: ``args`` is not a tuple, ``kwargs`` not a dict, or ``callable`` not
            callable.
        NotShareableError: ``callable`` or an argument cannot be sent.
        InterpreterError: ``id`` is the current interpreter or the main one, or the call
            would deadlock (interpreters waiting on each other in a cycle).
        InterpreterNotFoundError: there is no such interpreter, or it was closed before
            the call completed.
        ValueError: ``timeout`` is negative or NaN.
    """

def exec(id: int, source: str, timeout: float | None = None, /) -> _Outcome:
    """Run ``source`` in the ``__main__`` of interpreter ``id`` and wait for it; blocks,
    times out and raises as ``call`` does.

    Returns:
        ``(True, None)``, or ``(False, record)`` of the exception it raised (a
        ``SyntaxError``, or ``ValueError`` for a NUL character, included).

    Raises:
        TypeError: ``source`` is not a str.
    """

def set_main_attrs(id: int, ns: dict[str, Any], /) -> _Outcome:
    """Bind the items of ``ns`` into the ``__main__`` of interpreter ``id``; blocks and
    raises as ``call`` does (no timeout).

    Raises:
        TypeError: ``ns`` is not a dict.
        NotShareableError: a value cannot be sent.
    """

def submit(
    id: int, callable: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], /
) -> PendingCall:
    """Start ``callable(*args, **kwargs)`` in interpreter ``id`` and return at once.

    Returns:
        A ``PendingCall`` to wait for the outcome.

    Raises:
        TypeError, NotShareableError: as ``call``.
        InterpreterError: ``id`` is the current interpreter or the main one.
        InterpreterNotFoundError: there is no such interpreter, or it was closed.
    """

def interrupt(id: int, /) -> bool:
    """Raise ``KeyboardInterrupt`` in the job interpreter ``id`` runs now; returns whether
    there was one. Blocks (GIL released) until the job reaches a point where Python can
    interrupt it (code stuck in C is not interrupted until it returns).

    Raises:
        InterpreterNotFoundError: there is no such interpreter made by manygil.
        InterpreterError: ``id`` is the main interpreter, or belonged to the parent
            process (after ``fork``).
    """

def is_shareable(obj: object, /) -> bool:
    """Whether ``obj`` crosses interpreters natively (no pickle, no reference)."""

def roundtrip[T](obj: T, /) -> T:
    """``obj`` encoded and decoded again in this interpreter (a codec test helper).

    Raises:
        NotShareableError: ``obj`` cannot be sent to another interpreter.
    """

def shutdown() -> list[int]:
    """Stop every pool (queued tasks still run), then close every manygil interpreter,
    interrupting running jobs: the main interpreter's exit hook.

    Blocks (GIL released) until they have ended, or for 2 seconds after the interrupt for
    those stuck in C code.

    Returns:
        The ids of the interpreters still running then (not joined): empty when the
        process may finalize.

    Raises:
        RuntimeError: not called from the main interpreter.
    """

def after_fork_child() -> None:
    """Forget the interpreters of the parent process (an ``os.register_at_fork`` hook):
    using one of their ids then raises ``InterpreterError``."""

@final
class PendingCall:
    """A call running in another interpreter (from ``submit`` or
    ``PoolCore.submit_chunk``). Any number of threads may wait on it at once."""

    def wait(self, timeout: float | None = None, /) -> _Outcome:
        """Block (GIL released) until the call completes, for at most ``timeout`` seconds
        (``None``: no limit). Ctrl-C while waiting interrupts the call and raises
        ``KeyboardInterrupt`` here.

        Returns:
            The call's outcome (see ``_Outcome``); the same every time it is asked.

        Raises:
            TimeoutError: the call has not completed within ``timeout`` (it goes on).
            InterpreterNotFoundError: the interpreter was closed before the call
                completed.
            ValueError: ``timeout`` is negative or NaN.
        """
    def done(self) -> bool:
        """Whether ``wait()`` would return (or raise) at once; never blocks."""
    def waiting(self) -> int:
        """How many threads are blocked in ``wait()`` on this call now."""
    def interrupt(self) -> bool:
        """Interrupt the call if it is running (it then reports ``CancelledError``);
        returns whether it was. Blocks as ``interrupt()`` does."""

@final
class CacheCore:
    """This interpreter's handle on the process-wide cache ``name`` (``manygil.cache``).

    Never blocks beyond one short lock. ``timeout``: None = the cache's default, seconds,
    or ``inf`` = forever (negative or NaN: ValueError). Keys must be ``str`` (TypeError).
    """

    def __new__(cls, name: str, max_entries: int, default_timeout: float, /) -> CacheCore:
        """Opens (or makes) the cache. Raises ValueError if it exists with other settings
        or ``max_entries`` < 1."""
    def get(self, key: str, default: Any, /) -> Any:
        """A new copy of the value under ``key``, or ``default``."""
    def set(self, key: str, value: Any, timeout: float | None, /) -> None:
        """Stores a copy. Raises NotShareableError if ``value`` cannot be sent."""
    def add(self, key: str, value: Any, timeout: float | None, /) -> bool:
        """Stores only if no live entry is there; returns whether it stored."""
    def delete(self, key: str, /) -> bool:
        """Removes ``key``; returns whether a live entry was there."""
    def touch(self, key: str, timeout: float | None, /) -> bool:
        """New timeout for a live entry; returns whether there was one."""
    def incr(self, key: str, delta: int, /) -> int:
        """Atomic add; raises KeyError (missing), TypeError (not a 64-bit int) or
        OverflowError (the sum does not fit; the entry is unchanged)."""
    def clear(self) -> None:
        """Removes every entry."""
    def stats(self) -> tuple[int, int, int, int, int]:
        """``(entries, hits, misses, evictions, max_entries)``."""

@final
class PoolCore:
    """The native half of ``manygil.Pool``, which keeps the ``Executor`` protocol: the
    workers, the task queue and the counters. Main interpreter only. Dropping it shuts
    the pool down without waiting (queued tasks still run)."""

    def __new__(
        cls,
        workers: int,
        sys_path: list[str],
        initializer: Callable[..., object] | None,
        initargs: tuple[Any, ...],
        max_tasks_per_worker: int | None,
        task_timeout: float | None,
        config: _ConfigValues,
        /,
    ) -> Self:
        """Start a pool of at most ``workers`` interpreters, each made with ``config``
        (see :func:`check_config`); the first is made now (blocking, GIL released), the
        others on demand.

        Raises:
            InterpreterError: not in the main interpreter, or the first worker could not
                be started.
            ValueError: ``workers`` < 1, a negative count or timeout, or ``config`` a
                combination CPython refuses (TypeError: not a settings tuple).
            NotShareableError: ``sys_path``, ``initializer`` or ``initargs`` cannot be
                sent.
        """
    def submit(
        self,
        future: object,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        /,
    ) -> int:
        """Queue ``fn(*args, **kwargs)``; its outcome completes ``future`` (a
        ``concurrent.futures.Future``). Never waits for a worker.

        Returns:
            The task's number (for ``cancel`` and ``is_running``).

        Raises:
            RuntimeError: the pool was shut down.
            manygil.BrokenPool: the pool is broken (an initializer failed).
            TypeError, NotShareableError: as ``call``.
        """
    def submit_chunk(
        self, fn: Callable[..., Any], items: list[tuple[Any, ...]], timeout: float | None, /
    ) -> PendingCall:
        """Queue ``[fn(*a) for a in items]`` as one task (``map``'s chunks).

        Returns:
            A ``PendingCall`` whose outcome is the list of results.

        Raises:
            TypeError: ``items`` is not a list, or ``fn`` is not callable.
            RuntimeError, manygil.BrokenPool, NotShareableError: as ``submit``.
        """
    def cancel(self, seq: int, /) -> bool:
        """Interrupt task ``seq`` if it runs (returns True; it reports
        ``CancelledError``), else skip it when it is dequeued (False). Never waits for it."""
    def cancel_all(self, interrupt: bool, /) -> None:
        """Cancel every task queued now (each is skipped when dequeued and its future
        cancelled), and, if ``interrupt``, interrupt the running ones (they report
        ``CancelledError``). Never waits for them."""
    def shutdown(self, wait: bool, /) -> None:
        """Stop taking tasks (queued ones still run). With ``wait``, block (GIL released)
        until the workers have ended; Ctrl-C then raises ``KeyboardInterrupt`` and the
        workers go on."""
    def stats(self) -> dict[str, int]:
        """Counters: ``workers``, ``submitted``, ``done``, ``failed``, ``cancelled``,
        ``running``, ``queued``, ``recycled``, ``replaced``."""
    def broken(self) -> str | None:
        """Why the pool is broken, or ``None``."""
    def is_running(self, seq: int, /) -> bool:
        """Whether task ``seq`` runs now."""
    def deliveries(self) -> int:
        """How many outcomes workers have handed to futures so far."""
    def spin_for_delivery(self, seen: int, /) -> int:
        """Poll (GIL released) for at most about 50 microseconds until ``deliveries()``
        differs from ``seen``, then deliver the outcomes workers left for a polling caller
        meanwhile; returns ``deliveries()``."""
    def name(self) -> str:
        """The pool's name, ``pool-<n>``."""
    def worker_ids(self) -> list[int]:
        """Interpreter ids of the pool's workers: those taking tasks, then those stuck in
        a task that ignored its interrupt."""

# ---- manygil serve (servers are bound in the main interpreter; requests are taken and
# answered by threads of the worker interpreters) ----
#
# Common to all of them: a wrong number of arguments or a wrong type raises TypeError; a
# negative id, count or timeout (seconds: int or float; None or infinite: no limit)
# raises ValueError. Servers and requests are named by ids (ints); an id that names no
# server raises ValueError "no server with id N (closed?)", one that names no request
# being answered ValueError "no active request N (already done?)". Waits release the GIL.

def serve_bind(
    listen: list[str],
    io_threads: int,
    max_header_bytes: int,
    max_headers: int,
    max_body: int,
    header_timeout: float | None,
    body_timeout: float | None,
    request_timeout: float | None,
    access_log: bool,
    statics: list[tuple[str, bytes]],
    ws_max_size: int = 16777216,
    access_to_python: bool = False,
    /,
) -> tuple[int, list[str]]:
    """Bind an HTTP server (its I/O threads start; it accepts nothing before
    ``serve_start``). ``listen``: ``"HOST:PORT"``, ``"unix:PATH"`` or ``"fd://N"`` (an
    inherited listening socket). ``io_threads`` is clamped to 1..64, ``max_header_bytes``
    to at least 1024; a ``header_timeout``/``body_timeout`` of None or 0 means the
    default, a ``request_timeout`` of None or 0 no limit. ``statics``: ``(url_prefix,
    directory as os.fsencode gives it)`` served by the front, never by a worker. With
    ``access_to_python`` the access-log lines go to :func:`serve_access_lines` instead of
    stderr. Blocks (GIL released) while the sockets are opened.

    Returns:
        ``(server id, [address])``, the addresses as bound (a port 0 resolved).

    Raises:
        OSError: an address is in use or cannot be listened on.
        ValueError: an address that is not ``HOST:PORT``, ``unix:PATH`` or ``fd://N``.
        TypeError: ``listen`` or ``statics`` is not a list of the right items.
    """

def serve_access_lines(id: int, timeout: float | None, /) -> tuple[list[str], int] | None:
    """The access-log lines of server ``id`` written since the last call, waiting
    (GIL released) up to ``timeout`` seconds for the first.

    Returns:
        ``([line], dropped)`` (``dropped``: lines lost meanwhile because too many were
        waiting; ``[]`` on timeout), or None once the server is closed and every line
        was taken (or it sends none to Python).
    """

def serve_requests() -> list[tuple[int, str, str, float]]:
    """The requests being answered now in this process, longest-running first:
    ``[(interpreter id, thread name, "METHOD /path?query", seconds)]``. Never waits."""

def serve_listen(listen: list[str], /) -> list[tuple[int, str]]:
    """Open listening sockets without a server (the supervisor's). ``listen`` as for
    :func:`serve_bind`. Blocks (GIL released) while they are opened.

    Returns:
        ``[(fd, address)]``: the caller owns each descriptor (close-on-exec).

    Raises:
        OSError, ValueError, TypeError: as :func:`serve_bind`.
    """

def serve_start(id: int, /) -> None:
    """Start accepting connections on server ``id``. Never waits.

    Raises:
        ValueError: no server ``id``.
    """

def serve_shutdown(id: int, grace: float | None, /) -> tuple[bool, int]:
    """Stop accepting, let in-flight requests finish for ``grace`` seconds (None: no
    limit), then cancel the rest. Blocks (GIL released) until then; Ctrl-C does not
    interrupt it.

    Returns:
        ``(graceful, cancelled)``: whether every request finished in time, and how many
        were cancelled.

    Raises:
        ValueError: no server ``id``.
    """

def serve_close(id: int, /) -> None:
    """Forget server ``id``, shutting it down at once if it still runs (blocks, GIL
    released, while its threads stop). An unknown id is ignored."""

def serve_stats(id: int, /) -> tuple[int, int]:
    """``(requests in flight, requests queued)`` of server ``id``. Never waits.

    Raises:
        ValueError: no server ``id``.
    """

def serve_next(
    id: int, timeout: float | None, /
) -> tuple[int, dict[str, Any]] | Literal[False] | None:
    """Worker thread: wait (GIL released) up to ``timeout`` seconds for the next request
    of server ``id``. The calling thread then answers it (``serve_read``,
    ``serve_respond``...) until ``serve_done``; interrupts (``--timeout``, shutdown) reach
    it while it does.

    Returns:
        ``(request id, WSGI environ without its file objects)``; False on timeout; None
        once the server is closed or this interpreter was retired.

    Raises:
        ValueError: no server ``id``.
    """

def serve_done(rid: int, /) -> None:
    """The worker is done with request ``rid``: an unanswered one gets 500, an
    unfinished streamed body is cut, an open WebSocket is closed (1000), an interrupt
    not yet delivered is cancelled. Never waits; an unknown id is ignored."""

def serve_thread_exit() -> None:
    """The calling thread leaves its serve loop (interrupts no longer target it)."""

def serve_read(rid: int, size: int | None, /) -> bytes:
    """Up to ``size`` bytes of request ``rid``'s body (None or < 0: the rest), waiting
    (GIL released) for the client to send them; ``b""`` at its end.

    Raises:
        OSError: the body could not be read (too large for ``max_body``, timed out,
            cancelled, malformed, connection broken); ``serve_status`` says which.
        ValueError: no request ``rid``.
    """

def serve_readline(rid: int, size: int | None, /) -> bytes:
    """One line of request ``rid``'s body (at most ``size`` bytes; None or < 0: no
    limit), waiting as :func:`serve_read` does.

    Raises:
        OSError, ValueError: as :func:`serve_read`.
    """

def serve_respond(rid: int, status: str, headers: list[tuple[str, str]], body: bytes, /) -> bool:
    """Send the whole response to request ``rid`` (a WSGI status line and headers,
    values latin-1). Never waits for the client.

    Returns:
        False if the client can no longer receive it.

    Raises:
        RuntimeError: the response was already sent.
        ValueError: an invalid status or header, or no request ``rid``.
        TypeError: ``headers`` is not a list of (str, str).
    """

def serve_start_stream(rid: int, status: str, headers: list[tuple[str, str]], /) -> bool:
    """Send the response head of request ``rid``; the body follows by ``serve_write``.

    Returns:
        False if the client is gone.

    Raises:
        RuntimeError, ValueError, TypeError: as :func:`serve_respond`.
    """

def serve_write(rid: int, data: bytes, /) -> bool:
    """Send one body chunk, blocking (GIL released) while the client is slow to read.

    Returns:
        False if the client is gone.

    Raises:
        RuntimeError: the response head was not sent (``serve_start_stream``).
        ValueError: no request ``rid``.
    """

def serve_finish(rid: int, /) -> bool:
    """End a streamed body (may block, GIL released, for the last bytes).

    Returns:
        False if the client is gone (or nothing was streamed).

    Raises:
        ValueError: no request ``rid``.
    """

def serve_abort(rid: int, /) -> None:
    """Cut a streamed body (the application failed mid-body): the client sees the
    connection end early. Never waits.

    Raises:
        ValueError: no request ``rid``.
    """

def serve_status(rid: int, /) -> tuple[str | None, str | None]:
    """Why request ``rid`` was cancelled (``"timeout"``, ``"shutdown"``,
    ``"client_gone"`` or None) and how its body read failed (``"too_large"``,
    ``"timeout"``, ``"cancelled"``, ``"malformed"``, ``"broken"`` or None).

    Raises:
        ValueError: no request ``rid``.
    """

def serve_asgi_next(
    id: int, timeout: float | None, /
) -> tuple[int, dict[str, Any], bool] | bool | None:
    """ASGI worker: wait (GIL released) up to ``timeout`` seconds for the next request
    of server ``id``.

    Returns:
        ``(request id, ASGI scope without state, more_body)`` (``more_body``: a body is
        still to be read); False on timeout; None once the server is closed or this
        interpreter was retired.

    Raises:
        ValueError: no server ``id``.
    """

def serve_asgi_read(rid: int, size: int, /) -> tuple[bytes, bool]:
    """What the client sent of request ``rid``'s body, up to ``size`` bytes (at least 1
    unless the body ended), waiting (GIL released) until it sends something.

    Returns:
        ``(data, more_body)``: ``more_body`` is False once the body is complete.

    Raises:
        OSError, ValueError: as :func:`serve_read`.
    """

def serve_asgi_start(rid: int, status: int, headers: Any, bodiless: bool, /) -> int | None:
    """Build the head of request ``rid``'s ``http.response.start`` message (``headers``:
    ``(name, value)`` pairs of ``bytes``) and keep it until its body follows
    (:func:`serve_asgi_respond`, :func:`serve_asgi_stream`). Never waits.

    Returns:
        The declared Content-Length, or None without one or when ``bodiless`` (a HEAD
        request, a 304).

    Raises:
        TypeError: a header that is not a pair of ``bytes``, or a status not an int.
        ValueError: an invalid status, header name or value, or Content-Length; no
            request ``rid``.
    """

def serve_asgi_respond(rid: int, body: bytes, /) -> bool:
    """Answer request ``rid`` at once with the head :func:`serve_asgi_start` kept and
    ``body``. Never waits.

    Returns:
        False if the client can no longer receive it.

    Raises:
        RuntimeError: no head kept, or the response was already sent.
        ValueError: no request ``rid``.
    """

def serve_asgi_stream(rid: int, /) -> bool:
    """Send the head :func:`serve_asgi_start` kept for request ``rid``; its body follows
    by :func:`serve_write`. Never waits.

    Returns:
        False if the client is gone.

    Raises:
        RuntimeError: no head kept, or the response was already sent.
        ValueError: no request ``rid``.
    """

def serve_asgi_events(timeout: float | None, /) -> list[tuple[int, str]] | None:
    """This interpreter's request cancellations since the last call, waiting (GIL
    released) up to ``timeout`` seconds (None: no limit) for one.

    Returns:
        ``[(request id, reason)]`` (reasons as :func:`serve_status` names them), ``[]``
        on timeout, None once the inbox is closed (``serve_asgi_close``).
    """

def serve_asgi_close() -> None:
    """Close this interpreter's cancellation inbox: a waiting ``serve_asgi_events``
    returns None, and so does every later call."""

def serve_asgi_feed_fd() -> int:
    """Make this interpreter's request feed (replacing an earlier one): a thread running
    ``serve_asgi_feed`` takes requests for the event loop while it is idle, so the loop
    never blocks in ``serve_asgi_next``.

    Returns:
        The descriptor the loop watches: readable once a request is parked for it
        (``serve_asgi_pending``); valid until ``serve_asgi_feed_close``.

    Raises:
        OSError: the feed's socket pair cannot be made.
    """

def serve_asgi_feed_close() -> None:
    """Forget this interpreter's feed (its loop stopped watching): a request still
    parked is dropped, which the front answers with 500."""

def serve_asgi_feed(id: int, /) -> Literal[False] | None:
    """Wait in the calling thread, with the GIL released, until server ``id`` closes or
    this interpreter is retired, or the loop stops taking requests. Requests reach the
    loop without this thread (see :func:`serve_asgi_want`). Blocks until the end.

    Returns:
        None once the server is closed or this interpreter retired; False once the loop
        stopped the feed (``serve_asgi_feed_stop``).

    Raises:
        ValueError: no server ``id``, or this interpreter has no feed
            (``serve_asgi_feed_fd`` first).
    """

def serve_asgi_want(id: int, /) -> None:
    """The loop found no request of server ``id`` to take: the I/O thread that queues the
    next one wakes the loop (its feed descriptor turns readable; at once if one is
    already waiting). Never waits.

    Raises:
        ValueError: no server ``id``, or this interpreter has no feed.
    """

def serve_asgi_feed_stop() -> None:
    """The loop takes no more requests (its quota is reached): ``serve_asgi_feed``
    returns False. Never waits; without a feed it does nothing."""

def serve_asgi_woken() -> None:
    """The loop's feed descriptor turned readable: read it and drop the wake-up still
    registered (the loop then looks at the queue itself). Never waits; without a feed it
    does nothing."""

def serve_ws_fd() -> int:
    """The descriptor this interpreter's event loop watches for WebSocket wake-ups
    (readable when ``serve_ws_ready`` has ids); valid until ``serve_ws_fd_close``."""

def serve_ws_fd_close() -> None:
    """This interpreter's loop stopped watching: the wake-up socket pair closes once
    its open connections are gone."""

def serve_ws_ready() -> list[int]:
    """Request ids of this interpreter's WebSockets that can go on (a message came, or
    room to send) since the last call. Never waits."""

def serve_ws_accept(
    rid: int, subprotocol: str | None, headers: list[tuple[bytes | str, bytes | str]], /
) -> bool:
    """Accept WebSocket request ``rid``: the client gets ``101 Switching Protocols``
    with ``subprotocol`` and the extra ``headers``. Never blocks.

    Returns:
        False if the client is gone or already got an answer (504 at ``--timeout``).

    Raises:
        ValueError: an invalid header, or no request ``rid``.
        TypeError: ``headers`` is not a list of pairs of bytes or str.
    """

def serve_ws_recv(rid: int, /) -> str | bytes | tuple[int, str] | None:
    """The next message of WebSocket ``rid``. Never blocks.

    Returns:
        A text (str) or binary (bytes) message; None if none is there yet (the
        connection is armed: its id comes from ``serve_ws_ready`` when one arrives);
        ``(code, reason)`` once the connection ended.
    """

def serve_ws_send(rid: int, data: str | bytes, /) -> bool | None:
    """Queue a text (str) or binary (bytes) message on WebSocket ``rid``. Never blocks.

    Returns:
        True once queued; False if the client is behind (armed: try again when its id
        comes from ``serve_ws_ready``); None if the connection is over.
    """

def serve_ws_close(rid: int, code: int, reason: str, /) -> bool:
    """Close WebSocket ``rid`` once the messages already queued are sent. Never blocks.

    Returns:
        False if it was already over.

    Raises:
        ValueError: a code that may not be sent, or a reason over 123 bytes of UTF-8.
    """

def serve_stuck(after: float | None, /) -> list[int]:
    """Ids of the interpreters with a request thread still busy ``after`` seconds after
    its request was interrupted (None: none). Never waits."""

def serve_retire(interp_id: int, /) -> None:
    """Interpreter ``interp_id``'s threads take no further request (``serve_next``
    returns None there). Never waits.

    Raises:
        ValueError: a negative id.
    """

def serve_retired() -> bool:
    """Whether the calling interpreter was retired (its worker finishes what it has,
    then ends)."""

def serve_watch(roots: list[bytes], include: list[str], quiet: float | None, /) -> int:
    """Watch the directory trees ``roots`` (bytes paths) for changes to files whose name
    matches one of ``include`` (fnmatch patterns); a burst of changes ends after
    ``quiet`` seconds without one.

    Returns:
        The watcher's id.

    Raises:
        OSError: a root is not a directory or cannot be watched (named).
        TypeError: ``roots`` or ``include`` is not a list of the right items.
    """

def serve_watch_next(id: int, timeout: float | None, /) -> list[bytes] | bool | None:
    """Wait (GIL released) up to ``timeout`` seconds for the next burst of changes of
    watcher ``id``.

    Returns:
        The changed files (bytes paths); False on timeout; None once the watcher is
        closed (also when it was closed before the call).

    Raises:
        ValueError: ``id`` was never a watcher's.
    """

def serve_watch_close(id: int, /) -> None:
    """Stop watcher ``id``: a waiting ``serve_watch_next`` returns None. An unknown id is
    ignored."""

def serve_release_memory() -> bool:
    """Give the C allocator's free memory back to the system (after the workers
    imported the application). Blocks (GIL released) while it does.

    Returns:
        True if any was released.
    """
