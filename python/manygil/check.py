"""``python -m manygil check [MODULE ...] [--json]``: which modules import in an own-GIL
interpreter.

Each module is imported in a fresh own-GIL interpreter (a pool worker used for that one
module), several at a time, and reported as ``ok``, ``refused`` (an extension module it
loads does not support per-interpreter GIL: the extension is named) or ``error`` (the
import raised something else, or did not finish in time). Without MODULE arguments every
top-level module of the installed distributions is checked. The exit status is 0 only if
every module was ok.

:func:`check_modules` is the same as a function.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass

__all__ = ["Result", "check_modules", "installed_modules", "main"]

#: Seconds an import may take before it is reported as an error.
DEFAULT_TIMEOUT = 60.0
#: Above this many modules a progress bar is drawn on stderr even when it is not a terminal.
_MANY = 50


@dataclass(frozen=True)
class Result:
    """The outcome of importing one module in an own-GIL interpreter.

    ``status`` is ``"ok"``, ``"refused"`` (``extension`` names the extension module that
    does not support own-GIL interpreters) or ``"error"``; ``error`` is the exception's
    ``Type: message`` for the last two.
    """

    module: str
    status: str
    extension: str | None = None
    error: str | None = None


def _probe(module: str) -> tuple[str, str | None, str | None]:
    """Runs inside a fresh interpreter: import ``module`` and classify the outcome."""
    import contextlib
    import importlib
    import io
    import warnings

    from manygil._refusal import refused_extension

    sink = io.StringIO()
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            warnings.simplefilter("ignore")
            importlib.import_module(module)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from an import, too
        extension = refused_extension(exc)
        if extension is not None:
            return ("refused", extension, _refusal_text(exc))
        return ("error", None, f"{type(exc).__name__}: {exc}".strip())
    return ("ok", None, None)


def _refusal_text(exc: BaseException) -> str:
    """CPython's own refusal line, found along the chain (libraries wrap it in long texts)."""
    from manygil._refusal import chain, search

    for e in chain(exc):
        m = search(str(e))
        if m:
            return f"ImportError: {m.group(0)}"
    return f"{type(exc).__name__}: {exc}".strip()


def installed_modules() -> list[str]:
    """The importable top-level modules of the installed distributions, sorted."""
    import importlib.metadata
    import importlib.util
    import keyword

    candidates = set(importlib.metadata.packages_distributions())
    # Editable installs list only a .pth file: try the distribution's own name too.
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or ""
        candidates.add(dist_name.replace("-", "_").replace(".", "_").lower())
    names = set()
    for name in candidates:
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__"):
            continue
        try:
            if importlib.util.find_spec(name) is None:
                continue
        except (ImportError, ValueError):
            continue
        names.add(name)
    return sorted(names)


def check_modules(
    modules: Iterable[str],
    *,
    workers: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: bool = False,
) -> list[Result]:
    """Import each module in its own fresh own-GIL interpreter, ``workers`` at a time
    (default: the number of CPUs), and return one :class:`Result` per module, in order.

    Blocks until every import has finished or passed ``timeout`` seconds (an import stuck
    in C code is abandoned: its interpreter is replaced). ``progress=True`` draws a progress
    bar on stderr. Raises ValueError for an empty module name.
    """
    import concurrent.futures as cf

    from .pool import Pool, _default_workers

    names = list(dict.fromkeys(modules))
    for name in names:
        if not isinstance(name, str) or not name or name.startswith("."):
            raise ValueError(f"not an absolute module name: {name!r}")
    if not names:
        return []
    workers = min(workers or _default_workers(), len(names))
    results: dict[str, Result] = {}
    with Pool(workers, max_tasks_per_worker=1, task_timeout=timeout) as pool:
        futures = {pool.submit(_probe, name): name for name in names}
        done: Iterable = cf.as_completed(futures)
        if progress:
            from ._progress import track

            done = track(done, len(futures))
        for future in done:
            name = futures[future]
            try:
                status, extension, error = future.result()
            except TimeoutError:
                status, extension = "error", None
                error = f"TimeoutError: the import did not finish within {timeout:g} s"
            except Exception as exc:
                status, extension, error = "error", None, f"{type(exc).__name__}: {exc}"
            results[name] = Result(name, status, extension, error)
    return [results[name] for name in names]


def _first_line(text: str | None, width: int = 100) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def format_table(results: list[Result]) -> str:
    """The human-readable report: one row per module and a summary line."""
    rows = [("MODULE", "STATUS", "DETAIL")]
    for r in results:
        if r.status == "refused":
            detail = f"extension {r.extension} does not support own-GIL interpreters"
        else:
            detail = _first_line(r.error)
        rows.append((r.module, r.status, detail))
    w0 = max(len(row[0]) for row in rows)
    w1 = max(len(row[1]) for row in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows]
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "refused", "error")}
    lines.append("")
    lines.append(
        f"{len(results)} modules: {counts['ok']} ok, {counts['refused']} refused, "
        f"{counts['error']} error"
    )
    if counts["refused"]:
        lines.append(
            'refused modules run in process workers with manygil.Pool(fallback="process"); '
            "see docs/extensions.md"
        )
    return "\n".join(lines)


def _parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m manygil check",
        description="Import each module in a fresh own-GIL interpreter and report whether it "
        "loads (ok), is refused by a non-isolated extension module (refused) or fails "
        "(error). Exit status 0 only if every module is ok.",
    )
    p.add_argument(
        "modules",
        nargs="*",
        metavar="MODULE",
        help="modules to check (default: every top-level module of the installed distributions)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="imports run in parallel (default: the number of CPUs)",
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
    modules = args.modules or installed_modules()
    progress = args.progress
    if progress is None:
        progress = len(modules) > 1 and (sys.stderr.isatty() or len(modules) > _MANY)
    try:
        results = check_modules(modules, workers=args.jobs, timeout=args.timeout, progress=progress)
    except ValueError as exc:
        p.error(str(exc))
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(format_table(results))
    return 0 if all(r.status == "ok" for r in results) else 1
