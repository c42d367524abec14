"""The WSGI side of ``manygil serve``, running inside each worker interpreter.

:func:`load` imports the application once per interpreter; :func:`run` then serves
requests taken from the server's queue (natively, with the GIL released) until the
server closes or the worker has served its quota. The main interpreter never imports
this module's application.
"""

from __future__ import annotations

import importlib
import sys
import threading

from .. import _native

_app = None
_spec = ""
_interface = "wsgi"  # or "asgi" (then _serve_asgi serves)


def _refused_in_subinterpreter(exc: BaseException) -> str | None:
    """The message of an extension module refusing own-GIL interpreters, if that is
    what ``exc`` (or an exception it chains from) says."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        msg = str(exc)
        if "subinterpreter" in msg or "sub-interpreter" in msg:
            return msg
        exc = exc.__cause__ or exc.__context__
    return None


def _detect_interface(app) -> str | None:
    """ "asgi" for an ``async def`` callable (or an object whose ``__call__`` is one);
    None for a plain callable that requires exactly 3 positional arguments (an ASGI
    application behind a synchronous wrapper? or not an application at all); "wsgi" for
    anything else (as before ASGI support: e.g. ``wsgiref.validate``'s ``*args`` wrapper)."""
    if "inspect" not in sys.modules:
        # Importing inspect costs each worker ~2.4 MiB (ast, dis, tokenize, enum, re...):
        # a plain function, or an object whose class defines ``__call__`` as one, is read
        # from its code object instead, with the answer inspect would give.
        plain = _detect_plain(app)
        if plain is not _UNSURE:
            return plain
    return _detect_by_inspect(app)


def _detect_by_inspect(app) -> str | None:
    import inspect

    call = app if inspect.isroutine(app) or isinstance(app, type) else type(app).__call__
    if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call):
        return "asgi"
    try:
        params = list(inspect.signature(app).parameters.values())
    except (TypeError, ValueError):
        return "wsgi"
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return "wsgi"
    required = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return None if len(required) == 3 else "wsgi"


# _detect_plain cannot tell (inspect's rules go beyond the code object).
_UNSURE = "unsure"
# Attributes through which inspect finds another signature (or a coroutine mark) than
# the code object's: functools.wraps, __signature__, partialmethod,
# inspect.markcoroutinefunction.
_SIGNATURE_ATTRS = ("__wrapped__", "__signature__", "__partialmethod__", "_is_coroutine_marker")
_CO_VARARGS = 0x04  # inspect.CO_VARARGS
_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE


def _plain_function(f) -> bool:
    """Whether ``f`` is a Python function that inspect reads from its code object alone."""
    return type(f) is _FunctionType and not any(hasattr(f, a) for a in _SIGNATURE_ATTRS)


_FunctionType = type(_plain_function)


def _detect_plain(app) -> str | None:
    """:func:`_detect_by_inspect`'s answer for a plain function or an instance of a class
    defining ``__call__`` as one, without importing inspect; :data:`_UNSURE` otherwise."""
    if type(app) is _FunctionType:
        if not _plain_function(app):
            return _UNSURE
        func, bound = app, False
    else:
        tp = type(app)
        functools = sys.modules.get("functools")
        if (
            isinstance(app, type)
            or hasattr(tp, "__get__")  # a descriptor: inspect sees a routine
            or any(hasattr(app, a) for a in (*_SIGNATURE_ATTRS, "__code__", "__text_signature__"))
            or (functools is not None and isinstance(app, functools.partial))
        ):
            return _UNSURE
        func = next((k.__dict__["__call__"] for k in tp.__mro__ if "__call__" in k.__dict__), None)
        if func is None or func is not tp.__call__ or not _plain_function(func):
            return _UNSURE
        bound = True  # inspect drops the first parameter (self)
    code = func.__code__
    if code.co_flags & _CO_COROUTINE:
        return "asgi"
    if code.co_flags & _CO_VARARGS or (bound and not code.co_argcount):
        # *args; or a method without a positional parameter for self (no signature).
        return "wsgi"
    required = code.co_argcount - len(func.__defaults__ or ()) - bound
    return None if required == 3 else "wsgi"


