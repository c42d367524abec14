"""``python -m manygil check [MODULE ...] [--installed] [-r FILE] [--json]``: which modules
import in an own-GIL interpreter, and what they lose there.

Each module is imported in a fresh own-GIL interpreter, inside a child process of its own
(several children at a time), so that an import that hangs, crashes the process or exits
is reported instead of taking the check down. Each module gets one of:

- ``ok``: it imports, and so does every extension module of its package;
- ``degraded``: it imports, but an extension module it (or its package) has was refused —
  the package caught the refusal and runs without it (a pure-Python fallback, a missing
  feature); ``refused`` lists those extensions by full dotted name and ``lost`` says what
  is lost where it is known (``yaml.CSafeLoader`` missing, psycopg in pure Python...);
- ``refused``: the import failed because an extension module does not support
  per-interpreter GIL (``extension`` names it);
- ``error``: the import raised something else, did not finish in time, crashed or exited
  the process, or left a thread that kept its interpreter from ending.

Extension modules of a package are found by file (without importing the whole tree), with
the private ones its distribution installs beside it (``_cffi_backend``, a mypyc
``<hash>__mypyc``), and each one is imported alone in a fresh interpreter; ``loaded`` and
``refused`` list them by full dotted name. :func:`distribution_modules` says which names a
distribution provides (``--installed`` and ``-r`` check those: the parts a distribution
puts in a shared namespace package, such as ``google.protobuf``, not the namespace).
The exit status is 0 only if every module is ``ok``. :func:`check_modules` is the same as a
function.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass

__all__ = [
    "Result",
    "check_modules",
    "distribution_extensions",
    "distribution_modules",
    "installed_modules",
    "requirement_modules",
    "main",
]

#: Seconds an import may take before it is reported as an error.
DEFAULT_TIMEOUT = 60.0
#: Seconds an interpreter may take to end after its import (a thread started at import...).
CLOSE_TIMEOUT = 10.0
#: Seconds a checking process may take to start.
_STARTUP_TIMEOUT = 120.0
#: Above this many modules a progress bar is drawn on stderr even when it is not a terminal.
_MANY = 50
#: Extension files looked at per package (a package with more is sampled in path order).
_MAX_EXTENSIONS = 64

STATUSES = ("ok", "degraded", "refused", "error")

#: What a package loses when one of its extension modules is refused, where known.
KNOWN_LOSSES = {
    "yaml._yaml": "yaml.CLoader/CSafeLoader/CDumper are missing (the pure-Python loader is used)",
    "psycopg_binary": "psycopg runs its pure-Python implementation (slower)",
    "psycopg_c": "psycopg runs its pure-Python implementation (slower)",
    "charset_normalizer": "charset_normalizer cannot be imported: requests warns "
    "(RequestsDependencyWarning) and takes a response without a charset for UTF-8",
    "google._upb._message": "protobuf uses its pure-Python implementation (slower)",
    "simplejson._speedups": "simplejson runs in pure Python (slower)",
    "yarl._quoting_c": "yarl quotes URLs in pure Python (slower)",
    "multidict._multidict": "multidict runs in pure Python (slower)",
    "frozenlist._frozenlist": "frozenlist runs in pure Python (slower)",
    "propcache._helpers_c": "propcache runs in pure Python (slower)",
    "aiohttp._http_parser": "aiohttp parses HTTP in pure Python (slower)",
    "tornado.speedups": "tornado masks websocket frames in pure Python (slower)",
    "markupsafe._speedups": "markupsafe escapes in pure Python (slower)",
    "PIL._imaging": "PIL.Image cannot be imported: Pillow opens, draws and saves nothing",
    "_cffi_backend": "cffi.FFI() and every module compiled with cffi fail to import",
    "cryptography.hazmat.bindings._rust": "cryptography's primitives (fernet, x509, "
    "hazmat.primitives) cannot be imported",
    "lxml.etree": "lxml.etree (lxml's core) cannot be imported",
    "psutil": "psutil cannot be imported: the package runs without it",
    "grpc._cython": "grpc cannot be imported: the package runs without its gRPC parts",
}

#: Helper packages that refuse to be imported before the package they serve: that one is
#: imported first (psycopg_binary raises "the psycopg package should be imported before
#: psycopg_binary" otherwise, an error that says nothing about interpreters).
IMPORTED_AFTER = {"psycopg_binary": "psycopg", "psycopg_c": "psycopg"}


@dataclass(frozen=True)
class Result:
    """The outcome of importing one module in an own-GIL interpreter.

    ``status`` is one of :data:`STATUSES`. ``extension`` names the extension module that
    made the import fail (``refused``) or the first one refused (``degraded``); ``error`` is
    the exception's ``Type: message`` (or what happened to the process) for ``refused``
    and ``error``. ``refused`` and ``loaded`` list the package's extension modules by full
    dotted name; ``lost`` says what a degraded module loses, where known; ``warnings``
    are the warnings its import raised.
    """

    module: str
    status: str
    extension: str | None = None
    error: str | None = None
    refused: tuple[str, ...] = ()
    loaded: tuple[str, ...] = ()
    lost: str | None = None
    warnings: tuple[str, ...] = ()


# --- inside the own-GIL interpreter -----------------------------------------------------------


class _Refusals:
    """While open, records (in ``names``) the full dotted name of every extension module
    whose loading is refused in this interpreter, also when the importer catches the
    refusal: CPython's message may name only the last part (``_message`` for
    ``google._upb._message``)."""

    def __enter__(self) -> _Refusals:
        import importlib.machinery

        from ._wire.refusal import search

        self.names: list[str] = []
        self._loader = loader = importlib.machinery.ExtensionFileLoader
        self._create = create = loader.create_module
        names = self.names

        def create_module(self, spec):
            try:
                return create(self, spec)
            except ImportError as e:
                if search(str(e)) and spec.name not in names:
                    names.append(spec.name)
                raise

        loader.create_module = create_module  # this interpreter is used for this import only
        return self

    def __exit__(self, *exc) -> None:
        self._loader.create_module = self._create

    def full_name(self, extension: str) -> str:
        """The full name of a refused extension a message names as ``extension``."""
        return next(
            (r for r in reversed(self.names) if r == extension or r.endswith("." + extension)),
            extension,
        )


def _probe(module: str) -> tuple:
    """Runs inside a fresh interpreter: import ``module``; returns ``(status, extension,
    error, refused extensions, warnings)``. Every extension module whose loading was refused
    on the way is recorded, also when the importer caught the refusal."""
    import contextlib
    import importlib
    import io
    import warnings

    from ._wire.refusal import refused_extension

    sink = io.StringIO()
    caught: list = []
    with _Refusals() as refusals:
        try:
            with (
                warnings.catch_warnings(record=True) as caught,
                contextlib.redirect_stdout(sink),
                contextlib.redirect_stderr(sink),
            ):
                warnings.simplefilter("always")
                first = IMPORTED_AFTER.get(module.split(".")[0])
                if first is not None:
                    importlib.import_module(first)
                importlib.import_module(module)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from an import, too
            extension = refused_extension(exc)
            refused = refusals.names
            if extension is not None:
                full = refusals.full_name(extension)
                return ("refused", full, _refusal_text(exc), refused, [])
            return ("error", None, f"{type(exc).__name__}: {exc}".strip(), refused, [])
    texts = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    return ("ok", None, None, refusals.names, texts[:5])


def _probe_extension(name: str) -> tuple[str, str | None]:
    """Runs inside a fresh interpreter: ``("loaded", None)``, ``("refused", X)`` or
    ``("failed", None)`` (another error: the extension needs something first) for
    importing extension module ``name``; ``X`` is the full name of the extension that
    refused: ``name``, or another one it (or its package) imports first."""
    import importlib

    from ._wire.refusal import refused_extension

    with _Refusals() as refusals:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            refuser = refused_extension(exc)
            if refuser is None:
                return ("failed", None)
            return ("refused", refusals.full_name(refuser))
    return ("loaded", None)


def _refusal_text(exc: BaseException) -> str:
    """CPython's own refusal line, found along the chain (libraries wrap it in long texts)."""
    from ._wire.refusal import chain, search

    for e in chain(exc):
        m = search(str(e))
        if m:
            return f"ImportError: {m.group(0)}"
    return f"{type(exc).__name__}: {exc}".strip()


