"""``manygil serve``: a WSGI and ASGI server whose requests run in own-GIL interpreters.

An HTTP front in Rust (hyper on tokio I/O threads) parses requests and hands each one
straight to a worker: one own-GIL interpreter per worker, each with ``threads`` request
threads, each interpreter importing the application once. The main interpreter only
supervises: it never imports the application.

Command line::

    python -m manygil serve MODULE:APP [--workers N] [--threads T] [--bind HOST:PORT]
        [--uds PATH] [--timeout S] [--stuck-after S] [--max-stuck N] [--graceful-timeout S]
        [--max-body BYTES] [--max-requests-per-worker N] [--access-log] [--no-supervise]
        [--interface auto|wsgi|asgi] [--log-level LEVEL] [--no-forward-logging]
        [--profile FILE] [--ws-max-size BYTES] [--static URL_PREFIX=DIR ...]
        [--reload [--reload-dir DIR] [--reload-include GLOB]]
        [--interpreter-config isolated|legacy]

From the command line the server runs in a child process of a small supervisor
(``manygil._serve.supervisor``) that holds the listening sockets, restarts the server process if
it dies and replaces it on SIGHUP or once too many interpreters are stuck;
``--no-supervise`` serves in this process.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import socket
import sys
import threading
import time

from . import _native
from ._config import InterpreterConfig
from ._config import coerce as _coerce_config
from ._serve import worker as _serve_worker
from ._serve.options import (
    DEFAULT_BIND,
    EXIT_STUCK,
    STUCK_AFTER,
    WS_MAX_SIZE,
    StartupError,
    StuckLimitError,
    serve_kwargs,
)
from ._serve.options import listen_list as _listen_list
from .interpreters import Interpreter, create

__all__ = ["serve", "StartupError", "StuckLimitError", "EXIT_STUCK", "main"]


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _check_positive(name: str, value, *, allow_zero: bool = False, kind=int):
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise StartupError(
            f"{name} must be {'a number' if kind is float else 'an integer'}, got {value!r}"
        )
    if value < 0 or (value == 0 and not allow_zero):
        raise StartupError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


INTERFACES = ("auto", "wsgi", "asgi")


def _load_in(
    spec: str,
    interface: str = "auto",
    name: str | None = None,
    logs=None,
    traceback_in_error: bool = False,
    interp: Interpreter | None = None,
    config: InterpreterConfig | None = None,
) -> tuple[Interpreter | None, str | None]:
    """A new interpreter (called ``name``, set up by ``config``; or ``interp``, made ahead
    and unused) with the application loaded, or the reason it failed (then the
    interpreter is closed). ``logs``: ``(queue, level)`` to forward its log records to
    (``manygil._wire.hooks.forward_logging``)."""
    if interp is None:
        try:
            interp = create(name=name, config=config, _origin="serve")
        except Exception as e:  # noqa: BLE001 - reported as one line
            return None, f"cannot create an interpreter: {e}"
    try:
        if logs is not None:
            from ._wire.hooks import forward_logging

            interp.call(forward_logging, *logs)
        error = interp.call(_serve_worker.load, spec, interface, traceback_in_error)
    except Exception as e:  # noqa: BLE001
        error = f"loading {spec!r} failed: {e}"
    if error:
        interp.close()
        return None, error
    return interp, None


def _load_many(load, n: int, interps=()) -> list[tuple[Interpreter | None, str | None]]:
    """``n`` new interpreters with the application loaded by ``load(interp_or_None)``
    (``_Server.load``), loaded in parallel: a list of (interpreter, None) or (None,
    reason). ``interps``: interpreters made ahead to use first (at most ``n``)."""
    loaded: list = [None] * n
    ahead = list(interps)

    def run(i: int) -> None:
        loaded[i] = load(ahead[i] if i < len(ahead) else None)

    loaders = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in loaders:
        t.start()
    for t in loaders:
        t.join()
    return loaded


def _static_list(static) -> list[tuple[str, bytes]]:
    """``static=`` as ``_native.serve_bind`` takes it: (URL prefix, directory) pairs."""
    if static is None:
        return []
    if isinstance(static, str):
        static = [static]
    pairs = []
    for item in static.items() if hasattr(static, "items") else static:
        if isinstance(item, str):
            prefix, sep, directory = item.partition("=")
            if not sep or not prefix or not directory:
                raise StartupError(
                    f"--static {item!r}: expected URL_PREFIX=DIRECTORY, "
                    "e.g. --static /static=./static"
                )
        else:
            prefix, directory = item
        pairs.append((prefix, os.fsencode(directory)))
    return pairs


class _Server:
    """One running ``manygil serve``: the native server, the worker interpreters and the
    threads of the main interpreter that supervise them."""

    def __init__(
        self,
        app: str,
        workers: int,
        threads: int,
        max_requests: int,
        stuck_after: float,
        max_stuck: int,
        server_id: int,
        addrs,
    ):
        self.app = app
        self.stuck_after = stuck_after
        self.max_stuck = max_stuck
        self.workers = workers
        self.threads = threads
        self.max_requests = max_requests
        self.id = server_id
        self.addrs = addrs
        self.stopping = threading.Event()
        self.slots: list[threading.Thread] = []
        # The interpreter each slot serves with (replaced when it recycles).
        self.interp_of: dict[threading.Thread, int] = {}
        self.errors: list[str] = []
        self.recycled = 0
        # Interpreters retired as stuck whose handler has not returned, and the slot
        # thread that runs each (it ends when the handler returns).
        self.retired: dict[int, threading.Thread] = {}
        # The slot thread running each interpreter.
        self.running: dict[int, threading.Thread] = {}
        # Set once more than max_stuck interpreters were stuck.
        self.past_cap = False
        # "wsgi" or "asgi" once the first workers loaded the application.
        self.interface = "auto"
        # The server's name; its workers are serve-<id>.worker-<k>, numbered from 1 in the
        # order they start (a replacement gets the next number).
        self.name = f"serve-{server_id}"
        self._numbers = itertools.count(1)
        # (queue, level) that workers forward their log records to, or None.
        self.log_setup = None
        # The queue workers send their profile statistics to (--profile), or None.
        self.profile_queue = None

        # The interface asked for ("auto", "wsgi", "asgi"): a reload detects it afresh.
        self.interface_option = "auto"
        # Held while the set of workers changes: a recycle, a stuck worker's replacement,
        # a reload.
        self.lock = threading.Lock()
        # Interpreters replaced by a reload, finishing their requests; and the count of
        # reloads (a recycle that loaded its new interpreter before a reload is dropped).
        self.reloaded: set[int] = set()
        self.generation = 0
        # The file watcher of --reload (manygil._serve.reload.Reloader), if any.
        self.reloader = None
        # Every worker interpreter's InterpreterConfig (replacements and reloads too).
        self.config: InterpreterConfig | None = None
        # --graceful-timeout: also how long a recycled worker's requests get to finish.
        self.graceful_timeout: float | None = None

    def next_name(self) -> str:
        """The name of the next worker interpreter: serve-<id>.worker-<k>."""
        return f"{self.name}.worker-{next(self._numbers)}"

    def load(
        self,
        interface: str | None = None,
        traceback_in_error: bool = False,
        interp: Interpreter | None = None,
    ) -> tuple[Interpreter | None, str | None]:
        """A new worker interpreter (or ``interp``, made ahead) with the application
        loaded, or why it failed."""
        return _load_in(
            self.app,
            self.interface if interface is None else interface,
            self.next_name(),
            self.log_setup,
            traceback_in_error,
            interp,
            self.config,
        )

    def stuck(self) -> int:
        """Worker interpreters retired as stuck whose handler still has not returned."""
        for interp_id, t in list(self.retired.items()):
            if not t.is_alive():
                del self.retired[interp_id]
        return len(self.retired)

    def replace_stuck(self, draining: bool = False) -> bool:
        """Start a new worker for each one still busy ``stuck_after`` seconds after its
        request was interrupted; the stuck one takes no further request and ends when
        its handler finally returns.

        Keeps at most ``max_stuck`` stuck interpreters (each holds its memory and threads
        until its handler returns, maybe never): returns True the first time one more is
        found, which is then left in place. While ``draining`` (the server stops
        accepting), stuck ones are replaced past the cap so that the requests already
        accepted get a worker: at most one per open connection."""
        first_past_cap = False
        for interp_id in _native.serve_stuck(self.stuck_after):
            if interp_id in self.retired:
                continue
            if not draining and self.stuck() >= self.max_stuck:
                if not self.past_cap:
                    self.past_cap = first_past_cap = True
                continue
            slot = self.running.get(interp_id)
            if slot is None:  # not one of ours (cannot happen: ids are never reused)
                continue
            with self.lock:
                self.retired[interp_id] = slot
                _native.serve_retire(interp_id)
            new, error = self.load()
            if new is None:
                print(f"manygil serve: cannot replace a stuck worker: {error}", file=sys.stderr)
                continue
            print(
                f"manygil serve: worker interpreter {interp_id} did not stop {self.stuck_after:g}s "
                f"after its request was interrupted (--stuck-after); started interpreter "
                f"{new.id} to replace it",
                file=sys.stderr,
                flush=True,
            )
            with self.lock:
                self.start_slot(new)
            _native.serve_release_memory()
        return first_past_cap

    def wait_for_slots(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the slots to end, but not for those whose
        worker is stuck (still in a request ``stuck_after`` seconds after it was
        interrupted: it may never return). Returns the slots still running."""
        deadline = time.monotonic() + timeout
        while True:
            alive = [t for t in self.slots if t.is_alive()]
            stuck = set(self.retired).union(_native.serve_stuck(self.stuck_after))
            waiting = [t for t in alive if self.interp_of.get(t) not in stuck]
            left = deadline - time.monotonic()
            if not waiting or left <= 0:
                return len(alive)
            # Polled: a slot may become stuck while we wait for it.
            waiting[0].join(min(left, 0.05))

    def start_slot(self, interp: Interpreter) -> None:
        """Serve with ``interp`` in a new slot thread (called holding ``self.lock``)."""
        t = threading.Thread(target=self.run_slot, args=(interp,), name="manygil-serve-slot")
        self.interp_of[t] = interp.id
        self.running[interp.id] = t
        self.slots.append(t)
        t.start()

    def run_slot(self, interp: Interpreter) -> None:
        """Serve with ``interp``; replace it each time it has served its quota."""
        me = threading.current_thread()
        while True:
            try:
                outcome = interp.call(
                    _serve_worker.run,
                    self.id,
                    self.threads,
                    self.max_requests,
                    self.profile_queue,
                    self.graceful_timeout,
                )
            except Exception as e:  # noqa: BLE001
                print(f"manygil serve: a worker failed: {e}", file=sys.stderr)
                outcome = "failed"
            with self.lock:
                generation = self.generation
                replaced = interp.id in self.retired or interp.id in self.reloaded
                done = outcome == "closed" or self.stopping.is_set() or replaced
                if done:
                    self.running.pop(interp.id, None)
                    self.reloaded.discard(interp.id)
            if done:
                interp.close()
                return
            # Recycle: the other workers keep taking requests meanwhile (queued ones wait).
            new, error = self.load()
            with self.lock:
                self.running.pop(interp.id, None)
                self.reloaded.discard(interp.id)
            interp.close()
            _native.serve_release_memory()
            if new is None:
                print(f"manygil serve: cannot replace a worker: {error}", file=sys.stderr)
                return
            with self.lock:
                # A reload started a full set of workers meanwhile: this one is extra.
                extra = generation != self.generation or self.stopping.is_set()
                if not extra:
                    self.interp_of[me] = new.id
                    self.running[new.id] = me
            if extra:
                new.close()
                return
            self.recycled += 1
            interp = new

    def reload(self, ahead=()) -> tuple[int, str | None] | None:
        """Load the application afresh in ``workers`` new interpreters (in parallel,
        before anything changes; ``ahead``: interpreters made ahead, used first and
        consumed), then swap: the current workers take no further request (they finish
        those they have, then end) and the new ones take every request from then on.
        Blocks for the loading. Returns the number of new workers and None, or 0 and the
        reason the application failed to load (its traceback included; the current
        workers keep serving); None if the server began to stop meanwhile (the new
        interpreters are closed)."""
        loaded = _load_many(
            lambda interp: self.load(self.interface_option, True, interp), self.workers, ahead
        )
        errors = [err for _, err in loaded if err]
        new = [interp for interp, _ in loaded if interp is not None]
        if errors or self.stopping.is_set():
            for interp in new:
                interp.close()
            return (0, errors[0]) if errors and not self.stopping.is_set() else None
        interface = new[0].call(_serve_worker.interface)
        with self.lock:
            if self.stopping.is_set():
                old = None
            else:
                old = [i for i in self.running if i not in self.retired and i not in self.reloaded]
                self.generation += 1
                # Retired first: a request sent once a new worker answered is never
                # taken by an old one.
                for interp_id in old:
                    self.reloaded.add(interp_id)
                    _native.serve_retire(interp_id)
                for interp in new:
                    self.start_slot(interp)
                self.interface = interface
        if old is None:
            for interp in new:
                interp.close()
            return None
        _native.serve_release_memory()
        return len(new), None