def interface() -> str:
    """The interface of the loaded application: "wsgi" or "asgi"."""
    return _interface


def load(spec: str, interface: str = "auto", traceback_in_error: bool = False) -> str | None:
    """Import the application ``MODULE:ATTR`` (ATTR defaults to ``application``), as a
    WSGI or ASGI application (``interface``: "wsgi", "asgi" or "auto"); an ASGI one has its
    lifespan startup run here.

    Returns None on success, or one line naming the cause of the failure. The traceback of
    an import that raised is printed on stderr, or, with ``traceback_in_error``, returned
    after that line (``--reload`` loads several interpreters at once and prints one).
    """
    global _app, _spec, _interface
    module_name, _, attr = spec.partition(":")
    attr = attr or "application"
    if not module_name:
        return f"{spec!r} is not MODULE:APP (e.g. myproject.wsgi:application)"
    try:
        module = importlib.import_module(module_name)
    except BaseException as e:
        refused = _refused_in_subinterpreter(e)
        if refused:
            return (
                f"cannot import {module_name!r} in an own-GIL interpreter: {refused} "
                "(an extension module it needs does not support sub-interpreters)"
            )
        if (
            isinstance(e, ModuleNotFoundError)
            and e.name
            and (module_name == e.name or module_name.startswith(e.name + "."))
        ):
            return f"cannot import {module_name!r}: no module named {e.name!r} (check sys.path and the current directory)"
        line = f"importing {module_name!r} failed: {type(e).__name__}: {e}"
        if traceback_in_error:
            return line + "\n" + _import_traceback(e)
        _print_exc()
        return line
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            return f"module {module_name!r} has no attribute {attr!r}"
    if not callable(obj):
        return f"{module_name}:{attr} is not callable (it is a {type(obj).__name__}); expected a WSGI or ASGI application"
    if interface == "auto":
        detected = _detect_interface(obj)
        if detected is None:
            return (
                f"cannot tell whether {module_name}:{attr} is a WSGI or an ASGI application "
                "(WSGI: app(environ, start_response); ASGI: async def app(scope, receive, send)); "
                "pass --interface wsgi or --interface asgi"
            )
        interface = detected
    _app = obj
    _spec = spec
    _interface = interface
    if interface == "asgi":
        from . import asgi as _serve_asgi

        return _serve_asgi.start(obj, spec)
    return None


def _import_traceback(e: BaseException) -> str:
    """The traceback of an import that raised, without the import machinery's frames (as
    Python shows a failed ``import``): the application's own frames, and for a syntax
    error the file, line and caret."""
    import traceback

    tb = traceback.TracebackException.from_exception(e)
    machinery = (importlib.__file__, __file__)
    tb.stack = traceback.StackSummary.from_list(
        [
            f
            for f in tb.stack
            if f.filename not in machinery and not f.filename.startswith("<frozen ")
        ]
    )
    return "".join(tb.format()).rstrip("\n")


def warm(interface: str = "auto") -> None:
    """Import what :func:`load` and :func:`run` use, but not the application: an
    interpreter made ahead of ``--reload``'s next load then only imports the application
    (these are standard library modules, never the application's)."""
    import inspect  # noqa: F401 - _detect_interface
    import traceback  # noqa: F401 - _import_traceback

    if interface == "asgi":
        from . import asgi as _serve_asgi  # noqa: F401 - asyncio and the loop's machinery


