"""The executors the benchmark compares, behind one small interface.

Each :class:`Backend` says whether it can run here (:meth:`Backend.unavailable`), starts
an executor with a given worker count (:meth:`Backend.start`), turns input bytes into what
a user of that backend would pass to a task (:meth:`Backend.share`), and names the extra
processes whose memory counts as its workers' (:meth:`Backend.worker_pids`).
"""

import concurrent.futures as cf
import multiprocessing
import os
import site
import sys

NAMES = ("serial", "threads", "processes", "interpreters", "manygil")


class SerialExecutor(cf.Executor):
    """An executor that runs each task inline in :meth:`submit`; the no-parallelism baseline.

    ``submit`` blocks for the task's duration and returns an already-completed future that
    holds the result or the exception the task raised.
    """

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # stored in the future, as a pool would
            future.set_exception(exc)
        return future


class Backend:
    """Base class: an executor kind. ``parallel`` is False only for :class:`Serial`."""

    name = ""
    parallel = True
    shares_memory = False  # True when :meth:`share` returns a zero-copy shared buffer
    # None when a function defined in the user's script (``__main__``) can be submitted;
    # else why not.
    refuses_script_functions: str | None = None
    note = ""

    def unavailable(self):
        """Return ``None`` when this backend can run here, else the reason it cannot."""
        return None

    def start(self, workers):
        """Return a started executor with ``workers`` workers (workers may start lazily)."""
        raise NotImplementedError

    def share(self, data):
        """Return what a task receives for the bytes ``data`` (default: the bytes)."""
        return data

    def worker_pids(self, executor, before):
        """Return the pids of processes the executor started (``before``: pids seen earlier)."""
        return []


class Serial(Backend):
    name = "serial"
    parallel = False
    note = "inline in the calling thread"

    def start(self, workers):
        return SerialExecutor()


class Threads(Backend):
    name = "threads"
    note = "ThreadPoolExecutor"

    def start(self, workers):
        return cf.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="manygil-bench-threads"
        )


def default_start_method():
    """Return the platform's default start method unless it is 'fork', else a safe one."""
    methods = multiprocessing.get_all_start_methods()
    default = multiprocessing.get_start_method(allow_none=True) or methods[0]
    if default != "fork":
        return default
    return "forkserver" if "forkserver" in methods else "spawn"


class Processes(Backend):
    """ProcessPoolExecutor with a non-fork start method (forking a process that hosts
    sub-interpreters can crash the child)."""

    name = "processes"
    # The child would import the user's script again to find it by name (here, the
    # benchmark's own __main__, which does not define it).
    refuses_script_functions = (
        "pickles a function of __main__ by name: the child re-imports the script"
    )

    def __init__(self, start_method=None):
        self.start_method = start_method or default_start_method()
        self.note = f"ProcessPoolExecutor ({self.start_method})"

    def unavailable(self):
        if self.start_method not in multiprocessing.get_all_start_methods():
            return f"not available: start method {self.start_method!r} is not supported here"
        return None

    def start(self, workers):
        context = multiprocessing.get_context(self.start_method)
        return cf.ProcessPoolExecutor(max_workers=workers, mp_context=context)

    def worker_pids(self, executor, before):
        return [p.pid for p in multiprocessing.active_children() if p.pid not in before]


def _package_root():
    """The directory holding the ``manygil`` package (so workers can import this package)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Interpreters(Backend):
    """The standard library's InterpreterPoolExecutor (Python 3.14+)."""

    name = "interpreters"
    refuses_script_functions = (
        "refuses a function of __main__ that reads a global (args not shareable)"
    )
    note = "concurrent.futures.InterpreterPoolExecutor"

    def unavailable(self):
        if not hasattr(cf, "InterpreterPoolExecutor"):
            v = sys.version_info
            return f"not available on Python {v.major}.{v.minor} (needs 3.14+)"
        return None

    def start(self, workers):
        # New interpreters build sys.path from the startup configuration, not from this
        # interpreter's sys.path; add this package's root as a spawned process would have.
        return cf.InterpreterPoolExecutor(
            max_workers=workers, initializer=site.addsitedir, initargs=(_package_root(),)
        )


class ManyGil(Backend):
    """``manygil.Pool``; inputs go in a ``manygil.SharedBuffer``."""

    name = "manygil"
    note = "manygil.Pool"

    def __init__(self):
        self._pool = self._shared_buffer = None
        self._reason = None
        try:
            from .._native import SharedBuffer
            from ..pool import Pool
        except Exception as exc:  # ImportError, or an error while loading the extension
            self._reason = f"not available: import manygil failed: {exc}"
            return
        self._pool, self._shared_buffer = Pool, SharedBuffer
        self.shares_memory = True
        self.note = "manygil.Pool + SharedBuffer"

    def unavailable(self):
        return self._reason

    def start(self, workers):
        return self._pool(max_workers=workers)

    def share(self, data):
        if self.shares_memory:
            return self._shared_buffer.from_bytes(data)
        return data


def make(name, start_method=None):
    """Return the backend called ``name`` (one of :data:`NAMES`); raises KeyError otherwise."""
    factories = {
        "serial": Serial,
        "threads": Threads,
        "processes": lambda: Processes(start_method),
        "interpreters": Interpreters,
        "manygil": ManyGil,
    }
    return factories[name]()


def _proc_kib(pid, name: str, key: str):
    """The KiB figure on the ``key`` line of ``/proc/<pid>/<name>``, or ``None`` where
    unreadable."""
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kib(pid="self"):
    """Return VmRSS of process ``pid`` in KiB from /proc, or ``None`` where unreadable."""
    return _proc_kib(pid, "status", "VmRSS:")


def pss_kib(pid="self"):
    """Return the PSS of process ``pid`` in KiB (``/proc/<pid>/smaps_rollup``: each page
    divided among the processes that map it), or ``None`` where unreadable."""
    return _proc_kib(pid, "smaps_rollup", "Pss:")