def serve(
    app: str,
    *,
    workers: int | None = None,
    threads: int = 1,
    bind: str | list[str] | None = None,
    uds: str | None = None,
    timeout: float = 30.0,
    stuck_after: float = STUCK_AFTER,
    max_stuck: int | None = None,
    graceful_timeout: float = 30.0,
    max_body: int = 100 * 1024 * 1024,
    max_requests_per_worker: int = 0,
    access_log: bool = False,
    io_threads: int | None = None,
    max_header_bytes: int = 64 * 1024,
    max_headers: int = 100,
    header_timeout: float = 30.0,
    ready=None,
    stop: threading.Event | None = None,
    past_max_stuck=None,
    interface: str = "auto",
    loaded=None,
    forward_logging: bool = True,
    profile: str | None = None,
    ws_max_size: int = WS_MAX_SIZE,
    static=None,
    reload: bool = False,
    reload_dirs: list[str] | None = None,
    reload_include: list[str] | None = None,
    interpreter_config: InterpreterConfig | str | None = None,
) -> None:
    """Serve the WSGI or ASGI application ``app`` (``"MODULE:ATTR"``) until stopped.

    ``interface`` is "wsgi", "asgi" or "auto" (an ``async def`` callable, or an object
    whose ``__call__`` is one, is ASGI; a plain callable requiring exactly 3 arguments is
    refused as ambiguous; anything else is WSGI); ``loaded`` is called with the interface
    used ("wsgi" or "asgi") once every worker loaded the application (for ASGI: ran its
    lifespan startup).

    Blocks until SIGTERM/SIGINT (when called from the main thread) or until ``stop`` is
    set; then stops accepting, lets in-flight requests finish within
    ``graceful_timeout`` seconds, interrupts what is left and returns.

    ``timeout`` bounds each handler, counted from when a worker takes the request (time
    waiting in the queue does not count): past it the client gets 504 and the handler is
    interrupted; a handler still running ``stuck_after`` seconds later has its worker
    interpreter replaced. A client that takes no byte of a response for ``timeout``
    seconds (``header_timeout`` with ``timeout=0``) has its connection closed.
    ``graceful_timeout`` also bounds how long an ASGI worker recycled by
    ``max_requests_per_worker`` waits for its open requests and WebSockets (then closed:
    503, WebSocket code 1012).
    At most ``max_stuck`` (default: ``workers``) such stuck
    interpreters are kept, each holding its memory and threads: when one more is found,
    ``past_max_stuck()`` is called if given (the server keeps serving, without replacing
    further stuck workers, until stopped: ``manygil serve``'s supervisor starts a fresh
    server process meanwhile, then stops this one), otherwise the server stops at once;
    either way it stops gracefully, then raises StuckLimitError, or, when stuck threads
    are left (they cannot be ended), exits the process with status :data:`EXIT_STUCK`.

    ``static`` maps URL prefixes to directories (``{"/static": "./static"}``, or a list of
    ``"/static=./static"`` strings): requests under a prefix are answered from the
    directory by the HTTP front (GET and HEAD, with ETag, conditional requests, ranges and
    precompressed ``.br``/``.gz`` siblings) and never reach the application.

    ``bind`` also takes ``fd://N``: a listening socket (TCP or Unix) inherited as file
    descriptor N, which the server takes over (and closes when it stops accepting).

    ``ws_max_size`` bounds the WebSocket messages (of an ASGI application) a client may
    send, in bytes: a larger one closes the connection with 1009.

    ``interpreter_config`` sets up every worker interpreter (an
    :class:`~manygil.InterpreterConfig` or a preset name; None: ``"isolated"``):
    ``"legacy"`` loads applications whose extension modules refuse own-GIL interpreters,
    but its workers run Python code one at a time (docs/configs.md).

    ``ready`` is called with the list of bound addresses (``http://host:port`` or
    ``unix:path``) once every worker has loaded the application and the server accepts.

    ``forward_logging`` (default True): what the application logs in the workers goes to
    this interpreter's loggers of the same names (``manygil._observe.logs``, at the root level
    this interpreter has when ``serve`` starts), and with ``access_log`` the access-log
    lines go to the ``manygil.serve.access`` logger (INFO) when that logger's records would
    be written somewhere (else to stderr, as without forwarding). See docs/serve.md.

    ``profile``: a file path; every worker runs under ``cProfile`` while it serves, and
    their merged statistics are written there (``pstats`` format) when the server stops
    (workers still stuck then are left out). Costs what cProfile costs.

    While it runs, ``manygil.snapshot_all()`` (and the signal of
    ``manygil.enable_inspect_signal``) includes this server: each worker's requests in
    flight and Python stacks.

    ``reload`` (for development): watch the application's source files (``reload_dirs``,
    default: where its top-level module is found; ``*.py`` and ``reload_include`` globs)
    and, on a change, load it afresh in new worker interpreters, then swap them in; the
    workers replaced finish their requests. If the new code fails to import, the error is
    printed on stderr and the current workers keep serving. See ``manygil._serve.reload``.

    Raises StartupError (a RuntimeError), before serving anything, if an option is invalid,
    an address cannot be bound, a static directory does not exist, or the application cannot be loaded in a worker
    interpreter (module not found, attribute missing, not callable, an extension module
    that refuses own-GIL interpreters).
    """
    if not isinstance(app, str) or ":" not in app and not app:
        raise StartupError(f"application must be 'MODULE:APP', got {app!r}")
    workers = _usable_cpus() if workers is None else _check_positive("workers", workers)
    threads = _check_positive("threads", threads)
    _check_positive("timeout", timeout, allow_zero=True, kind=float)
    _check_positive("stuck_after", stuck_after, kind=float)
    max_stuck = workers if max_stuck is None else max_stuck
    _check_positive("max_stuck", max_stuck, allow_zero=True)
    _check_positive("graceful_timeout", graceful_timeout, allow_zero=True, kind=float)
    _check_positive("max_body", max_body, allow_zero=True)
    _check_positive("max_requests_per_worker", max_requests_per_worker, allow_zero=True)
    _check_positive("ws_max_size", ws_max_size)
    if interface not in INTERFACES:
        raise StartupError(f"interface must be one of {', '.join(INTERFACES)}, got {interface!r}")
    try:
        config = _coerce_config(interpreter_config, "interpreter_config")
    except (TypeError, ValueError) as e:
        raise StartupError(str(e)) from None
    if io_threads is None:
        io_threads = 1 if workers * threads <= 4 else 2
    if profile is not None:
        _check_profile_path(profile)
    if reload:
        from ._serve import reload as _reload

        watch = (_reload.watched_dirs(app, reload_dirs), _reload.check_include(reload_include))
    listen = _listen_list(bind, uds)
    to_python = False
    if forward_logging and access_log:
        from ._serve import logs as _serve_logs

        to_python = _serve_logs.access_to_python()
    statics = _static_list(static)
    try:
        server_id, addrs = _native.serve_bind(
            listen,
            io_threads,
            max_header_bytes,
            max_headers,
            max_body,
            header_timeout,
            header_timeout,
            timeout or None,
            access_log,
            statics,
            ws_max_size,
            to_python,
        )
    except (OSError, ValueError) as e:
        raise StartupError(str(e)) from None
    server = _Server(
        app,
        workers,
        threads,
        max_requests_per_worker,
        stuck_after,
        max_stuck,
        server_id,
        addrs,
    )
    server.config = config
    server.graceful_timeout = graceful_timeout
    access = dispatcher = None
    if to_python:
        from ._serve import logs as _serve_logs

        access = _serve_logs.AccessLog(server_id)
    if forward_logging:
        from ._observe import logs as _logs
        from ._queue import Queue

        dispatcher = _logs.Dispatcher(Queue())
        server.log_setup = (dispatcher.queue, _logs.Dispatcher.root_level())
    if profile is not None:
        from ._queue import Queue

        server.profile_queue = Queue()
        server.profile_path = profile
    from ._observe import inspect as _inspect

    _inspect.register_server(server)
    try:
        if reload:
            server.reloader = _reload.Reloader(server, *watch)
            server.reloader.start()
        past_cap = _run(
            server,
            graceful_timeout,
            ready,
            stop,
            past_max_stuck,
            interface,
            loaded,
        )
    finally:
        _inspect.unregister_server(server)
        if server.reloader is not None:
            server.reloader.close(0)
        _native.serve_close(server_id)
        if dispatcher is not None:
            dispatcher.close()  # the workers have ended: nothing more will be logged
        if access is not None:
            access.join()
    if past_cap:
        raise StuckLimitError(
            f"more than {max_stuck} worker interpreter(s) were stuck in handlers that did not "
            "return (max_stuck); the server stopped"
        )


