"""``manygil serve --reload``: a change to the application's source files loads it afresh
in new worker interpreters, in the same process on the same sockets; new code that fails
to import leaves the old workers serving; requests in flight are answered."""

from __future__ import annotations

import http.client
import re
import sys
import threading

import pytest
from serve_helpers import request_in_flight, run_serve
from waiting import wait_for_state

WSGI_APP = """\
from serve_apps import raw_app
VERSION = {version!r}
def app(environ, start_response):
    if environ["PATH_INFO"] == "/version":
        body = VERSION.encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    return raw_app(environ, start_response)
"""

ASGI_APP = """\
import asyncio, os
VERSION = {version!r}
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({{"type": "lifespan.startup.complete"}})
            else:
                await send({{"type": "lifespan.shutdown.complete"}})
                return
    if scope["type"] == "websocket":
        await receive()
        await send({{"type": "websocket.accept"}})
        await send({{"type": "websocket.send", "text": VERSION}})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    body = VERSION.encode()
    if scope["path"] == "/block":
        q = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&"))
        open(q["started"], "w").close()
        while not os.path.exists(q["release"]):
            await asyncio.sleep(0.005)
        body = b"released"
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": body}})
"""


def _write(path, template: str, version: str) -> None:
    # Each version has its own length: a module rewritten within the same second keeps
    # its .pyc only if its size did not change either.
    path.write_text(template.format(version=version))


def _wait_version(s, version: bytes, within: float = 60.0) -> None:
    """Poll GET /version until it answers ``version`` (a deadline, never a sleep)."""
    seen = []

    def answers() -> bool:
        seen[:] = [s.get("/version")]
        return seen[-1] == (200, version)

    what = lambda: f"GET /version answers {version!r} (last: {seen[-1]})"  # noqa: E731
    wait_for_state(answers, what, within, 0)


@pytest.mark.parametrize(
    "options",
    [
        ("--workers", "2"),
        ("--workers", "1", "--no-supervise"),
        ("--workers", "3", "--threads", "2"),
    ],
    ids=["supervised-2", "unsupervised-1", "3x2-threads"],
)
def test_an_edit_is_served_after_a_reload_in_the_same_process(served, tmp_path, options):
    app = tmp_path / "reload_app.py"
    _write(app, WSGI_APP, "one")
    s = served("--reload", *options, app="reload_app:app", path=str(tmp_path), follow=True)
    assert s.get("/version") == (200, b"one")
    pid = s.server_pid()
    s.wait_err(f"--reload: watching {tmp_path} for changes to *.py")
    _write(app, WSGI_APP, "two, edited")
    (line,) = s.wait_err("reloaded in")
    workers = options[options.index("--workers") + 1]
    assert re.search(
        rf"reloaded in \d+ ms \({re.escape(str(app))} changed; {workers} new worker", line
    ), line
    # Once the reload is logged, no old worker takes a request (even one that was idle,
    # waiting for the next request when it was replaced).
    for _ in range(10):
        assert s.get("/version") == (200, b"two, edited")
    # The workers were replaced, not the process (nor its sockets).
    assert s.server_pid() == pid
    _write(app, WSGI_APP, "three, edited again")
    s.wait_err("reloaded in", count=2)
    for _ in range(10):
        assert s.get("/version") == (200, b"three, edited again")
    assert s.server_pid() == pid
    assert s.stop() == 0


def test_code_that_fails_to_import_keeps_the_old_workers_serving(served, tmp_path):
    app = tmp_path / "broken_app.py"
    _write(app, WSGI_APP, "good")
    s = served("--reload", "--workers", "2", app="broken_app:app", path=str(tmp_path), follow=True)
    assert s.get("/version") == (200, b"good")
    app.write_text("VERSION = 'bad'\ndef app(environ, start_response:\n    pass\n")
    (line,) = s.wait_err("failed to load")
    err = s.stderr_so_far()
    assert "the previous workers keep serving" in line
    # The traceback names the file and the line, once (not once per worker).
    assert err.count(f'File "{app}", line 2') == 1, err
    assert "SyntaxError" in line
    assert s.get("/version") == (200, b"good")
    # Any import error, not only a syntax error.
    app.write_text("VERSION = 'raising'\nraise RuntimeError('not today')\n")
    s.wait_err("failed to load", count=2)
    assert "RuntimeError: not today" in s.stderr_so_far()
    assert s.get("/version") == (200, b"good")
    # The next good save reloads.
    _write(app, WSGI_APP, "fixed")
    _wait_version(s, b"fixed")
    s.wait_err("reloaded in")
    assert s.stop() == 0