# --- the child process: one module at a time, each in fresh interpreters ---------------------


def extension_modules(module: str) -> list[str]:
    """The extension modules of ``module``'s package and distribution, by full dotted name,
    found by file without importing anything: those inside the package, then the private
    ones its distribution installs beside it (``_cffi_backend`` for cffi,
    ``google._upb._message`` for protobuf, a mypyc ``..._mypyc`` library); ``[]`` for a
    plain module of a distribution without any."""
    import importlib.machinery
    import importlib.util

    top = module.split(".")[0]
    found = _private_extensions_of(module)
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
        for root in spec.submodule_search_locations:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d.isidentifier() and d != "tests")
                rel = os.path.relpath(dirpath, root)
                parts = [top] + ([] if rel == "." else rel.split(os.sep))
                for f in sorted(filenames):
                    suffix = next((s for s in suffixes if f.endswith(s)), None)
                    stem = f[: -len(suffix)] if suffix else ""
                    # An extension compiled from a package's __init__.py (mypyc) is the
                    # package itself.
                    name = ".".join(parts if stem == "__init__" else [*parts, stem])
                    if stem.isidentifier() and name not in found:
                        found.append(name)
                    if len(found) >= _MAX_EXTENSIONS:
                        return found
    return found


def _private_extensions_of(module: str) -> list[str]:
    """The private extension modules (see :func:`distribution_extensions`) of the
    installed distributions that provide ``module`` (or, for a namespace package, a part
    of it)."""
    names: list[str] = []
    for dist in _distributions_of(module.split(".")[0]):
        public = distribution_modules(dist)
        if not any(_within(module, p) or _within(p, module) for p in public):
            continue
        for name in distribution_extensions(dist):
            if name not in names and not any(_within(name, p) for p in public):
                names.append(name)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _distributions_of(top: str) -> list:
    """The installed distributions that install top-level module or package ``top``."""
    import importlib.metadata

    global _PACKAGES_DISTRIBUTIONS
    if _PACKAGES_DISTRIBUTIONS is None:
        _PACKAGES_DISTRIBUTIONS = importlib.metadata.packages_distributions()
    dists = []
    for name in dict.fromkeys(_PACKAGES_DISTRIBUTIONS.get(top, [])):
        try:
            dists.append(importlib.metadata.distribution(name))
        except importlib.metadata.PackageNotFoundError:
            continue
    return dists


