"""WSGI applications that tests/test_serve.py serves through ``manygil serve``.

Imported only inside worker interpreters (importing it in the main interpreter raises).
"""

from __future__ import annotations

import _interpreters
import io
import json
import os
import re
import threading
import time
import urllib.parse
import warnings
import wsgiref.validate

from waiting import wait_for_state

if _interpreters.get_current()[0] == 0:
    raise RuntimeError("serve_apps was imported in the main interpreter")

# Any PEP 3333 complaint from the validator fails the request.
warnings.simplefilter("error", wsgiref.validate.WSGIWarning)

_state = {"closed": 0, "requests": 0, "spinning": 0, "endless": 0, "woken": 0}
_lock = threading.Lock()
_barrier = threading.Barrier(2)
_CGI_KEYS = (
    "REQUEST_METHOD SCRIPT_NAME PATH_INFO QUERY_STRING CONTENT_TYPE CONTENT_LENGTH "
    "SERVER_NAME SERVER_PORT SERVER_PROTOCOL REMOTE_ADDR REMOTE_PORT"
).split()


class _Closing:
    """An iterable that records its close()."""

    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        _state["closed"] += 1


def _text(start_response, text: str, status: str = "200 OK"):
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _wait_for(path: str) -> None:
    wait_for_state(lambda: os.path.exists(path), f"{path} exists", poll=0.005)


def raw_app(environ, start_response):
    _state["requests"] += 1
    path = environ["PATH_INFO"]
    if path == "/hello":
        return _text(start_response, "hello")
    if path == "/environ":
        env = {k: environ.get(k) for k in _CGI_KEYS}
        env.update({k: v for k, v in environ.items() if k.startswith("HTTP_")})
        env["wsgi"] = {
            "version": list(environ["wsgi.version"]),
            "url_scheme": environ["wsgi.url_scheme"],
            "multithread": environ["wsgi.multithread"],
            "multiprocess": environ["wsgi.multiprocess"],
            "run_once": environ["wsgi.run_once"],
            "has_file_wrapper": "wsgi.file_wrapper" in environ,
        }
        return _text(start_response, json.dumps(env))
    if path == "/echo":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(n) if n else b""
        # Chunked bodies (no CONTENT_LENGTH): read in pieces until the end.
        while not n:
            piece = environ["wsgi.input"].read(7)
            if not piece:
                break
            data += piece
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [data]
    if path == "/lines":
        inp = environ["wsgi.input"]
        first = inp.readline()
        rest = list(inp)
        return _text(start_response, json.dumps([first.decode()] + [x.decode() for x in rest]))
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _Closing([f"chunk{i};".encode() for i in range(50)])
    if path == "/closed":
        return _text(start_response, str(_state["closed"]))
    if path == "/count":
        return _text(start_response, str(_state["requests"]))
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written;")
        return [b"returned"]
    if path == "/file":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"x" * 100_000), 4096)
    if path == "/error":
        raise ValueError("boom from the test app")
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise KeyError("handled")
        except KeyError:
            import sys

            start_response("418 I'm a teapot", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"teapot"]
    if path == "/fail-mid-body":

        def gen():
            yield b"first"
            yield b"second"
            raise RuntimeError("failed mid-body")

        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/spin":
        _state["spinning"] += 1
        try:
            while True:
                pass
        finally:
            _state["spinning"] -= 1
    if path == "/spinning":
        return _text(start_response, str(_state["spinning"]))
    if path == "/block":
        # Wait (politely) for the test to release us; tell it we started.
        q = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&"))
        open(q["started"], "w").close()
        _wait_for(q["release"])
        return _text(start_response, "released")
    if path == "/stubborn":
        # Ignores interrupts until released: a handler that does not stop.
        release = environ["QUERY_STRING"].split("=", 1)[1]
        while not os.path.exists(release):
            try:
                time.sleep(0.005)
            except KeyboardInterrupt:
                pass
        return _text(start_response, "finally")
    if path == "/barrier":
        # Passes only if two requests run at the same time in this interpreter.
        _barrier.wait(timeout=30)
        return _text(start_response, "met")
    if path == "/exit":
        # A handler that ends the whole server process (as a crashing C extension would).
        os._exit(int(environ["QUERY_STRING"] or 3))
    if path == "/c-sleep":
        # Blocked in one C call, which the interrupt at --timeout reaches on 3.15+ only
        # (the server then signals the thread: the sleep raises it at once).
        try:
            time.sleep(float(environ["QUERY_STRING"]))
        except KeyboardInterrupt:
            _state["woken"] += 1
            raise
        return _text(start_response, "slept")
    if path == "/woken":
        return _text(start_response, str(_state["woken"]))
    if path == "/c-lock":
        # Blocked in one C call that no interrupt reaches, on any version: a lock wait
        # (CPython retries it after a signal without looking at pending exceptions).
        held = threading.Lock()
        held.acquire()
        held.acquire(timeout=float(environ["QUERY_STRING"]))
        return _text(start_response, "waited")
    if path == "/whoami":
        return _text(start_response, f"{_interpreters.get_current()[0]} {os.getpid()}")
    return _text(start_response, "not found", "404 Not Found")


app = wsgiref.validate.validator(raw_app)


def _endless():
    """An endless body, counted in ``_state["endless"]`` while it is open."""
    with _lock:
        _state["endless"] += 1
    try:
        while True:
            # Chunks bigger than hyper's write buffer: once the socket is full, hyper
            # stops asking for more, and the writer blocks.
            yield b"x" * (1 << 18)
    finally:
        with _lock:
            _state["endless"] -= 1


def hostile_app(environ, start_response):
    """Breaks the rules on purpose (so no validator around it): the server must hold."""
    path = environ["PATH_INFO"]
    pairs = urllib.parse.parse_qsl(environ["QUERY_STRING"], keep_blank_values=True)
    q = dict(pairs)
    if path == "/hello":
        return _text(start_response, "hello")
    if path == "/regex":
        # Catastrophic backtracking on "user input": stuck in C, holding its GIL, for
        # about 2**40 steps (the server process ends first).
        re.match(r"^(a+)+$", "a" * 40 + "!")
        return _text(start_response, "matched at last")
    if path == "/status":
        start_response(q["s"], [("Content-Type", "text/plain")])
        return [b"hi"]
    if path == "/length":
        # The Content-Length headers given as ``v`` (repeated: several headers).
        start_response("200 OK", [("Content-Length", v) for k, v in pairs if k == "v"])
        return [b"hello"]
    if path == "/endless":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _endless()
    if path == "/endless-open":
        return _text(start_response, str(_state["endless"]))
    if path == "/big":
        # ``mib`` MiB in one piece (a whole body: the worker is free once it is handed over).
        body = b"x" * (int(q["mib"]) << 20)
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/whoami":
        return _text(start_response, f"{_interpreters.get_current()[0]} {os.getpid()}")
    if path == "/chars":
        # Content-Length counted in characters, not UTF-8 bytes (+ ``short`` bytes).
        text = q["text"]
        body = text.encode()
        length = len(text) + int(q.get("short", 0))
        write = start_response("200 OK", [("Content-Length", str(length))])
        if q["mode"] == "list":
            return [body]
        if q["mode"] == "write":
            write(body[:3])
            write(body[3:])
            return []
        return _Closing([body[:3], body[3:7], body[7:]])
    return _text(start_response, "not found", "404 Not Found")


not_callable = 42
