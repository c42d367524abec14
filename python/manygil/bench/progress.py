"""Progress display on stderr: one updating line on a terminal, else one line per step."""

import shutil
import sys
import time


class Progress:
    """Writes progress to ``stream`` (default ``sys.stderr``); never raises on write errors.

    ``step(text)`` shows what is running (transient on a tty, skipped otherwise),
    ``done(text)`` reports a finished step (transient on a tty, a line otherwise) and
    ``note(text)`` always prints a line (errors, wrong results, messages).
    """

    def __init__(self, stream=None, enabled=True):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self._transient = False

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def _prefix(self):
        return f"[{time.perf_counter() - self.t0:6.1f}s] "

    def _clear(self):
        if self._transient:
            self._write("\r\x1b[K")
            self._transient = False

    def _show(self, text):
        width = shutil.get_terminal_size().columns - 1
        self._clear()
        self._write((self._prefix() + text)[:width])  # a wrapped line could not be erased
        self._transient = True

    def step(self, text):
        if self.enabled and self.tty:
            self._show(text + " ...")

    def done(self, text):
        if not self.enabled:
            return
        if self.tty:
            self._show(text)
        else:
            self._write(self._prefix() + text + "\n")

    def note(self, text):
        if self.enabled:
            self._clear()
            self._write(self._prefix() + text + "\n")

    def close(self):
        if self.enabled:
            self._clear()