_PACKAGES_DISTRIBUTIONS: dict | None = None


def _module_files(dist) -> list[tuple[tuple[str, ...], bool]]:
    """``(dotted parts, is an extension)`` for each Python module file ``dist`` installs
    (``("yaml", "__init__")``, ``("_cffi_backend",)``), from its file list (RECORD)."""
    import importlib.machinery
    import re

    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True)
    found = []
    for f in dist.files or ():
        parts = f.parts
        if not parts or any(not re.fullmatch(r"\w+", p) for p in parts[:-1]):
            continue  # ../../bin/..., foo-1.0.dist-info/..., numpy.libs/...
        name = parts[-1]
        if name.endswith(".py"):
            stem, ext = name[:-3], False
        else:
            suffix = next((s for s in suffixes if name.endswith(s)), None)
            if suffix is None:
                continue
            stem, ext = name[: -len(suffix)], True
        if re.fullmatch(r"\w+", stem):
            # An extension compiled from a package's __init__.py (mypyc) is the package.
            path = (
                parts[:-1]
                if stem == "__init__" and ext and len(parts) > 1
                else (
                    *parts[:-1],
                    stem,
                )
            )
            found.append((tuple(path), ext))
    return found


def distribution_modules(dist) -> list[str]:
    """The public import names an installed distribution (an
    ``importlib.metadata.Distribution``) provides, sorted: its top-level modules and
    packages, found from its file list; for a namespace package it shares with other
    distributions (a directory without an ``__init__.py`` of its own: ``google``,
    ``opentelemetry``), the modules and packages it puts there (``google.auth``,
    ``google.protobuf``). Helpers are left out: names with a part starting with ``_``, and
    mypyc's ``<hash>__mypyc`` library.
    A distribution that lists no module file (an editable install's ``.pth``) gets its
    ``top_level.txt`` names, or its own name when that is an importable module."""
    import importlib.util
    import keyword

    modules = {parts for parts, _ in _module_files(dist)}
    names: set[str] = set()

    def walk(prefix: tuple[str, ...], entries: set[tuple[str, ...]]) -> None:
        heads = sorted({e[0] for e in entries})
        for head in heads:
            if (
                head.startswith("_")
                or head.endswith("__mypyc")  # mypyc's shared library of compiled modules
                or not head.isidentifier()
                or keyword.iskeyword(head)
            ):
                continue
            full = (*prefix, head)
            below = {e[1:] for e in entries if e[0] == head and len(e) > 1}
            if (head,) in entries or ("__init__",) in below:
                names.add(".".join(full))
            elif below:
                walk(full, below)  # a namespace package: what this distribution puts there

    walk((), modules)
    if not names and not modules:
        text = dist.read_text("top_level.txt") or ""
        candidates = text.split() or [
            (dist.metadata["Name"] or "").replace("-", "_").replace(".", "_").lower()
        ]
        for name in candidates:
            if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
                continue
            try:
                if importlib.util.find_spec(name) is not None:
                    names.add(name)
            except (ImportError, ValueError):
                continue
    return sorted(names)


