"""Log records of worker interpreters, handled by the main interpreter's logging (issue 24).

Each worker interpreter has its own ``logging`` module: the handlers configured in main
(``basicConfig``, a file, a JSON formatter...) do not exist there, so without this an INFO
record of a task is lost and a WARNING goes unformatted to stderr (``logging.lastResort``).

With ``Pool(forward_logging=True)`` (the default) each worker runs
``manygil._wire.hooks.forward_logging`` before the pool's own initializer. Nothing is
imported then: a tiny finder waits on ``sys.meta_path`` for the task's own ``import
logging``, and once that is done gives the worker's root logger one handler at main's root
level. It sends each record as plain data through a ``manygil.Queue``; a thread of the main
interpreter (:class:`Dispatcher`, this module) rebuilds it and hands it to the logger of
the same name there, so it goes through main's levels, filters, formatters and handlers. ``record.threadName`` is
the name the thread had in the worker (``manygil-w<interpreter id>`` for a pool worker's
own thread, ``manygil-s<id>.<n>`` for a ``manygil serve`` request thread, or what a task
named its own threads); ``record.manygil_worker`` holds the interpreter id and
``record.manygil_interpreter`` its name (``pool-1.worker-2``, ``serve-1.worker-3``).
"""

from __future__ import annotations

import sys


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
        from .._queue import QueueClosed

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
