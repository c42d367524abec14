"""WSGI applications that tests/test_serve_observe.py serves: they log, wait where a
snapshot can see them, and report their thread names.

Imported only inside worker interpreters (importing it in the main interpreter raises).
"""

from __future__ import annotations

import _interpreters
import logging
import os
import threading
import urllib.parse

from waiting import wait_for_state

if _interpreters.get_current()[0] == 0:
    raise RuntimeError("serve_observe_apps was imported in the main interpreter")

log = logging.getLogger("observe.app")


def _text(start_response, text: str, status: str = "200 OK"):
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [text.encode()]


def hold_here(started: str, release: str) -> None:
    """Tell the test we started, then wait (politely, in Python) until it releases us."""
    open(started, "w").close()
    wait_for_state(lambda: os.path.exists(release), "the test releases the request", poll=0.005)


def route_work(n: int) -> int:
    """The function the profile test looks for."""
    return sum(i * i for i in range(n))


def _os_thread_name() -> str:
    with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
        return f.read().strip()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    q = dict(urllib.parse.parse_qsl(environ["QUERY_STRING"]))
    if path == "/log":
        log.log(int(q.get("level", logging.WARNING)), "app says %s", q["msg"])
        return _text(start_response, "logged")
    if path == "/hold":
        hold_here(q["started"], q["release"])
        return _text(start_response, "released")
    if path == "/work":
        return _text(start_response, str(route_work(int(q.get("n", 1000)))))
    if path == "/names":
        me = _interpreters.get_current()[0]
        return _text(start_response, f"{me} {threading.current_thread().name} {_os_thread_name()}")
    return _text(start_response, "not found", "404 Not Found")