def distribution_extensions(dist) -> list[str]:
    """Every extension module an installed distribution installs, by full dotted name,
    sorted (from its file list, without importing anything)."""
    return sorted({".".join(parts) for parts, ext in _module_files(dist) if ext})


def _child_main() -> None:
    """The checking child: reads module names on stdin, answers one JSON line per module
    on the file descriptor it was given (fds 1 and 2 go to /dev/null, so what an import
    prints cannot garble the answers), then ``"closed"`` once the module's interpreter has
    ended."""
    import json

    # The parent's import path, so the child finds what the parent would.
    sys.path[:] = json.loads(os.environ.pop("MANYGIL_CHECK_PATH", "null")) or sys.path
    from .interpreters import create

    out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    out.write('"ready"\n')
    for line in sys.stdin:
        module = line.strip()
        if not module:
            continue
        it = create()
        try:
            status, extension, error, refused, texts = it.call(_probe, module)
        except BaseException as exc:
            status, extension, error, refused, texts = (
                "error",
                None,
                f"{type(exc).__name__}: {exc}",
                [],
                [],
            )
        extensions: dict[str, str] = {}
        if status != "error":
            for name in extension_modules(module):
                if name in refused:
                    extensions[name] = "refused"
                    continue
                if any(
                    name.startswith(r + ".")
                    for r in (*refused, *extensions)
                    if extensions.get(r, "refused") == "refused"
                ):
                    continue  # its package is refused: importing it alone tells nothing
                ext = create()
                try:
                    outcome, refuser = ext.call(_probe_extension, name)
                finally:
                    ext.close()
                if outcome == "refused" and refuser != name:
                    # Something it needs first refused: that one is the refused extension.
                    extensions.setdefault(refuser, "refused")
                    outcome = "failed"
                extensions[name] = outcome
        answer = [status, extension, error, refused, texts, extensions]
        out.write(json.dumps(answer) + "\n")
        it.close()
        out.write('"closed"\n')


