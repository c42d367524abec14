"""What runs in every worker interpreter as it starts and as it ends.

- :func:`start` (called by the worker's thread from ``interp/worker.rs`` before anything
  else runs there) gives the thread its name in the interpreter's ``threading`` (issue 24,
  item 7). A worker's OS thread is named ``manygil-w<interpreter id>`` (``top -H``,
  py-spy, gdb); ``threading`` would call it ``Dummy-1`` (it did not start it), and so would
  log records made there (``%(threadName)s``). In the main interpreter, where a worker
  thread completes futures, :func:`name_thread` (called from ``runtime/main_ref.rs``)
  names it the same way (``threading.enumerate()`` shows it).
- :func:`forward_logging` (sent by ``Pool(forward_logging=True)`` and ``manygil serve`` as
  the worker's first call) gives the worker's root logger a handler that sends each record
  to the main interpreter's logging (``manygil._observe.logs``).
- :func:`before_end` (called from ``interp/worker.rs`` just before ``Py_EndInterpreter``)
  waits for what the end would wait for, holding no lock.

Both start hooks wait for a module's import without importing it (a task that never uses
``threading`` or ``logging`` pays nothing): :func:`after_import` puts a tiny finder on
``sys.meta_path``. This module imports nothing at start (not even ``__future__``): it runs
in every new worker.
"""

import sys

# --- waiting for a module's import --------------------------------------------------------

# name -> the finder waiting for that module's import (one per name: callbacks queue up).
_waiting: dict = {}


def after_import(name: str, callback) -> None:
    """Call ``callback(module)`` once the top-level module ``name`` is imported in this
    interpreter: now if it is, else right after its code has run (before the ``import``
    statement that loads it returns), without importing it. An exception of ``callback``
    propagates to that ``import`` (callbacks that must not fail an import catch their own).
    """
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    finder = _waiting.get(name)
    if finder is None:
        finder = _waiting[name] = _WaitFor(name)
        sys.meta_path.insert(0, finder)
    finder.callbacks.append(callback)


class _WaitFor:
    """A ``sys.meta_path`` finder that answers only for its module: it lets the normal
    finders find it and gives it a loader that runs the callbacks after the module."""

    def __init__(self, name: str):
        self.name, self.callbacks = name, []

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        import importlib.machinery

        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        _waiting.pop(name, None)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            spec = importlib.machinery.FrozenImporter.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenCall(spec.loader, self.callbacks)
        return spec


class _ThenCall:
    """A module's own loader, plus the callbacks once the module's code has run."""

    def __init__(self, loader, callbacks):
        self._loader, self._callbacks = loader, callbacks

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        for callback in self._callbacks:
            callback(module)

    def __getattr__(self, name):  # get_source, get_filename... for tracebacks and pdb
        return getattr(self._loader, name)


# --- thread names -----------------------------------------------------------------------


def start(thread_name: str) -> None:
    """Runs in each new worker, on its thread: name this thread ``thread_name`` in this
    interpreter's ``threading`` once that is imported."""
    import _thread

    after_import("threading", _Namer(thread_name, _thread.get_ident()))


def name_thread(thread_name: str) -> None:
    """Name the calling thread ``thread_name`` in this interpreter's ``threading`` (if it
    is imported; a thread ``threading`` did not start gets its ``_DummyThread``)."""
    threading = sys.modules.get("threading")
    if threading is not None:
        threading.current_thread().name = thread_name


class _Namer:
    """Names the worker thread in ``threading`` when that is imported on that thread (a
    ``_DummyThread`` is made for the calling thread only)."""

    def __init__(self, thread_name: str, ident: int):
        self.thread_name, self.ident = thread_name, ident

    def __call__(self, threading) -> None:
        import _thread

        if _thread.get_ident() == self.ident:
            try:
                threading.current_thread().name = self.thread_name
            except Exception:  # noqa: BLE001 - a name is not worth failing an import for
                pass


# --- log records forwarded to the main interpreter --------------------------------------


