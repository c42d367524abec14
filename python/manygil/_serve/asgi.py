"""The ASGI side of ``manygil serve``, running inside each worker interpreter.

Each worker interpreter runs one asyncio event loop (in its own thread) serving many
requests at once. The loop takes queued requests itself between its tasks (a look that
never waits), a few at a time, each task started eagerly (a small request runs to its
end at once); once it finds none, it arms the *feed*: the server's I/O thread that queues
the next request wakes the loop directly, through a socket pair the loop watches (no
thread in between). The thread that ``run`` is called in waits (natively, GIL released)
for the server to close, the interpreter to be retired or the loop's quota to be reached.
A third thread waits (natively) for cancellations of this interpreter's requests
(timeout, shutdown, the client leaving) and hands them to the loop too. Body reads and streamed writes, which can block
on the client, run in a small thread pool; a whole answer is handed over without blocking.

The lifespan protocol runs in the same loop: its startup when the application is loaded
(before the server accepts anything), its shutdown when the worker stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading

from .. import _native

# Requests one worker interpreter serves at once at most (a request holds its slot until
# its response is complete); more wait in the server's queue for any worker.
MAX_CONCURRENT = 1000
# Threads per worker for body reads and streamed writes that wait on the client.
IO_THREADS = 32
# How long the lifespan startup may take (as hypercorn's default) before the server gives
# up starting, and the shutdown when the worker stops.
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 30.0
# See _Worker.early.
EARLY_KEEP = 64
# Requests the loop takes from the queue in one go when it finds them waiting.
TAKE_BATCH = 8
# Largest chunk of request body per ``http.request`` message.
READ_CHUNK = 64 * 1024

ASGI = {"version": "3.0", "spec_version": "2.3"}

_loop: asyncio.AbstractEventLoop | None = None
_lifespan: _Lifespan | None = None
_app = None
_spec = ""


class ClientDisconnected(OSError):
    """``send()`` after the client went away (the ASGI spec asks for an OSError)."""


class _BodyTooLarge(OSError):
    """The request body grew past ``--max-body``."""


def _print_exc(exc: BaseException | None = None) -> None:
    import traceback

    if exc is None:
        traceback.print_exc(file=sys.stderr)
    else:
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.flush()


# ---- lifespan -----------------------------------------------------------------------


class _Lifespan:
    """The lifespan protocol of one worker: startup at load, shutdown at the end."""

    def __init__(self, app, loop: asyncio.AbstractEventLoop):
        self.app = app
        self.loop = loop
        self.state: dict = {}
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.received = 0  # messages the application took with receive()
        self.startup: asyncio.Future = loop.create_future()
        self.shutdown: asyncio.Future = loop.create_future()
        self.unsupported = False
        self.task: asyncio.Task | None = None

    async def receive(self):
        msg = await self.inbox.get()
        self.received += 1
        return msg

    async def send(self, message):
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "lifespan.startup.complete" and not self.startup.done():
            self.startup.set_result(None)
        elif kind == "lifespan.startup.failed" and not self.startup.done():
            self.startup.set_result(str(message.get("message") or "lifespan.startup.failed"))
        elif kind == "lifespan.shutdown.complete" and not self.shutdown.done():
            self.shutdown.set_result(None)
        elif kind == "lifespan.shutdown.failed" and not self.shutdown.done():
            self.shutdown.set_result(str(message.get("message") or "lifespan.shutdown.failed"))
        else:
            raise RuntimeError(f"unexpected ASGI lifespan message {message!r}")

    async def main(self) -> None:
        scope = {"type": "lifespan", "asgi": dict(ASGI, spec_version="2.0"), "state": self.state}
        error = None
        try:
            await self.app(scope, self.receive, self.send)
        except BaseException as e:  # noqa: BLE001 - reported below
            error = e
        if not self.startup.done():
            if self.received == 0:
                # It never looked at the lifespan events: it does not support them (the
                # spec's "the server must continue"), e.g. `assert scope["type"] == "http"`.
                self.unsupported = True
                self.startup.set_result(None)
            elif error is not None:
                _print_exc(error)
                self.startup.set_result(f"{type(error).__name__}: {error}")
            else:
                self.startup.set_result(
                    "the application returned without answering lifespan.startup"
                )
        elif not self.shutdown.done():
            if error is not None and not isinstance(error, asyncio.CancelledError):
                _print_exc(error)
                self.shutdown.set_result(f"{type(error).__name__}: {error}")
            else:
                self.shutdown.set_result(None)

    async def start(self) -> str | None:
        """Run the startup; None when done (or unsupported), else the failure message."""
        self.task = self.loop.create_task(self.main())
        await self.inbox.put({"type": "lifespan.startup"})
        try:
            return await asyncio.wait_for(asyncio.shield(self.startup), STARTUP_TIMEOUT)
        except TimeoutError:
            self.task.cancel()
            return f"lifespan.startup did not complete within {STARTUP_TIMEOUT:g}s"

    async def stop(self) -> str | None:
        """Run the shutdown (bounded); None when done, else what went wrong."""
        if self.unsupported or self.task is None:
            return None
        await self.inbox.put({"type": "lifespan.shutdown"})
        try:
            return await asyncio.wait_for(asyncio.shield(self.shutdown), SHUTDOWN_TIMEOUT)
        except TimeoutError:
            self.task.cancel()
            return f"lifespan.shutdown did not complete within {SHUTDOWN_TIMEOUT:g}s"


def start(app, spec: str) -> str | None:
    """Make this interpreter's loop and run the lifespan startup of ``app``.

    Returns None on success, or one line naming the failure.
    """
    global _loop, _lifespan, _app, _spec
    _app, _spec = app, spec
    _loop = asyncio.new_event_loop()
    _lifespan = _Lifespan(app, _loop)
    try:
        failed = _loop.run_until_complete(_lifespan.start())
    except BaseException as e:  # noqa: BLE001
        _print_exc(e)
        failed = f"{type(e).__name__}: {e}"
    if failed:
        _close_loop()
        return f"lifespan startup of {spec} failed: {failed}"
    return None


def _close_loop() -> None:
    global _loop
    loop, _loop = _loop, None
    if loop is None:
        return
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=5.0))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


# ---- requests -----------------------------------------------------------------------


def _log_error(scope, what: str, exc: BaseException | None = None) -> None:
    line = f"{scope.get('method', 'WebSocket')} {scope.get('path')}"
    if scope.get("query_string"):
        line += "?" + scope["query_string"].decode("latin-1")
    print(f"manygil serve: {what} in {line} ({_spec}):", file=sys.stderr)
    if exc is not None:
        _print_exc(exc)
    sys.stderr.flush()


_DISCONNECT = {"type": "http.disconnect"}
_ERROR_HEADERS = [("Content-Type", "text/plain; charset=utf-8")]


class _Request:
    """One HTTP request in the loop: the ``receive``/``send`` callables of its task."""

    __slots__ = (
        "worker",
        "rid",
        "scope",
        "more_body",
        "gone",
        "gone_waiter",
        "head",
        "streaming",
        "complete",
        "io",
        "task",
        "cancelled",
        "declared",
        "sent",
        "ws",
    )

    def __init__(self, worker: _Worker, rid: int, scope: dict, more_body: bool):
        self.worker = worker
        self.rid = rid
        self.scope = scope
        # True: body still to read; False: no body, the first receive() says so; None: done.
        self.more_body: bool | None = more_body
        self.gone = False  # the client left
        self.gone_waiter: asyncio.Future | None = None
        self.head = None  # the status of http.response.start (its head is kept natively)
        self.streaming = False  # head sent natively, body chunks follow
        self.complete = False  # the whole response was handed over
        # A native call running in the pool (the thread's own future: it stays running
        # when an awaiting task is cancelled).
        self.io: concurrent.futures.Future | None = None
        self.task: asyncio.Task | None = None
        self.cancelled: str | None = None  # "timeout" / "shutdown"
        self.declared: int | None = None  # the response's Content-Length
        self.sent = 0  # body bytes handed over
        self.ws = None  # the _serve_websocket.WebSocket of a WebSocket request

    async def _idle(self) -> None:
        # The request's native state is locked while a pool thread blocks on it (with the
        # GIL released, to take it back before unlocking): a native call for it from the
        # loop thread waits until no pool call is in flight, else the two would deadlock.
        while self.io is not None and not self.io.done():
            await asyncio.wait([asyncio.wrap_future(self.io, loop=self.worker.loop)])
        self.io = None

    async def _blocking(self, fn, *args):
        await self._idle()
        self.io = self.worker.pool.submit(fn, *args)
        return await asyncio.wrap_future(self.io, loop=self.worker.loop)

    def client_gone(self) -> None:
        self.gone = True
        w = self.gone_waiter
        if w is not None and not w.done():
            w.set_result(None)
        if self.ws is not None:
            self.ws.wake()

    async def receive(self):
        if self.more_body and not self.gone:
            try:
                data, more = await self._blocking(_native.serve_asgi_read, self.rid, READ_CHUNK)
            except OSError:
                await self._idle()
                _, body_error = _native.serve_status(self.rid)
                if body_error == "too_large":
                    raise _BodyTooLarge("request body larger than --max-body") from None
                # The client stopped sending (gone, timed out or broken): it is gone.
                self.more_body = None
                self.client_gone()
                return _DISCONNECT
            self.more_body = True if more else None
            return {"type": "http.request", "body": data, "more_body": more}
        if self.more_body is False:
            # The first receive() of a request without (more) body.
            self.more_body = None
            if not self.gone:
                return {"type": "http.request", "body": b"", "more_body": False}
        if self.gone or self.complete:
            return _DISCONNECT
        if self.gone_waiter is None:
            self.gone_waiter = self.worker.loop.create_future()
        await asyncio.shield(self.gone_waiter)
        return _DISCONNECT

    def _bodiless(self, status: int) -> bool:
        """A response whose Content-Length describes a body it does not carry."""
        return self.scope.get("method") == "HEAD" or status == 304

    async def send(self, message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.head is not None or self.streaming or self.complete:
                raise RuntimeError("http.response.start sent twice")
            status = message["status"]
            if not isinstance(status, int) or isinstance(status, bool):
                raise TypeError(f"status must be an int, not {type(status).__name__}")
            headers = message.get("headers", ())
            if type(headers) is not list and type(headers) is not tuple:
                headers = [(bytes(n), bytes(v)) for n, v in headers]
            bodiless = self._bodiless(status)
            try:
                # The head is built natively and kept there until the body follows.
                self.declared = _native.serve_asgi_start(self.rid, status, headers, bodiless)
            except TypeError as e:
                # Headers as other bytes-like objects (else the native error stands).
                try:
                    headers = [(bytes(n), bytes(v)) for n, v in headers]
                except (TypeError, ValueError):
                    raise e from None
                self.declared = _native.serve_asgi_start(self.rid, status, headers, bodiless)
            self.head = status
            return
        if kind == "http.response.body":
            if self.complete:
                raise RuntimeError("http.response.body sent after the response was complete")
            if self.head is None:
                raise RuntimeError("http.response.body sent before http.response.start")
            body = message.get("body", b"")
            if type(body) is not bytes:
                if not isinstance(body, (bytearray, memoryview)):
                    raise TypeError(f"body must be bytes, not {type(body).__name__}")
                body = bytes(body)
            more = bool(message.get("more_body", False))
            if self.gone:
                raise ClientDisconnected("the client is gone")
            self.sent += len(body)
            declared = self.declared
            if declared is not None and (
                self.sent > declared or (not more and self.sent < declared)
            ):
                # Never more (nor, at the end, less) than the declared Content-Length: a
                # client would take the excess for the next response.
                raise RuntimeError(
                    f"the response body has {'more' if self.sent > declared else 'fewer'} "
                    f"bytes ({self.sent}{'+' if more else ''}) than its Content-Length ({declared})"
                )
            if self.io is not None:  # (no coroutine for the usual case)
                await self._idle()
            if not self.streaming:
                if not more:
                    # The usual case: the whole answer at once (never blocks).
                    self.complete = True
                    if not _native.serve_asgi_respond(self.rid, body):
                        self.client_gone()
                    return
                if not _native.serve_asgi_stream(self.rid):
                    self.client_gone()
                    raise ClientDisconnected("the client is gone")
                self.streaming = True
            if body and not await self._blocking(_native.serve_write, self.rid, body):
                self.client_gone()
                raise ClientDisconnected("the client is gone")
            if not more:
                self.complete = True
                await self._blocking(_native.serve_finish, self.rid)
            return
        raise RuntimeError(f"unexpected ASGI message type {kind!r} for an HTTP request")

    async def run(self, app) -> None:
        """Run the application for this request; answer 500 / cut the body on failure."""
        scope = self.scope
        if scope["type"] == "websocket":
            from . import websocket as _serve_websocket

            await _serve_websocket.serve(self, app)
            return
        try:
            await app(scope, self.receive, self.send)
            if not self.complete and not self.gone:
                if self.streaming:
                    _log_error(scope, "the application returned before completing its response")
                    await self._idle()
                    _native.serve_abort(self.rid)
                else:
                    _log_error(scope, "the application returned without sending a response")
                    await self._error_response()
        except ClientDisconnected:
            pass
        except asyncio.CancelledError:
            # Timeout or shutdown: the front already answered 504/503.
            if self.cancelled == "timeout":
                print(
                    f"manygil serve: {scope.get('method')} {scope.get('path')} ran past "
                    "--timeout: answered 504, its task cancelled",
                    file=sys.stderr,
                )
        except BaseException as e:  # noqa: BLE001 - answered below
            await self._idle()
            cancelled, body_error = _native.serve_status(self.rid)
            if isinstance(e, _BodyTooLarge) or body_error == "too_large":
                if not self.streaming and not self.complete:
                    _native.serve_respond(
                        self.rid,
                        "413 Content Too Large",
                        [("Content-Type", "text/plain")],
                        b"Request body too large\n",
                    )
                    self.complete = True
            elif cancelled in ("client_gone", "timeout", "shutdown") or self.gone:
                pass
            else:
                _log_error(scope, "unhandled exception", e)
                if self.streaming:
                    _native.serve_abort(self.rid)
                elif not self.complete:
                    await self._error_response()
            # KeyboardInterrupt and SystemExit too: answered as errors, never stop the loop.

    async def _error_response(self) -> None:
        await self._idle()
        self.complete = True
        _native.serve_respond(
            self.rid, "500 Internal Server Error", _ERROR_HEADERS, b"Internal Server Error\n"
        )


def _eager_task(coro, loop: asyncio.AbstractEventLoop) -> asyncio.Task:
    """A task of ``coro`` that runs its first step now, in the caller (as with
    ``asyncio.eager_task_factory``, for these tasks only: the application's own tasks
    start as usual)."""
    return asyncio.Task(coro, loop=loop, eager_start=True)


class _Worker:
    """The requests of one worker interpreter."""

    def __init__(self, loop, app, server_id: int, max_requests: int):
        self.loop = loop
        self.app = app
        self.server_id = server_id
        self.max_requests = max_requests
        self.pool = concurrent.futures.ThreadPoolExecutor(
            IO_THREADS, thread_name_prefix="manygil-asgi-io"
        )
        self.active: dict[int, _Request] = {}
        # Cancellations heard before their request began (it was taken by the taker thread
        # and is on its way to the loop), with the count of requests begun when heard: an
        # entry older than EARLY_KEEP begins was for a request already done, and is dropped.
        self.early: dict[int, tuple[str, int]] = {}
        self.begun = 0
        self.taken = 0
        self.try_scheduled = False
        self.taking = True  # False once the worker drains: the loop takes no more
        self.armed = False  # the next queued request wakes the loop
        self.full = False  # MAX_CONCURRENT requests run: take more once one ends
        self.tasks: set[asyncio.Task] = set()

    # -- in the loop

    def quota_reached(self) -> bool:
        return bool(self.max_requests) and self.taken >= self.max_requests

    def begin(self, rid: int, scope: dict, more_body: bool) -> None:
        # Counted against the quota (a batch may pass it by a few: served all the same).
        self.taken += 1
        if _lifespan is not None and not _lifespan.unsupported:
            scope["state"] = dict(_lifespan.state)
        self.begun += 1
        early = self.early.pop(rid, None)
        if early is not None and early[0] != "client_gone":
            # Timed out or shut down before it began: the front answered it (504/503).
            _native.serve_done(rid)
        else:
            req = _Request(self, rid, scope, more_body)
            # The client left before it began: the application sees http.disconnect.
            req.gone = early is not None
            self.active[rid] = req
            # Started eagerly: its first steps (usually the whole of a small request:
            # its receive and send never wait) run now, not after a trip through the
            # loop's queue.
            task = _eager_task(self._run(req), self.loop)
            if not task.done():
                req.task = task
                self.tasks.add(task)
        if len(self.early) > EARLY_KEEP:
            self.early = {r: e for r, e in self.early.items() if e[1] >= self.begun - EARLY_KEEP}
        if not self.try_scheduled:
            # Once the loop has run what is ready (this request's first step among it),
            # take the next queued request here, without the hop through the taker thread.
            self.try_scheduled = True
            self.loop.call_soon(self.try_take)

    def try_take(self) -> None:
        """Take a queued request from the loop thread if one is waiting (never waits); if
        none is, arm the feed: the next one queued wakes the loop."""
        self.try_scheduled = False
        if not self.taking:
            return
        if self.quota_reached():
            _native.serve_asgi_feed_stop()
            return
        if len(self.active) >= MAX_CONCURRENT:
            self.full = True
            return
        # A few at once (each runs eagerly until it first waits, most to their end), so
        # that a busy loop goes through its poll of the sockets once per batch, not once
        # per request; then what else is ready runs.
        for _ in range(TAKE_BATCH):
            got = _native.serve_asgi_next(self.server_id, 0)
            if type(got) is not tuple:
                if got is False and not self.armed:
                    self.armed = True
                    _native.serve_asgi_want(self.server_id)
                return
            self.begin(*got)
            if not self.taking or self.quota_reached() or len(self.active) >= MAX_CONCURRENT:
                return

    def on_feed(self) -> None:
        """The loop was woken: a request was queued (the loop's reader callback)."""
        _native.serve_asgi_woken()
        self.armed = False
        if not self.try_scheduled:
            self.try_take()

    async def _run(self, req: _Request) -> None:
        try:
            await req.run(self.app)
        finally:
            self.active.pop(req.rid, None)
            if req.task is not None:
                self.tasks.discard(req.task)
            if self.full and not self.try_scheduled:
                self.full = False
                self.try_scheduled = True
                self.loop.call_soon(self.try_take)
            io = req.io
            if io is not None and not io.done():
                # Still blocked on the client (woken by the cancellation): released by
                # the pool thread once it returns (see _Request._idle).
                io.add_done_callback(lambda _f, rid=req.rid: _native.serve_done(rid))
            else:
                _native.serve_done(req.rid)

    def cancel(self, req: _Request, reason: str) -> None:
        if reason == "client_gone":
            req.client_gone()
        elif req.ws is not None and req.ws.state != "handshake":
            # An accepted WebSocket at shutdown: the front closes it (1001), the
            # application sees websocket.disconnect.
            req.ws.wake()
        elif req.cancelled is None:
            req.cancelled = reason
            req.client_gone()
            if req.task is not None:
                req.task.cancel()

    def give_up(self, req: _Request) -> None:
        """End ``req``, still running when a recycled worker's grace period ran out: an
        accepted WebSocket is closed with 1012 (the application sees
        ``websocket.disconnect``; the client reconnects to another worker); a request
        still unanswered gets 503 and a streamed answer is cut, then its task is
        cancelled (``asyncio.CancelledError`` where it waits)."""
        if req.ws is not None and req.ws.state != "handshake":
            req.ws.restart()
            return
        if req.cancelled is not None:
            return
        req.cancelled = "shutdown"
        if req.io is None or req.io.done():
            # Nothing of it is blocked on the client (else it is bounded by the client
            # timeouts, and its answer is cut when the task ends).
            if req.streaming and not req.complete:
                _native.serve_abort(req.rid)
            elif not req.streaming and not req.complete:
                req.complete = True
                _native.serve_respond(
                    req.rid,
                    "503 Service Unavailable",
                    _ERROR_HEADERS,
                    b"Service Unavailable\n",
                )
        if req.task is not None:
            req.task.cancel()

    def on_ws_ready(self) -> None:
        """The front has something for these WebSockets (the loop's reader callback)."""
        for rid in _native.serve_ws_ready():
            req = self.active.get(rid)
            if req is not None and req.ws is not None:
                req.ws.wake()

    def on_events(self, events) -> None:
        for rid, reason in events:
            req = self.active.get(rid)
            if req is not None:
                self.cancel(req, reason)
            elif self.early.get(rid, ("client_gone",))[0] == "client_gone":
                self.early[rid] = (reason, self.begun)

    async def drain(self, closed: bool, grace: float | None = None) -> None:
        """Finish the requests still running, then run the lifespan shutdown.

        ``closed``: the server closed after its grace period, so what still runs is past
        it: cancelled at once. Else (recycling, a reload) they get to finish; a worker
        replaced by a reload first closes its open WebSockets with 1012 ("service
        restart": their clients reconnect to the new workers) instead of keeping the old
        code running for as long as they stay open. A recycled worker gives them ``grace``
        seconds (``--graceful-timeout``; None: no limit), then does the same and ends
        the requests still running (see :meth:`give_up`)."""
        self.taking = False
        if not closed and _native.serve_retired():
            for req in list(self.active.values()):
                if req.ws is not None:
                    req.ws.restart()
        if self.tasks and not closed:
            _, late = await asyncio.wait(list(self.tasks), timeout=grace)
            if late:
                print(
                    f"manygil serve: a recycled worker's {len(late)} request(s) and "
                    f"WebSocket(s) still open after --graceful-timeout {grace:g}s were ended",
                    file=sys.stderr,
                )
                for req in list(self.active.values()):
                    self.give_up(req)
                await asyncio.wait(list(self.tasks), timeout=5.0)
        for t in list(self.tasks):
            t.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5.0)
        if _lifespan is not None:
            failed = await _lifespan.stop()
            if failed:
                print(f"manygil serve: lifespan shutdown of {_spec}: {failed}", file=sys.stderr)

    # -- in threads of their own

    def take(self) -> bool:
        """Wait (natively, GIL released) until the server closes (returns True), the
        quota is reached or this interpreter is retired (False). Requests reach the loop
        without this thread: see :meth:`try_take`."""
        if _native.serve_asgi_feed(self.server_id) is False:
            return False  # the loop reached its quota
        # Retired (replaced: a reload, a stuck worker): what runs gets to finish, as when
        # recycling. Else the server closed.
        return not _native.serve_retired()

    def watch(self) -> None:
        """Hand this interpreter's request cancellations to the loop."""
        while True:
            events = _native.serve_asgi_events(None)
            if events is None:
                return
            if events:
                self.loop.call_soon_threadsafe(self.on_events, events)