def test_requests_in_flight_across_a_reload_are_all_answered(served, tmp_path):
    app = tmp_path / "busy_app.py"
    _write(app, WSGI_APP, "old")
    s = served("--reload", "--workers", "2", app="busy_app:app", path=str(tmp_path), follow=True)
    assert s.get("/version") == (200, b"old")
    # One old worker busy with a request when the reload comes; the other answers clients.
    t, result, release = request_in_flight(s, tmp_path)
    done = threading.Event()
    lock = threading.Lock()
    answers: list[list[bytes]] = [[] for _ in range(3)]
    failures: list[object] = []

    def client(i: int) -> None:
        for _ in range(5000):
            if done.is_set():
                return
            try:
                status, body = s.get("/version")
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    failures.append(e)
                continue
            if status != 200:
                with lock:
                    failures.append((status, body))
            answers[i].append(body)

    clients = [threading.Thread(target=client, args=(i,)) for i in range(3)]
    for c in clients:
        c.start()
    try:
        # Clients are being answered by the old workers...
        while not all(answers):
            t.join(0.01)
        _write(app, WSGI_APP, "new code")
        # ...and then by the new ones.
        while not all(a and a[-1] == b"new code" for a in answers):
            assert all(c.is_alive() for c in clients), "a client ran out of requests"
            t.join(0.01)
    finally:
        done.set()
        for c in clients:
            c.join()
    assert failures == []
    for a in answers:
        assert set(a) <= {b"old", b"new code"}
        # Once a new worker answered, no old one takes a request: retired first.
        first_new = a.index(b"new code")
        assert all(body == b"new code" for body in a[first_new:]), a
    # The old worker finishes the request it had.
    assert t.is_alive()
    release.touch()
    t.join()
    assert result == [(200, b"released")]
    s.wait_err("reloaded in")
    assert s.stop() == 0


def test_an_asgi_request_in_flight_finishes_on_its_old_worker(served, tmp_path):
    app = tmp_path / "asgi_reload_app.py"
    _write(app, ASGI_APP, "asgi one")
    s = served(
        "--reload", "--workers", "1", app="asgi_reload_app:app", path=str(tmp_path), follow=True
    )
    assert s.get("/version") == (200, b"asgi one")
    t, result, release = request_in_flight(s, tmp_path)
    _write(app, ASGI_APP, "asgi two!")
    _wait_version(s, b"asgi two!")
    # Not cancelled: the replaced loop lets what it runs finish.
    assert t.is_alive()
    release.touch()
    t.join()
    assert result == [(200, b"released")]
    assert s.stop() == 0


def test_open_websockets_of_replaced_workers_close_with_1012(served, tmp_path):
    pytest.importorskip("websockets")
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    app = tmp_path / "ws_reload_app.py"
    _write(app, ASGI_APP, "ws one")
    s = served(
        "--reload", "--workers", "2", app="ws_reload_app:app", path=str(tmp_path), follow=True
    )
    url = f"ws://{s.host}:{s.port}/ws"
    with connect(url, open_timeout=30, close_timeout=10) as ws:
        assert ws.recv(timeout=30) == "ws one"
        _write(app, ASGI_APP, "ws two!")
        # The old worker closes it ("service restart"): the client reconnects...
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=60)
        assert closed.value.rcvd.code == 1012
    # ...to a new worker.
    with connect(url, open_timeout=30, close_timeout=10) as ws:
        assert ws.recv(timeout=30) == "ws two!"
    assert s.stop() == 0


