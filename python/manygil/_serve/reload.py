"""``manygil serve --reload``: watch the application's source files and, on a change, load
it afresh in new worker interpreters and swap them in; the process and its sockets stay.

Which files: by default the directory tree the application's top-level module or package
is found in (its ``sys.path`` entry: for ``python -m manygil serve app:app`` run in the
project, the current directory), or only that package's own tree when it is installed in
``site-packages``; ``--reload-dir DIR`` (repeatable) replaces that. In those trees, files
named ``*.py`` count, plus those matching ``--reload-include GLOB`` (repeatable, matched
against the file name). Never watched: hidden directories (``.git``, ``.venv``...),
``__pycache__``, ``node_modules``, ``site-packages``, ``venv`` and any virtual
environment; editors' temporary and backup files never count. A burst of changes (an
editor's save, a checkout) is one reload, once 50 ms passed without another change.

The watching is native (``manygil_serve::Watch``, on the notify crate). While nothing
changes, the interpreters of the next reload are made ahead (manygil's side of a worker
imported, never the application), so that a reload only imports the application. The
reload itself is :meth:`manygil.serve._Server.reload`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time

from .. import _native
from .options import StartupError

# Seconds without a further change that end a burst of changes.
QUIET = 0.05
# Files that count, besides those of --reload-include.
DEFAULT_INCLUDE = ("*.py",)


def _log(msg: str) -> None:
    print(f"manygil serve: {msg}", file=sys.stderr, flush=True)


def default_dirs(app: str) -> list[str]:
    """The directories watched for ``app`` (``MODULE:ATTR``) without ``--reload-dir``:
    where its top-level module or package is found (found, not imported: the main
    interpreter never imports the application).

    Raises StartupError if the module cannot be found, or is a single module installed in
    ``site-packages`` (then ``--reload-dir`` says what to watch)."""
    top = app.partition(":")[0].partition(".")[0]
    try:
        spec = importlib.util.find_spec(top) if top else None
    except (ImportError, ValueError) as e:
        raise StartupError(f"--reload: cannot find module {top!r}: {e}") from None
    if spec is None or not (spec.origin or spec.submodule_search_locations):
        raise StartupError(
            f"--reload: cannot find module {top!r} (check sys.path and the current "
            "directory), or pass --reload-dir DIR"
        )
    if spec.submodule_search_locations:
        package_dirs = [os.path.abspath(d) for d in spec.submodule_search_locations]
        root = os.path.dirname(package_dirs[0])
    else:
        package_dirs = []
        root = os.path.dirname(os.path.abspath(spec.origin))
    if os.path.basename(root) in ("site-packages", "dist-packages"):
        if not package_dirs:
            raise StartupError(
                f"--reload: {top!r} is a single module installed in {root}: pass "
                "--reload-dir DIR for the directories to watch"
            )
        return package_dirs
    return [root]


def watched_dirs(app: str, dirs: list[str] | None) -> list[str]:
    """The directories ``--reload`` watches: ``dirs`` (each must be a directory), or
    :func:`default_dirs`. Raises StartupError naming a directory that is not one."""
    if not dirs:
        return default_dirs(app)
    out = []
    for d in dirs:
        if not os.path.isdir(d):
            raise StartupError(f"--reload-dir {d!r}: not a directory")
        out.append(os.path.abspath(d))
    return out


def check_include(include) -> list[str]:
    """``--reload-include`` patterns: a list of non-empty str (StartupError otherwise)."""
    include = list(include or ())
    for p in include:
        if not isinstance(p, str) or not p:
            raise StartupError(f"--reload-include {p!r}: expected a glob such as '*.html'")
    return include


def _describe(changed: list[str]) -> str:
    """The changed files for the log: relative to the current directory when under it,
    the first three, and how many more."""
    cwd = os.getcwd()
    names = []
    for p in changed:
        rel = os.path.relpath(p, cwd) if p.startswith(cwd + os.sep) else p
        names.append(rel)
    shown = ", ".join(names[:3])
    if len(names) > 3:
        shown += f" and {len(names) - 3} more"
    return shown


class Reloader:
    """Watches ``dirs`` and reloads ``server``'s workers on each burst of changes, in a
    thread of its own (the main interpreter's); :meth:`close` stops it."""

    def __init__(self, server, dirs: list[str], include: list[str]):
        self.server = server
        self.dirs = dirs
        self.include = [*DEFAULT_INCLUDE, *include]
        self.id: int | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching: a change from now on is seen (and reloads once :meth:`run`
        was called). Raises StartupError if a directory cannot be watched."""
        try:
            self.id = _native.serve_watch([os.fsencode(d) for d in self.dirs], self.include, QUIET)
        except (OSError, ValueError) as e:
            raise StartupError(f"--reload: {e}") from None
        shown = ", ".join(self.dirs)
        _log(f"--reload: watching {shown} for changes to {', '.join(self.include)}")

    def run(self) -> None:
        """Reload on each change from now on (the workers serve: there is something to
        replace), in a thread of its own."""
        self.thread = threading.Thread(target=self._loop, name="manygil-serve-reload", daemon=True)
        self.thread.start()

    def close(self, timeout: float) -> None:
        """Stop watching; wait up to ``timeout`` seconds for a reload under way (it
        drops its new workers: the server is stopping)."""
        if self.id is not None:
            _native.serve_watch_close(self.id)
        if self.thread is not None:
            self.thread.join(timeout)

    def _loop(self) -> None:
        # Interpreters made ahead for the next reload, while nothing changes: it then only
        # imports the application (creating an interpreter and importing what the
        # worker's side needs costs more than a small application's import).
        ahead: list = []
        can_make = True
        try:
            while True:
                short = can_make and len(ahead) < self.server.workers
                got = _native.serve_watch_next(self.id, 0 if short else None)
                if got is None:
                    return
                if got is False:
                    if short:
                        made = self._make_ahead()
                        can_make = made is not None
                        if made is not None:
                            ahead.append(made)
                    continue
                used, ahead = ahead, []
                self.reload([os.fsdecode(p) for p in got], used)
        finally:
            for interp in ahead:
                interp.close()

    def _make_ahead(self):
        """A new interpreter with the worker's side imported, not the application; None
        if it cannot be made (then none is made again: reloads create their own)."""
        from ..interpreters import create
        from . import worker as _serve_worker

        try:
            interp = create(
                name=self.server.next_name(), config=self.server.config, _origin="serve"
            )
        except Exception:  # noqa: BLE001 - a reload creates its own then
            return None
        try:
            interp.call(_serve_worker.warm, self.server.interface)
        except Exception:  # noqa: BLE001
            interp.close()
            return None
        return interp

    def reload(self, changed: list[str], ahead=()) -> None:
        """Reload for ``changed`` files (with the interpreters made ``ahead``, consumed)
        and log the outcome on stderr: one line, or the failure with its traceback."""
        started = time.monotonic()
        what = _describe(changed)
        try:
            outcome = self.server.reload(ahead)
        except Exception as e:  # noqa: BLE001 - logged; the old workers keep serving
            outcome = 0, f"{type(e).__name__}: {e}"
        if outcome is None:  # the server is stopping
            return
        n, error = outcome
        took = (time.monotonic() - started) * 1000
        if error:
            _log(
                f"{what} changed; the application failed to load, the previous workers keep "
                f"serving (save a fix to reload): {error}"
            )
        else:
            _log(f"reloaded in {took:.0f} ms ({what} changed; {n} new worker interpreter(s))")