class _Quota:
    """Requests this interpreter may still take (shared by its serving threads)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.served = 0
        self.lock = threading.Lock()

    def count(self) -> None:
        with self.lock:
            self.served += 1

    @property
    def exhausted(self) -> bool:
        return bool(self.limit) and self.served >= self.limit


def run(server_id: int, threads: int, max_requests: int, profile_queue=None, grace=None) -> str:
    """Serve requests with ``threads`` threads until the server closes (returns
    ``"closed"``) or ``max_requests`` requests were taken (returns ``"recycle"``).
    With ``profile_queue``, the interpreter serves under cProfile and sends its statistics
    there when it stops (``--profile``). ``grace``: how long (seconds; None: no limit) an
    ASGI worker that recycles waits for its open requests and WebSockets before it closes
    them (WSGI handlers are bounded by ``--timeout``)."""
    if _app is None:
        raise RuntimeError("manygil serve: run() before load()")
    profiler = None
    if profile_queue is not None:
        from .._observe import profiling as _profiling

        profiler = _profiling.start_worker()
    try:
        return _run(server_id, threads, max_requests, grace)
    finally:
        if profiler is not None:
            _profiling.stop_worker(profiler, profile_queue)


def _run(server_id: int, threads: int, max_requests: int, grace=None) -> str:
    if _interface == "asgi":
        from . import asgi as _serve_asgi

        return _serve_asgi.run(server_id, max_requests, grace)
    quota = _Quota(max_requests)
    multithread = threads > 1
    # With a quota and several threads, waiting threads poll so that all of them notice
    # when another one took the last request.
    poll = 0.2 if (max_requests and multithread) else None
    # Requests run in threads started here, even with one thread, so that applications
    # calling threading.current_thread() (Flask, Django, logging) see a real Thread rather
    # than a _DummyThread for the interpreter's own worker thread. Each is named
    # manygil-s<interpreter id>.<n> (n from 1), in threading and for the OS (top -H,
    # py-spy; the interpreter's own thread is manygil-w<id>).
    me = _native.get_current()[0]
    ts = [
        threading.Thread(
            target=_serve,
            args=(server_id, quota, multithread, poll),
            name=f"manygil-s{me}.{i + 1}",
        )
        for i in range(max(1, threads))
    ]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return "recycle" if quota.exhausted else "closed"


def _serve(server_id: int, quota: _Quota, multithread: bool, poll) -> None:
    app = _app
    # 3.14 names the OS thread after the Thread itself; 3.13 does not.
    _native.set_thread_name(threading.current_thread().name)
    try:
        while not quota.exhausted:
            try:
                got = _native.serve_next(server_id, poll)
                if got is None:
                    return
                if got is False:
                    continue
                rid, environ = got
                try:
                    # A request taken is always served, even if another thread took the
                    # last one of the quota meanwhile (at most threads - 1 over).
                    quota.count()
                    _handle(app, rid, environ, multithread)
                finally:
                    _native.serve_done(rid)
            except KeyboardInterrupt:
                # Only manygil interrupts worker threads (timeouts, shutdown); the
                # request was already answered by the front.
                continue
    finally:
        _native.serve_thread_exit()


class _Input:
    """``wsgi.input``: the request body, streamed from the connection."""

    __slots__ = ("_rid",)

    def __init__(self, rid: int):
        self._rid = rid

    def read(self, size: int | None = -1) -> bytes:
        return _native.serve_read(self._rid, -1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        return _native.serve_readline(self._rid, -1 if size is None else size)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class FileWrapper:
    """``wsgi.file_wrapper``: iterate a file-like object in blocks; ``close()`` closes it."""

    def __init__(self, filelike, blksize: int = 65536):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


_ERROR_BODY = b"Internal Server Error\n"

# The answers to a request whose body the application could not read by the client's
# fault (when nothing was sent yet): (status, headers, body).
_BODY_ERROR_ANSWERS = {
    "too_large": (
        "413 Content Too Large",
        [("Content-Type", "text/plain")],
        b"Request body too large\n",
    ),
    # Bad chunked framing: the connection cannot carry another request.
    "malformed": (
        "400 Bad Request",
        [("Content-Type", "text/plain"), ("Connection", "close")],
        b"Malformed request body\n",
    ),
}


def _print_exc() -> None:
    """The current exception's traceback to stderr."""
    # Imported here: on 3.14 traceback pulls in _colorize, dataclasses and inspect
    # (~2 MiB), which the main interpreter imports this module for but never uses.
    import traceback

    traceback.print_exc(file=sys.stderr)


def _log_error(environ, what: str) -> None:
    line = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
    if environ.get("QUERY_STRING"):
        line += "?" + environ["QUERY_STRING"]
    print(f"manygil serve: {what} in {line} ({_spec}):", file=sys.stderr)
    _print_exc()
    sys.stderr.flush()