def forward_logging(queue, level: int, initializer=None, initargs=()) -> None:
    """Runs in each new worker: forward its log records at ``level`` and above to
    ``queue`` (once ``logging`` is imported there), then run the pool's initializer.

    Each worker interpreter has its own ``logging`` module: the handlers configured in main
    do not exist there. Once the task imports ``logging``, the root logger gets one handler
    at main's root level that sends each record as plain data through ``queue`` (a
    ``manygil.Queue``), which ``manygil._observe.logs.Dispatcher`` reads in main."""
    after_import("logging", lambda logging: _configure_logging(logging, queue, level))
    if initializer is not None:
        initializer(*initargs)


def _configure_logging(logging, queue, level: int) -> None:
    from .. import _native

    worker = _native.get_current()[0]
    info = _native.interp_info(worker)
    interp_name = f"interpreter-{worker}" if info is None else info[0]
    closed = _native.QueueClosed

    class _Forward(logging.Handler):
        """Sends each record to the main interpreter as plain data."""

        def emit(self, record):
            try:
                exc = record.exc_text
                if exc is None and record.exc_info:
                    exc = logging.Formatter().formatException(record.exc_info)
                queue.put_nowait(
                    (
                        record.name,
                        record.levelno,
                        record.getMessage(),
                        record.pathname,
                        record.lineno,
                        record.funcName,
                        record.created,
                        exc,
                        record.stack_info,
                        worker,
                        record.threadName,
                        interp_name,
                    )
                )
            except closed:
                pass  # the pool is gone (or shutting down): nobody reads the records
            except Exception:
                self.handleError(record)

    root = logging.getLogger()
    root.addHandler(_Forward())
    root.setLevel(level)


# --- the end ----------------------------------------------------------------------------


def before_end() -> None:
    """Wait for this interpreter's other non-daemon threads (on 3.13 its daemon threads
    too), then run its ``atexit`` callbacks (``Py_EndInterpreter`` then finds nothing left
    to wait for).

    ``Py_EndInterpreter`` waits for the interpreter's non-daemon threads and runs its
    ``atexit`` callbacks. (Daemon threads exist only under an ``InterpreterConfig`` with
    ``allow_daemon_threads=True``, e.g. ``"legacy"``: CPython 3.14+ leaves them parked when
    the interpreter ends, but 3.13 aborts the process, "not the last thread", so there they
    are waited for like the others.) manygil ends interpreters one at a time (creation and
    ending are serialized process-wide: concurrent ones crashed CPython), so a worker whose
    task left a thread running, or whose ``atexit`` callback is slow, would make every
    creation wait — a ``Pool(max_tasks_per_worker=1)`` stopped starting workers. Doing
    that waiting here first, holding no lock, keeps the end itself quick."""
    threading = sys.modules.get("threading")
    if threading is not None:
        # What threading._shutdown would wait for: started threads of this interpreter,
        # not daemons (on 3.13: daemons too), other than its main thread (this worker's)
        # and the dummies.
        daemons_too = sys.version_info < (3, 14)
        mine = (threading.current_thread(), threading.main_thread())
        while True:
            others = [
                t
                for t in threading.enumerate()
                if t not in mine
                and (daemons_too or not t.daemon)
                and not isinstance(t, threading._DummyThread)
                and t.is_alive()
            ]
            if not others:
                break
            for t in others:
                t.join(0.1)  # sliced, so that an interrupt of the exit path gets through
        # 3.13: the worker thread's _DummyThread (made by any current_thread() call, as
        # logging makes) is forgotten by a tracker object's __del__ when the thread-local
        # storage goes, which Py_EndInterpreter does after clearing threading's globals:
        # "Exception ignored in _DeleteDummyThreadOnDel.__del__ ... TypeError" at every
        # worker end. Dropping the tracker now runs that __del__ while they still exist.
        info = getattr(threading, "_thread_local_info", None)
        if info is not None:
            try:
                del info._track_dummy_thread_ref
            except AttributeError:
                pass
    import atexit

    atexit._run_exitfuncs()