class _Child:
    """One checking child process (see :func:`_child_main`), driven by one parent thread."""

    def __init__(self):
        import json
        import subprocess

        code = "from manygil.check import _child_main; _child_main()"
        env = dict(os.environ, MANYGIL_CHECK_PATH=json.dumps(sys.path))
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join([here, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._buf = ""
        # Time limits count from here: starting Python and manygil is not the import's.
        if self._readline(_STARTUP_TIMEOUT) != '"ready"':
            self.kill()
            raise RuntimeError("the checking process did not start")

    def ask(self, module: str, timeout: float | None) -> Result:
        """Check ``module``; after an answer that is not a clean one the child is dead and
        a new one must be made."""
        import json

        try:
            self.proc.stdin.write(module + "\n")
            self.proc.stdin.flush()
        except OSError:
            return self._died(module)
        line = self._readline(timeout)
        if line is None:
            self.kill()
            return Result(
                module,
                "error",
                error=f"TimeoutError: the import did not finish within {timeout:g} s "
                "(stuck, or waiting for something that never comes)",
            )
        if line == "":
            return self._died(module)
        status, extension, error, refused, texts, extensions = json.loads(line)
        closed = self._readline(min(CLOSE_TIMEOUT, timeout or CLOSE_TIMEOUT))
        if closed != '"closed"':
            self.kill()
            status, error = (
                "error",
                "the module imported, but its interpreter did not end within "
                f"{CLOSE_TIMEOUT:g} s: something it started at import (a non-daemon thread) "
                "keeps running",
            )
        return _result(module, status, extension, error, refused, texts, extensions)

    def _readline(self, timeout):
        """The next line from the child without its newline, "" at end of file, None if
        ``timeout`` passed first."""
        import select
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while "\n" not in self._buf:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return ""
            self._buf += chunk.decode("utf-8", "replace")
        line, self._buf = self._buf.split("\n", 1)
        return line

    def _died(self, module: str) -> Result:
        import signal

        rc = self.proc.wait()
        if rc < 0:
            try:
                what = f"killed the checking process with {signal.Signals(-rc).name}"
            except ValueError:
                what = f"killed the checking process with signal {-rc}"
        else:
            what = f"ended the checking process with exit status {rc} (os._exit or a C abort)"
        return Result(module, "error", error=f"the import {what}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=CLOSE_TIMEOUT)
        except Exception:
            self.kill()


def _result(module, status, extension, error, refused, texts, extensions) -> Result:
    refused_all = list(
        dict.fromkeys([*refused, *(n for n, s in extensions.items() if s == "refused")])
    )
    loaded = tuple(n for n, s in extensions.items() if s == "loaded")
    lost = None
    if status == "ok" and refused_all:
        status, extension = "degraded", refused_all[0]
        known = [
            text
            for key, text in KNOWN_LOSSES.items()
            if any(n == key or n.startswith(key + ".") for n in refused_all)
        ]
        lost = "; ".join(known) if known else None
    return Result(
        module,
        status,
        extension,
        error,
        tuple(refused_all),
        loaded,
        lost,
        tuple(texts),
    )


# --- the parent -------------------------------------------------------------------------------


def installed_modules() -> list[str]:
    """The public import names (:func:`distribution_modules`) of every installed
    distribution, sorted: top-level modules and packages, and the parts of namespace
    packages (``google.protobuf``) rather than the whole namespace."""
    import importlib.metadata

    names: set[str] = set()
    for dist in importlib.metadata.distributions():
        names.update(distribution_modules(dist))
    return sorted(names)


def requirement_modules(path: str) -> tuple[list[str], list[str]]:
    """``(modules, not installed)`` for a requirements file: the public import names
    (:func:`distribution_modules`) of each distribution it names (``-r`` includes followed;
    options, URLs and markers ignored), and the distributions that are not installed here."""
    import importlib.metadata

    modules: list[str] = []
    missing: list[str] = []
    for name in _requirement_names(path, set()):
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        modules.extend(m for m in distribution_modules(dist) if m not in modules)
    return modules, missing


def _requirement_names(path: str, seen: set) -> list[str]:
    import re

    real = os.path.realpath(path)
    if real in seen:
        return []
    seen.add(real)
    names = []
    with open(path) as f:
        for raw in f:
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(("-r ", "--requirement ")):
                inc = line.split(None, 1)[1].strip()
                names.extend(_requirement_names(os.path.join(os.path.dirname(path), inc), seen))
                continue
            if line.startswith("-") or "://" in line:
                continue
            m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
            if m:
                names.append(m.group(0))
    return names


def check_modules(
    modules: Iterable[str],
    *,
    workers: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: bool = False,
) -> list[Result]:
    """Import each module in a fresh own-GIL interpreter, in checking child processes,
    ``workers`` at a time (default: the number of CPUs), and return one :class:`Result`
    per module, in order (duplicates checked once).

    Blocks until every import has finished, or passed ``timeout`` seconds (the child is
    then killed and the module reported as an error, as is one whose import crashed or
    exited the child). ``progress=True`` draws a progress bar on stderr. Raises ValueError
    for a name that is not an absolute module name.
    """
    import queue
    import threading

    names = list(dict.fromkeys(modules))
    for name in names:
        if not isinstance(name, str) or not name or name.startswith(".") or name.endswith("."):
            raise ValueError(f"not an absolute module name: {name!r}")
    if not names:
        return []
    workers = min(workers or os.cpu_count() or 1, len(names))
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for name in names:
        todo.put(name)
    done: queue.SimpleQueue = queue.SimpleQueue()

    def drive():
        child = None
        try:
            while True:
                try:
                    name = todo.get_nowait()
                except queue.Empty:
                    return
                if child is None:
                    child = _Child()
                result = child.ask(name, timeout)
                if child.proc.poll() is not None:
                    child = None  # it died or was killed: the next module gets a new one
                done.put(result)
        finally:
            if child is not None:
                child.close()

    threads = [threading.Thread(target=drive, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    finished = (done.get() for _ in names)
    if progress:
        from ._pool.progress import track

        finished = track(finished, len(names))
    results = {r.module: r for r in finished}
    for t in threads:
        t.join()
    return [results[name] for name in names]


def _first_line(text: str | None, width: int = 100) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def _detail(r: Result) -> str:
    if r.status == "refused":
        return f"extension {r.extension} does not support own-GIL interpreters"
    if r.status == "degraded":
        names = ", ".join(r.refused)
        text = f"imports without {names} (refused)"
        return f"{text}: {r.lost}" if r.lost else text
    if r.status == "ok" and r.loaded:
        return f"{len(r.loaded)} extension module{'s' * (len(r.loaded) > 1)} load"
    return _first_line(r.error)


def format_table(results: list[Result], missing: Iterable[str] = ()) -> str:
    """The human-readable report: one row per module and a summary line."""
    rows = [("MODULE", "STATUS", "DETAIL")]
    rows += [(r.module, r.status, _detail(r)) for r in results]
    w0 = max(len(row[0]) for row in rows)
    w1 = max(len(row[1]) for row in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows]
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    lines.append("")
    lines.append(
        f"{len(results)} modules: "
        + ", ".join(f"{counts[s]} {s}" for s in STATUSES)
        + (f"; not installed: {', '.join(missing)}" if missing else "")
    )
    if counts["refused"] or counts["degraded"]:
        lines.append(
            'refused modules run in process workers with manygil.Pool(fallback="process"); '
            "degraded ones run in interpreters without the refused parts; see "
            "docs/extensions.md"
        )
    return "\n".join(lines)


def _parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m manygil check",
        description="Import each module in a fresh own-GIL interpreter (in a child process) "
        "and report whether it loads (ok), loads without some of its extension modules "
        "(degraded), is refused by a non-isolated extension module (refused) or fails "
        "(error: raised, hung, crashed or exited). Exit status 0 only if every module is ok.",
    )
    p.add_argument("modules", nargs="*", metavar="MODULE", help="modules to check")
    p.add_argument(
        "--installed",
        action="store_true",
        help="check every top-level module of every installed distribution (the default "
        "when no MODULE and no -r is given)",
    )
    p.add_argument(
        "-r",
        "--requirement",
        action="append",
        default=[],
        metavar="FILE",
        help="check the top-level modules of the distributions a requirements file names",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="checking processes run in parallel (default: the number of CPUs)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds one import may take (default: {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar on stderr (default: on a terminal, or for more than "
        f"{_MANY} modules)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m manygil check``; returns the exit status."""
    import json

    p = _parser()
    args = p.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        p.error(f"--jobs must be at least 1, got {args.jobs}")
    if not args.timeout > 0:
        p.error(f"--timeout must be a positive number of seconds, got {args.timeout}")
    modules = list(args.modules)
    missing: list[str] = []
    for path in args.requirement:
        try:
            found, absent = requirement_modules(path)
        except OSError as exc:
            p.error(f"cannot read requirements file {path!r}: {exc.strerror}")
        modules += found
        missing += absent
    if args.installed or not (args.modules or args.requirement):
        modules += installed_modules()
    progress = args.progress
    if progress is None:
        progress = len(modules) > 1 and (sys.stderr.isatty() or len(modules) > _MANY)
    try:
        results = check_modules(modules, workers=args.jobs, timeout=args.timeout, progress=progress)
    except ValueError as exc:
        p.error(str(exc))
    if args.json:
        doc = [asdict(r) for r in results]
        doc += [{"module": None, "distribution": d, "status": "not installed"} for d in missing]
        print(json.dumps(doc, indent=2))
    else:
        print(format_table(results, missing))
    return 0 if not missing and all(r.status == "ok" for r in results) else 1
