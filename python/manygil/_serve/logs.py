"""Logging of ``manygil serve`` (issue 24, item 6): what the application logs in the worker
interpreters and the access log reach the main interpreter's ``logging`` together.

- Each worker runs ``manygil._wire.hooks.forward_logging`` before it imports the application: its log records
  go to the main interpreter's loggers of the same names (``manygil._observe.logs``), with
  ``threadName`` the request thread (``manygil-s<interpreter id>.<n>``) and
  ``manygil_interpreter`` the worker's name (``serve-1.worker-2``).
- With ``--access-log``, the HTTP front hands each access-log line to :class:`AccessLog`,
  a thread of the main interpreter that logs it on the ``manygil.serve.access`` logger
  (INFO), when that logger's records would reach a handler of the caller's; otherwise the
  front writes the lines to stderr itself, as without forwarding (also when the only
  handler is the command line's own: it would write the same line to the same stream, at
  the cost of a Python log record per request in the main interpreter).
- ``python -m manygil serve`` gives the root logger one stderr handler with
  :class:`Formatter` (``--log-level``, default info): access lines as they are, other
  records with time, level, worker and logger. ``serve()`` called from Python leaves the
  configuration to the caller.
"""

from __future__ import annotations

import logging
import sys
import threading

from .. import _native

ACCESS_LOGGER = "manygil.serve.access"
SERVE_LOGGER = "manygil.serve"


class Formatter(logging.Formatter):
    """``2026-12-08 10:00:00,123 INFO [serve-1.worker-2 manygil-s7.1] app: message``
    (main's own records say ``[main <thread>]``); access-log lines are kept as the front
    wrote them (they carry their own date)."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s [%(where)s] %(name)s: %(message)s")

    def format(self, record):
        if record.name == ACCESS_LOGGER:
            return record.getMessage()
        interp = getattr(record, "manygil_interpreter", None) or "main"
        record.where = f"{interp} {record.threadName}"
        return super().format(record)


def configure_cli(level: str) -> None:
    """What ``python -m manygil serve`` does first: one stderr handler with
    :class:`Formatter` on the root logger, at ``level`` (a level name)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Formatter())
    handler.manygil_cli = True  # see access_to_python
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())


def access_to_python() -> bool:
    """Whether records of the access logger would reach a handler now (INFO enabled, a
    handler on the way to the root) other than the command line's own stderr handler,
    which writes access lines unchanged: only then do access lines go through ``logging``
    instead of straight to stderr from the front."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.isEnabledFor(logging.INFO):
        return False
    handlers = []
    node = logger
    while node is not None:
        handlers.extend(node.handlers)
        node = node.parent if node.propagate else None
    return any(not getattr(h, "manygil_cli", False) for h in handlers)


class AccessLog:
    """A thread of the main interpreter that logs server ``server_id``'s access-log lines
    (taken natively, GIL released) on :data:`ACCESS_LOGGER` until the server is closed."""

    def __init__(self, server_id: int):
        self.server_id = server_id
        self.logger = logging.getLogger(ACCESS_LOGGER)
        self.thread = threading.Thread(target=self._run, name="manygil-serve-access", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                got = _native.serve_access_lines(self.server_id, 0.5)
            except BaseException:  # noqa: BLE001 - interpreter shutting down
                return
            if got is None:
                return
            lines, dropped = got
            for line in lines:
                try:
                    self.logger.info(line)
                except Exception:  # noqa: BLE001 - a broken handler must not stop the log
                    pass
            if dropped:
                logging.getLogger(SERVE_LOGGER).warning(
                    "%d access-log line(s) dropped: the log handler could not keep up", dropped
                )

    def join(self, timeout: float = 5.0) -> None:
        """Wait until every line is logged (after the server is closed)."""
        self.thread.join(timeout)