def test_changes_in_ignored_places_do_not_reload(served, tmp_path):
    app = tmp_path / "quiet_app.py"
    _write(app, WSGI_APP, "v1")
    (tmp_path / ".git").mkdir()
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    s = served("--reload", "--workers", "1", app="quiet_app:app", path=str(tmp_path), follow=True)
    assert s.get("/version") == (200, b"v1")
    s.wait_err("--reload: watching")
    ignored = [
        tmp_path / "__pycache__" / "quiet_app.cpython-3.py",
        tmp_path / ".git" / "hook.py",
        tmp_path / "env" / "site.py",
        tmp_path / "node_modules" / "x.py",
        tmp_path / ".#quiet_app.py",
        tmp_path / "quiet_app.py~",
        tmp_path / ".quiet_app.py.swp",
        tmp_path / "notes.txt",
    ]
    for p in ignored:
        p.parent.mkdir(exist_ok=True)
        p.write_text("x = 1\n")
    # A change that counts, after those: the one reload names it alone.
    _write(app, WSGI_APP, "v2, counted")
    _wait_version(s, b"v2, counted")
    s.wait_err("reloaded in")
    assert s.stop() == 0
    reloads = [line for line in s.err.splitlines() if "reloaded in" in line]
    assert len(reloads) == 1, s.err
    assert f"({app} changed;" in reloads[0], reloads


def test_reload_dirs_and_include_patterns(served, tmp_path):
    code, pages = tmp_path / "code", tmp_path / "pages"
    code.mkdir()
    pages.mkdir()
    (pages / "version.html").write_text("page one")
    # The page is read once, at import: only a reload serves a new one.
    (code / "page_app.py").write_text(
        f"PAGE = open({str(pages / 'version.html')!r}, 'rb').read()\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/html')])\n"
        "    return [PAGE]\n"
    )
    s = served(
        "--reload",
        "--reload-dir",
        str(code),
        "--reload-dir",
        str(pages),
        "--reload-include",
        "*.html",
        "--workers",
        "1",
        app="page_app:app",
        path=str(code),
        follow=True,
    )
    s.wait_err(f"--reload: watching {code}, {pages} for changes to *.py, *.html")
    assert s.get("/version") == (200, b"page one")
    (pages / "version.html").write_text("page two")
    _wait_version(s, b"page two")
    (line,) = s.wait_err("reloaded in")
    assert f"({pages / 'version.html'} changed;" in line, line
    assert s.stop() == 0


def test_a_reload_dir_that_is_not_a_directory_is_refused(tmp_path):
    missing = tmp_path / "missing"
    proc = run_serve("serve_apps:app", "--reload", "--reload-dir", str(missing), "--workers", "1")
    assert proc.returncode == 1
    assert f"--reload-dir {str(missing)!r}: not a directory" in proc.stderr


def test_reload_options_need_reload():
    proc = run_serve("serve_apps:app", "--reload-dir", ".")
    assert proc.returncode == 2
    assert "--reload-dir and --reload-include go with --reload" in proc.stderr


def test_a_module_that_cannot_be_found_is_refused_before_serving():
    proc = run_serve("no_such_module_here:app", "--reload", "--no-supervise")
    assert proc.returncode == 1
    assert "--reload: cannot find module 'no_such_module_here'" in proc.stderr


def test_the_default_is_where_the_top_level_module_is_found(tmp_path, monkeypatch):
    from manygil._serve import reload as _reload

    pkg = tmp_path / "proj" / "mypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('never imported here')\n")
    (pkg / "wsgi.py").write_text("")
    (tmp_path / "proj" / "single.py").write_text("raise RuntimeError('never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "proj"))
    # A package: the sys.path entry holding it (its project), found without importing.
    assert _reload.default_dirs("mypkg.wsgi:application") == [str(tmp_path / "proj")]
    assert _reload.default_dirs("single:app") == [str(tmp_path / "proj")]
    assert "mypkg" not in sys.modules