def _handle(app, rid: int, environ: dict, multithread: bool) -> None:
    """Run the application for one request and send its answer (PEP 3333)."""
    environ["wsgi.input"] = _Input(rid)
    environ["wsgi.errors"] = sys.stderr
    environ["wsgi.multithread"] = multithread
    environ["wsgi.file_wrapper"] = FileWrapper
    head = None  # [status, headers] from start_response
    streaming = False  # head sent, body chunks follow

    def start_response(status, headers, exc_info=None):
        nonlocal head
        if exc_info is not None:
            try:
                if streaming:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif head is not None:
            raise AssertionError("start_response() called again without exc_info")
        if type(status) is not str:
            raise TypeError(f"status must be a str, not {type(status).__name__}")
        if type(headers) is not list:
            raise TypeError(f"response headers must be a list, not {type(headers).__name__}")
        head = [status, headers]
        return write

    def begin_stream() -> None:
        nonlocal streaming
        if head is None:
            raise AssertionError("the application sent body data before calling start_response()")
        if not _native.serve_start_stream(rid, head[0], head[1]):
            # Already answered (504, 503) or the client left: nothing of ours was sent.
            raise _ClientGone
        streaming = True

    def write(data) -> None:
        if type(data) is not bytes:
            data = _as_bytes(data)
        if not streaming:
            begin_stream()
        if data and not _native.serve_write(rid, data):
            raise _ClientGone

    try:
        result = app(environ, start_response)
        try:
            if not streaming and type(result) is list and len(result) <= 1:
                # The common case: the whole body at once, sent with a Content-Length.
                body = _as_bytes(result[0]) if result else b""
                if head is None:
                    raise AssertionError(
                        "the application returned without calling start_response()"
                    )
                _native.serve_respond(rid, head[0], head[1], body)
                return
            it = iter(result)
            first = b""
            if not streaming:
                # Hold the head until the first non-empty chunk (PEP 3333), and answer in
                # one piece if that is the only one.
                for chunk in it:
                    first = _as_bytes(chunk)
                    if first:
                        break
                else:
                    if head is None:
                        raise AssertionError(
                            "the application returned without calling start_response()"
                        )
                    _native.serve_respond(rid, head[0], head[1], first)
                    return
                second = b""
                for chunk in it:
                    second = _as_bytes(chunk)
                    if second:
                        break
                else:
                    _native.serve_respond(rid, head[0], head[1], first)
                    return
                begin_stream()
                for data in (first, second):
                    if not _native.serve_write(rid, data):
                        raise _ClientGone
            for chunk in it:
                data = _as_bytes(chunk)
                if data and not _native.serve_write(rid, data):
                    raise _ClientGone
            if not streaming:
                begin_stream()
            _native.serve_finish(rid)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except (_ClientGone, KeyboardInterrupt) as e:
        cancelled, _ = _native.serve_status(rid)
        if cancelled is None and isinstance(e, KeyboardInterrupt):
            raise
        if cancelled == "timeout":
            # Streaming: the answer had started (its status sent), so no 504 could be.
            what = (
                " while sending its response: connection closed" if streaming else ": answered 504"
            )
            print(
                f"manygil serve: {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} "
                f"ran past --timeout{what}, handler interrupted",
                file=sys.stderr,
            )
        return
    except BaseException:
        cancelled, body_error = _native.serve_status(rid)
        if body_error in _BODY_ERROR_ANSWERS and not streaming:
            _native.serve_respond(rid, *_BODY_ERROR_ANSWERS[body_error])
            return
        if cancelled in ("client_gone", "timeout", "shutdown") or body_error is not None:
            return
        _log_error(environ, "unhandled exception")
        if streaming:
            _native.serve_abort(rid)
        else:
            _native.serve_respond(
                rid,
                "500 Internal Server Error",
                [("Content-Type", "text/plain; charset=utf-8")],
                _ERROR_BODY,
            )


class _ClientGone(Exception):
    """The client can no longer receive the response."""


def _as_bytes(chunk) -> bytes:
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"the application must yield bytes, not {type(chunk).__name__}")