def _check_profile_path(path) -> None:
    """``--profile FILE``: a path whose directory exists and can be written to."""
    if not isinstance(path, str) or not path:
        raise StartupError(f"profile must be a file path, got {path!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise StartupError(
            f"--profile {path!r}: cannot write there (directory {directory!r} missing or not writable)"
        )


def _write_profile(server: _Server, path: str) -> None:
    from ._observe import profiling as _profiling

    count = _profiling.write_merged(server.profile_queue, path)
    if count:
        print(
            f"manygil serve: profile of {count} worker interpreter(s) written to {path}",
            file=sys.stderr,
        )
    else:
        print(
            f"manygil serve: no worker finished serving: no profile written to {path}",
            file=sys.stderr,
        )


def _shutdown(server_id: int, graceful_timeout: float, result: list) -> None:
    try:
        result.append(_native.serve_shutdown(server_id, graceful_timeout))
    except BaseException as e:  # noqa: BLE001 - reported by the caller
        result.append(e)


def _run(
    server: _Server, graceful_timeout, ready, stop, past_max_stuck, interface="auto", on_loaded=None
) -> bool:
    """Serve until stopped; returns whether the server stopped past ``max_stuck``."""
    server_id, workers = server.id, server.workers
    server.interface_option = interface
    # Load the application in every worker (in parallel) before accepting anything.
    loaded = _load_many(lambda interp: server.load(interface, interp=interp), workers)
    errors = [err for interp, err in loaded if err]
    if errors:
        for interp, _ in loaded:
            if interp is not None:
                interp.close()
        _native.serve_shutdown(server_id, 0)
        raise StartupError(errors[0])
    server.interface = loaded[0][0].call(_serve_worker.interface)
    if on_loaded is not None:
        on_loaded(server.interface)
    # The imports left megabytes of freed temporaries in the allocator's per-thread arenas.
    _native.serve_release_memory()
    with server.lock:
        for interp, _ in loaded:
            server.start_slot(interp)
    if server.reloader is not None:
        server.reloader.run()
    _native.serve_start(server_id)
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    # How often stuck workers are looked for.
    poll = min(1.0, max(0.05, server.stuck_after / 4))
    try:
        if ready is not None:
            ready(list(server.addrs))
        # Replace workers stuck in an interrupted request; stop if every worker has gone
        # (e.g. none could be replaced).
        while not stop.wait(poll):
            if server.replace_stuck():
                what = (
                    "asking for a fresh server process"
                    if past_max_stuck is not None
                    else f"stopping (exit status {EXIT_STUCK}: start a fresh process)"
                )
                print(
                    f"manygil serve: more than {server.max_stuck} worker interpreter(s) are stuck "
                    f"in handlers that do not return (--max-stuck {server.max_stuck}); {what}",
                    file=sys.stderr,
                    flush=True,
                )
                if past_max_stuck is None:
                    break
                past_max_stuck()
            if not any(t.is_alive() for t in server.slots):
                print("manygil serve: no worker left; stopping", file=sys.stderr)
                break
    finally:
        server.stopping.set()
        if server.reloader is not None:
            # A reload under way drops its new workers.
            server.reloader.close(graceful_timeout)
        # Drain in another thread: this one keeps replacing stuck workers meanwhile, so
        # that the requests already accepted find a worker.
        result: list = []
        drain = threading.Thread(
            target=_shutdown, args=(server_id, graceful_timeout, result), name="manygil-serve-drain"
        )
        drain.start()
        while drain.is_alive():
            drain.join(poll)
            server.replace_stuck(draining=True)
        if isinstance(result[0], BaseException):
            raise result[0]
        graceful, cancelled = result[0]
        if cancelled:
            print(
                f"manygil serve: {cancelled} request(s) still running after --graceful-timeout "
                f"{graceful_timeout:g}s were interrupted",
                file=sys.stderr,
            )
        # Interrupted handlers get a bounded time to unwind: until they are stuck
        # (--stuck-after), 10 s at most.
        stuck = server.wait_for_slots(10.0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server.profile_queue is not None:
            _write_profile(server, server.profile_path)
        if stuck:
            print(
                f"manygil serve: {stuck} worker(s) did not stop (a handler blocked in C?); exiting anyway",
                file=sys.stderr,
            )
            sys.stderr.flush()
            sys.stdout.flush()
            os._exit(EXIT_STUCK if server.past_cap else 0)
    return server.past_cap


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m manygil serve",
        description="Serve a WSGI or ASGI application with its requests running in own-GIL interpreters.",
    )
    p.add_argument(
        "app",
        nargs="?",
        metavar="MODULE:APP",
        help="the WSGI or ASGI application, e.g. myproject.wsgi:application or myapp:app",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="worker interpreters (default: usable CPUs)"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="request threads per interpreter (default 1)"
    )
    p.add_argument(
        "--bind",
        action="append",
        default=None,
        metavar="HOST:PORT",
        help=f"TCP address (default {DEFAULT_BIND}; port 0 picks a free one); repeatable",
    )
    p.add_argument(
        "--uds", default=None, metavar="PATH", help="also (or only) listen on this Unix socket"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="per-request deadline, counted from when a worker takes the request: 504 and "
        "the handler is interrupted (0: none; default 30)",
    )
    p.add_argument(
        "--stuck-after",
        type=float,
        default=STUCK_AFTER,
        metavar="S",
        help="replace a worker whose handler still runs S seconds after it was interrupted "
        f"(default {STUCK_AFTER:g})",
    )
    p.add_argument(
        "--max-stuck",
        type=int,
        default=None,
        metavar="N",
        help="stuck worker interpreters kept (each holds its memory and threads); one more "
        "and a fresh server process replaces this one (default: --workers)",
    )
    p.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="on SIGTERM/SIGINT, time in-flight requests get to finish (default 30)",
    )
    p.add_argument(
        "--max-body",
        type=int,
        default=100 * 1024 * 1024,
        metavar="BYTES",
        help="largest request body; larger gets 413 (default 100 MiB)",
    )
    p.add_argument(
        "--max-requests-per-worker",
        type=int,
        default=0,
        metavar="N",
        help="replace a worker interpreter after N requests (0: never)",
    )
    p.add_argument("--access-log", action="store_true", help="one line per request on stderr")
    p.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error", "critical"),
        help="the lowest level of log records written (the application's, forwarded from "
        "the workers, and the server's; default info)",
    )
    p.add_argument(
        "--no-forward-logging",
        dest="forward_logging",
        action="store_false",
        help="leave each worker's logging alone (records the application logs are then "
        "not formatted by the server: WARNING and above go to stderr as they are)",
    )
    p.add_argument(
        "--profile",
        default=None,
        metavar="FILE",
        help="run every worker under cProfile and write their merged statistics to FILE "
        "(pstats format) when the server stops",
    )
    p.add_argument(
        "--static",
        action="append",
        default=None,
        metavar="URL_PREFIX=DIR",
        help="serve the files of DIR under URL_PREFIX from the HTTP front, never reaching "
        "the application (e.g. /static=./static); repeatable",
    )
    p.add_argument(
        "--interface",
        choices=INTERFACES,
        default="auto",
        help="WSGI or ASGI (default auto: an async def callable is ASGI, another callable WSGI)",
    )
    p.add_argument(
        "--ws-max-size",
        type=int,
        default=WS_MAX_SIZE,
        metavar="BYTES",
        help="ASGI: largest WebSocket message a client may send; larger closes the "
        "connection with 1009 (default 16 MiB)",
    )
    p.add_argument(
        "--reload",
        action="store_true",
        help="development: on a change to the application's source files, load it afresh "
        "in new worker interpreters and swap them in (the process and its sockets stay)",
    )
    p.add_argument(
        "--reload-dir",
        action="append",
        default=None,
        metavar="DIR",
        help="with --reload: a directory tree to watch, instead of the one the application's "
        "module is found in; repeatable",
    )
    p.add_argument(
        "--reload-include",
        action="append",
        default=None,
        metavar="GLOB",
        help="with --reload: also watch files whose name matches GLOB (e.g. '*.html'; "
        "*.py always); repeatable",
    )
    p.add_argument(
        "--interpreter-config",
        choices=("isolated", "legacy"),
        default="isolated",
        help="worker interpreters: isolated (own GIL: parallel; only extensions that support "
        "it) or legacy (the main GIL and allocator, as mod_wsgi: most extensions load, no "
        "parallelism); default isolated; see docs/configs.md",
    )
    p.add_argument(
        "--no-supervise",
        dest="supervise",
        action="store_false",
        help="serve in this process, without the supervisor process that holds the sockets, "
        "restarts the server when it dies and reloads it on SIGHUP",
    )
    # Given by the supervisor to the server processes it starts: its end of their link.
    p.add_argument("--supervisor-fd", type=int, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m manygil serve``: returns the exit status."""
    parser = _parser()
    # Unknown options are reported before a missing MODULE:APP (the more useful error).
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.app is None:
        parser.error("the following arguments are required: MODULE:APP")
    if (args.reload_dir or args.reload_include) and not args.reload:
        parser.error("--reload-dir and --reload-include go with --reload")
    if args.supervise and args.supervisor_fd is None:
        from ._serve import supervisor as _supervisor

        return _supervisor.main(parser, args, main)
    link = None
    stop = threading.Event()
    if args.forward_logging:
        from ._serve import logs as _serve_logs

        _serve_logs.configure_cli(args.log_level)
    from ._observe import inspect as _inspect

    # kill -USR1 <server process> prints what every worker runs (the supervisor passes
    # SIGUSR1 on to its server processes).
    _inspect.enable_inspect_signal(signal.SIGUSR1)
    if args.supervisor_fd is not None:
        link = socket.socket(fileno=args.supervisor_fd)
        # The supervisor never writes: this returns when it is gone; then stop.
        threading.Thread(
            target=_watch_supervisor, args=(link, stop), name="manygil-serve-link", daemon=True
        ).start()

    def tell(what: bytes) -> None:
        try:
            link.sendall(what)
        except OSError:
            pass

    chosen = [args.interface]

    def ready(addrs) -> None:
        workers = args.workers or _usable_cpus()
        per_worker = "an event loop" if chosen[0] == "asgi" else f"{args.threads} thread(s)"
        kind = "" if args.interpreter_config == "isolated" else f"{args.interpreter_config} "
        print(
            f"manygil serve: {args.app} ({chosen[0].upper()}) listening on {', '.join(addrs)} "
            f"({workers} {kind}worker interpreter(s) x {per_worker})",
            flush=True,
        )
        if link is not None:
            tell(b"ready\n")

    try:
        serve(
            args.app,
            **serve_kwargs(args),
            ready=ready,
            stop=stop,
            past_max_stuck=None if link is None else lambda: tell(b"replace\n"),
            loaded=lambda interface: chosen.__setitem__(0, interface),
        )
    except StartupError as e:
        print(f"manygil serve: {e}", file=sys.stderr)
        return 1
    except StuckLimitError:
        return EXIT_STUCK
    return 0


def _watch_supervisor(link: socket.socket, stop: threading.Event) -> None:
    try:
        while link.recv(64):
            pass
    except OSError:
        pass
    if not stop.is_set():
        print("manygil serve: the supervisor process is gone; stopping", file=sys.stderr)
        stop.set()


if __name__ == "__main__":
    sys.exit(main())


def __getattr__(name: str):
    # `from manygil.serve import cache`: the cache every worker shares (manygil.cache).
    if name == "cache":
        from . import cache

        return cache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