def run(server_id: int, max_requests: int, grace: float | None = None) -> str:
    """Serve requests in this interpreter's loop until the server closes (``"closed"``) or
    ``max_requests`` requests were taken (``"recycle"``; what still runs then gets
    ``grace`` seconds: see :meth:`_Worker.drain`)."""
    loop = _loop
    if loop is None or _app is None:
        raise RuntimeError("manygil serve: run() before a successful start()")
    worker = _Worker(loop, _app, server_id, max_requests)

    # The loop runs in a real Thread (applications calling threading.current_thread()).
    def run_loop() -> None:
        try:
            loop.run_forever()
        finally:
            _native.serve_thread_exit()

    # WebSocket wake-ups and the feed's come straight to the loop (added before it
    # runs: add_reader is not thread-safe).
    ws_fd = _native.serve_ws_fd()
    loop.add_reader(ws_fd, worker.on_ws_ready)
    feed_fd = _native.serve_asgi_feed_fd()
    loop.add_reader(feed_fd, worker.on_feed)
    worker.armed = True
    _native.serve_asgi_want(server_id)
    looper = threading.Thread(target=run_loop, name="manygil-asgi-loop")
    watcher = threading.Thread(target=worker.watch, name="manygil-asgi-events")
    looper.start()
    watcher.start()
    closed = True
    try:
        try:
            closed = worker.take()
        finally:
            asyncio.run_coroutine_threadsafe(worker.drain(closed, grace), loop).result()
    finally:
        _native.serve_asgi_close()
        loop.call_soon_threadsafe(loop.stop)
        looper.join()
        loop.remove_reader(ws_fd)
        _native.serve_ws_fd_close()
        loop.remove_reader(feed_fd)
        _native.serve_asgi_feed_close()
        watcher.join()
        worker.pool.shutdown(wait=True)
        _close_loop()
        _native.serve_thread_exit()
    return "closed" if closed else "recycle"
