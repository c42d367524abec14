"""Thread names of manygil workers as ``threading`` sees them (issue 24, item 7).

A worker's OS thread is named ``manygil-w<interpreter id>`` (``top -H``, py-spy, gdb). In
the worker's interpreter, ``threading`` would call that thread ``Dummy-1`` (it did not start
it), and so would log records made there (``%(threadName)s``). :func:`install` runs first
in every new worker and gives the thread its name there once ``threading`` is imported,
without importing it (a task that never uses ``threading`` pays nothing): a tiny finder
waits on ``sys.meta_path`` for it. In the main interpreter, where a worker thread completes
futures, :func:`name_thread` names it the same way (``threading.enumerate()`` shows it).

It imports nothing at start (not even ``__future__``): it runs in every new worker.
"""

import sys


def install(thread_name: str) -> None:
    """Runs in each new worker, on its thread: name this thread ``thread_name`` in this
    interpreter's ``threading`` once that is imported."""
    if "threading" in sys.modules:
        name_thread(thread_name)
    else:
        import _thread

        sys.meta_path.insert(0, _WaitForThreading(thread_name, _thread.get_ident()))


def name_thread(thread_name: str) -> None:
    """Name the calling thread ``thread_name`` in this interpreter's ``threading`` (if it
    is imported; a thread ``threading`` did not start gets its ``_DummyThread``)."""
    threading = sys.modules.get("threading")
    if threading is not None:
        threading.current_thread().name = thread_name


class _WaitForThreading:
    """A ``sys.meta_path`` finder that answers only for ``threading``: it lets the normal
    finders find it, and names the worker thread right after it has run."""

    def __init__(self, thread_name: str, ident: int):
        self.thread_name, self.ident = thread_name, ident

    def find_spec(self, name, path=None, target=None):
        if name != "threading":
            return None
        import importlib.machinery

        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            spec = importlib.machinery.FrozenImporter.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenName(spec.loader, self.thread_name, self.ident)
        return spec


class _ThenName:
    """The ``threading`` module's own loader, plus naming the worker thread after it ran
    (when it was imported on that thread: a ``_DummyThread`` is made for the calling
    thread only)."""

    def __init__(self, loader, thread_name: str, ident: int):
        self._loader, self._thread_name, self._ident = loader, thread_name, ident

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        import _thread

        if _thread.get_ident() == self._ident:
            try:
                module.current_thread().name = self._thread_name
            except Exception:  # noqa: BLE001 - a name is not worth failing an import for
                pass

    def __getattr__(self, name):  # get_source, get_filename... for tracebacks and pdb
        return getattr(self._loader, name)
