"""Recognise CPython's refusal to load a non-isolated extension module in an own-GIL
interpreter, name the extension that refused, and say what to do.

CPython raises ``ImportError("module X does not support loading in subinterpreters")``
(with ``name`` unset) when an extension lacks per-interpreter GIL support. Libraries often
wrap that error in their own (numpy raises a long "IMPORTANT: PLEASE READ THIS" message
from it), so the refusal is looked for along ``__cause__`` / ``__context__`` and in the
messages, and failing that the traceback names the module that was importing it.
"""

from __future__ import annotations

# The text of CPython's refusal (Python/import.c, 3.12 to 3.15).
# A module name may start with a digit: mypyc's shared library is "<hash>__mypyc".
REFUSAL = r"module '?(\w[\w.]*)'? does not support loading in subinterpreters"
MARK = "does not support loading in subinterpreters"
_refusal_re = None

#: Attribute set on an explained refusal: the extension module that refused (str).
REFUSED_ATTR = "_manygil_refused"
#: Attribute set (by the worker) on an exception raised before the task's callable ran:
#: while its function or arguments were being imported/decoded.
UNRESOLVED_ATTR = "_manygil_unresolved"

FALLBACK_HINT = 'run such tasks in processes with manygil.Pool(fallback="process")'


def search(text: str):
    """CPython's refusal in ``text``: a match whose group 1 names the module, or None."""
    global _refusal_re
    if _refusal_re is None:
        # Imported here: `re` costs every interpreter that imports manygil ~1 MiB, and
        # most never see a refusal.
        import re

        _refusal_re = re.compile(REFUSAL)
    return _refusal_re.search(text)


def chain(exc: BaseException):
    """``exc`` and the exceptions it was raised from or during, outermost first."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.append(e.__cause__)
        todo.append(e.__context__)
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return ""


def refused_extension(exc: BaseException) -> str | None:
    """The extension module that refused to load in this interpreter, if ``exc`` (or an
    exception it was raised from) is such a refusal; ``None`` otherwise.

    When a refusal is found but names no module (a library rewrote the text), the module
    whose import was running when it happened (from the traceback) is returned.
    """
    if not isinstance(exc, BaseException):
        return None
    known = getattr(exc, REFUSED_ATTR, None)
    if isinstance(known, str):
        return known
    found_mark = None
    for e in chain(exc):
        if not isinstance(e, ImportError):
            continue
        text = _message(e)
        m = search(text)
        if m:
            return m.group(1)
        if MARK in text:
            found_mark = e
    if found_mark is None:
        return None
    if isinstance(found_mark.name, str) and found_mark.name:
        return found_mark.name
    return _importing_module(found_mark) or "an extension module"


def _importing_module(exc: BaseException) -> str | None:
    """The ``__name__`` of the innermost module body running in ``exc``'s traceback."""
    name = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "<module>":
            name = frame.f_globals.get("__name__", name)
        tb = tb.tb_next
    return name if isinstance(name, str) else None


def top_level(module: str) -> str:
    """``"numpy"`` for ``"numpy._core._multiarray_umath"``."""
    return module.split(".", 1)[0]


def headline(extension: str) -> str:
    """The first line of an explained refusal."""
    top = top_level(extension)
    if extension == top:
        what = f"the extension module {extension}"
    else:
        what = f"{top} (its extension module {extension})"
    return (
        f"{what} cannot be imported in an own-GIL sub-interpreter: it does not declare "
        f"per-interpreter GIL support; {FALLBACK_HINT}, or use it only in the main interpreter"
    )


def explain(exc: BaseException) -> str | None:
    """If ``exc`` is (or comes from) a refusal, rewrite its message in place so that its
    first line is :func:`headline` (the original text follows) and record the extension
    in ``exc._manygil_refused``; return the extension's name, else ``None``."""
    if not isinstance(exc, ImportError):
        return None
    extension = refused_extension(exc)
    if extension is None:
        return None
    try:
        setattr(exc, REFUSED_ATTR, extension)
        original = exc.msg if isinstance(exc.msg, str) else _message(exc)
        if not original.startswith(headline(extension)):
            exc.msg = f"{headline(extension)}\n\n{original.strip()}"
            exc.args = (exc.msg,) + exc.args[1:]
    except Exception:  # an exception class with read-only attributes: keep it as it is
        return extension
    return extension


def resolved(fn) -> bool:
    """Sent into a probe interpreter with a function as its argument: decoding the argument
    imports the function's module, which is all the probe wants to know."""
    return True
