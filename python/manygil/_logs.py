"""Log records of worker interpreters, handled by the main interpreter's logging (issue 24).

Each worker interpreter has its own ``logging`` module: the handlers configured in main
(``basicConfig``, a file, a JSON formatter...) do not exist there, so without this an INFO
record of a task is lost and a WARNING goes unformatted to stderr (``logging.lastResort``).

With ``Pool(forward_logging=True)`` (the default) each worker runs :func:`install` before
the pool's own initializer. Nothing is imported then: a tiny finder waits on ``sys.meta_path``
for the task's own ``import logging``, and once that is done gives the worker's root logger
one handler (:class:`_Forward`, made in :func:`_configure`) at main's root level. It sends
each record as plain data through a ``manygil.Queue``; a thread of the main interpreter
(:class:`Dispatcher`) rebuilds it and hands it to the logger of the same name there, so it
goes through main's levels, filters, formatters and handlers. ``record.threadName`` is
the name the thread had in the worker (``manygil-w<interpreter id>`` for a pool worker's
own thread, ``manygil-s<id>.<n>`` for a ``manygil serve`` request thread, or what a task
named its own threads); ``record.manygil_worker`` holds the interpreter id and
``record.manygil_interpreter`` its name (``pool-1.worker-2``, ``serve-1.worker-3``).
"""

from __future__ import annotations

import sys


def install(queue, level: int, initializer=None, initargs=()):
    """Runs in each new worker: forward its log records at ``level`` and above to
    ``queue`` (once ``logging`` is imported there), then run the pool's initializer."""
    logging = sys.modules.get("logging")
    if logging is not None:
        _configure(logging, queue, level)
    else:
        sys.meta_path.insert(0, _WaitForLogging(queue, level))
    if initializer is not None:
        initializer(*initargs)


class _WaitForLogging:
    """A ``sys.meta_path`` finder that answers only for ``logging``: it lets the normal
    finders find it, and configures the module right after it has run."""

    def __init__(self, queue, level):
        self.queue, self.level = queue, level

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        import importlib.machinery

        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenConfigure(spec.loader, self.queue, self.level)
        return spec


class _ThenConfigure:
    """The ``logging`` module's own loader, plus :func:`_configure` after it ran."""

    def __init__(self, loader, queue, level):
        self._loader, self._queue, self._level = loader, queue, level

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _configure(module, self._queue, self._level)

    def __getattr__(self, name):  # get_source, get_filename... for tracebacks and pdb
        return getattr(self._loader, name)


def _configure(logging, queue, level: int) -> None:
    from . import _native

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


class Dispatcher:
    """The main-interpreter side: a daemon thread that hands the workers' records to
    main's loggers until :meth:`close`. Never blocks its callers."""

    def __init__(self, queue):
        import threading

        self.queue = queue
        self._thread = threading.Thread(target=self._run, name="manygil-log-forwarder", daemon=True)
        self._thread.start()

    @staticmethod
    def root_level() -> int:
        """The level main's root logger lets through now (WARNING before ``logging`` is
        imported or configured)."""
        logging = sys.modules.get("logging")
        return 30 if logging is None else logging.getLogger().getEffectiveLevel()

    def _run(self):
        from ._queue import QueueClosed

        while True:
            try:
                item = self.queue.get()
            except QueueClosed:
                return
            except BaseException:  # interpreter shutting down
                return
            try:
                self._handle(item)
            except Exception:
                pass  # a broken handler of the user's must not stop forwarding

    @staticmethod
    def _handle(item):
        import logging

        name, levelno, msg, pathname, lineno, func, created, exc, stack, worker, thread, interp = (
            item
        )
        logger = logging.getLogger(name)
        if not logger.isEnabledFor(levelno):
            return
        record = logger.makeRecord(name, levelno, pathname, lineno, msg, None, None, func)
        record.created = created
        record.msecs = (created - int(created)) * 1000
        record.relativeCreated = (created - logging._startTime) * 1000
        record.exc_text = exc
        record.stack_info = stack
        record.threadName = thread or f"manygil-w{worker}"
        record.manygil_worker = worker
        record.manygil_interpreter = interp
        logger.handle(record)

    def close(self, wait: bool = True) -> None:
        """Stop after the records already sent are handled (``wait``: until then)."""
        self.queue.close()
        if wait:
            self._thread.join(timeout=5)
