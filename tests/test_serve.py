"""``python -m manygil serve`` end to end: a real server process, real HTTP clients on
127.0.0.1, the test apps of serve_apps.py wrapped in ``wsgiref.validate.validator``."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from serve_helpers import HERE, RawConn, Served, request_in_flight, run_serve
from waiting import run_threads, wait_for_state


def test_serves_a_validated_app_with_keep_alive(served):
    s = served("--workers", "2")
    c = s.conn()
    for _ in range(5):
        c.request("GET", "/hello")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b"hello")
        assert r.getheader("Content-Type") == "text/plain"
    c.close()


def test_environ_is_complete_and_honest(served):
    s = served("--workers", "1", "--threads", "2")
    status, _, body = s.request(
        "GET", "/environ?a=1&b=%20", headers={"X-Custom": "v", "Cookie": "a=1"}
    )
    assert status == 200
    env = json.loads(body)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/environ"
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == "127.0.0.1" and env["SERVER_PORT"] == str(s.port)
    assert env["REMOTE_ADDR"] == "127.0.0.1" and int(env["REMOTE_PORT"]) > 0
    assert env["HTTP_X_CUSTOM"] == "v" and env["HTTP_COOKIE"] == "a=1"
    assert env["HTTP_HOST"] == f"{s.host}:{s.port}"
    assert env["wsgi"] == {
        "version": [1, 0],
        "url_scheme": "http",
        "multithread": True,
        "multiprocess": False,
        "run_once": False,
        "has_file_wrapper": True,
    }
    # As gunicorn: SERVER_NAME/PORT name the socket; the Host header is HTTP_HOST (PEP
    # 3333's URL reconstruction reads HTTP_HOST first).
    _, _, body = s.request("GET", "/environ", headers={"Host": "example.com:9999"})
    env = json.loads(body)
    assert env["HTTP_HOST"] == "example.com:9999"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", str(s.port))


def test_path_info_is_decoded_as_latin_1(served):
    s = served("--workers", "1")
    status, _, body = s.request("GET", "/a%20b/%E2%82%AC")
    assert status == 404  # routed by the decoded path
    status, _, body = s.request("GET", "/environ/%E2%82%AC")
    assert status == 404


def test_request_bodies_content_length_and_chunked(served):
    s = served("--workers", "1")
    data = os.urandom(300_000)
    assert s.request("POST", "/echo", body=data)[2] == data
    c = s.conn()
    c.request("POST", "/echo", body=iter([b"abc", b"", b"defgh", b"ij"]), encode_chunked=True)
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"abcdefghij")
    c.close()


def test_readline_and_iteration_over_wsgi_input(served):
    s = served("--workers", "1")
    status, _, body = s.request("POST", "/lines", body=b"one\ntwo\nthree")
    assert status == 200
    assert json.loads(body) == ["one\n", "two\n", "three"]


def test_streamed_iterable_is_closed_and_write_callable_works(served):
    s = served("--workers", "1")
    status, headers, body = s.request("GET", "/stream")
    assert status == 200
    assert headers.get("transfer-encoding") == "chunked"
    assert body == b"".join(f"chunk{i};".encode() for i in range(50))
    assert s.get("/closed") == (200, b"1")
    assert s.get("/write") == (200, b"written;returned")
    status, body = s.get("/file")
    assert (status, body) == (200, b"x" * 100_000)


def test_errors_give_500_with_the_traceback_in_the_log(served):
    s = served("--workers", "1")
    status, _, body = s.request("GET", "/error")
    assert (status, body) == (500, b"Internal Server Error\n")
    assert s.get("/exc-info") == (418, b"teapot")
    # A failure after the head was sent cuts the connection: never a complete response.
    c = s.conn()
    c.request("GET", "/fail-mid-body")
    try:
        r = c.getresponse()
        with pytest.raises(http.client.IncompleteRead):
            r.read()
    except (http.client.RemoteDisconnected, ConnectionError):
        pass
    c.close()
    # The worker keeps serving.
    assert s.get("/hello") == (200, b"hello")
    assert s.stop() == 0
    assert "unhandled exception in GET /error (serve_apps:app)" in s.err
    assert "ValueError: boom from the test app" in s.err
    assert "RuntimeError: failed mid-body" in s.err


def test_a_request_past_the_timeout_gets_504_and_is_interrupted(served):
    s = served("--workers", "1", "--timeout", "0.5")
    assert s.get("/spin")[0] == 504
    # The only worker was interrupted: it answers again.
    assert s.get("/hello") == (200, b"hello")
    assert s.stop() == 0
    assert "GET /spin ran past --timeout: answered 504, handler interrupted" in s.err


def _raw(s: Served, data: bytes) -> bytes:
    with socket.create_connection((s.host, s.port), timeout=60) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def test_malformed_requests_get_400_and_never_reach_the_app(served):
    s = served("--workers", "1", "--max-body", "100")
    before = int(s.get("/count")[1])
    for raw in (
        b"NONSENSE\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    ):
        assert _raw(s, raw).startswith(b"HTTP/1.1 400 "), raw
    out = _raw(s, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 ")
    big = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    assert _raw(s, big).startswith(b"HTTP/1.1 431 ")
    # Only the /count requests reached the app.
    assert int(s.get("/count")[1]) == before + 1


def test_two_host_fields_or_a_malformed_chunked_body_get_400(served):
    s = served("--workers", "1")
    before = int(s.get("/count")[1])
    out = _raw(s, b"GET /hello HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out
    assert int(s.get("/count")[1]) == before + 1  # never reached the app
    bad_chunk = b"3\r\nabc\r\nnot-hex\r\nxyz\r\n0\r\n\r\n"
    chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    out = _raw(s, chunked + bad_chunk)
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out
    assert out.endswith(b"Malformed request body\n"), out
    assert s.stop() == 0
    assert "unhandled exception" not in s.err


def test_an_http_1_1_request_without_host_gets_400(served):
    # RFC 9112 3.2 (gunicorn 27 and granian 2.8 pass it to the application).
    s = served("--workers", "1")
    before = int(s.get("/count")[1])
    out = _raw(s, b"GET /hello HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out
    assert int(s.get("/count")[1]) == before + 1  # never reached the app
    # HTTP/1.0 may leave it out.
    out = _raw(s, b"GET /hello HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 200 OK\r\n") and out.endswith(b"hello"), out
    assert s.stop() == 0


def test_a_chunked_body_over_the_limit_gets_413(served):
    s = served("--workers", "1", "--max-body", "10")
    c = s.conn()
    c.request("POST", "/echo", body=iter([b"0123456789", b"x"]), encode_chunked=True)
    assert c.getresponse().status == 413
    c.close()


def test_threads_run_requests_concurrently_in_one_interpreter(served):
    s = served("--workers", "1", "--threads", "2")
    results = []
    run_threads(lambda: results.append(s.get("/barrier")), 2)
    assert results == [(200, b"met")] * 2


def test_workers_are_recycled_without_dropping_requests(served):
    s = served("--workers", "1", "--max-requests-per-worker", "3")
    ids = []
    for _ in range(7):
        status, body = s.get("/whoami")
        assert status == 200
        ids.append(int(body.split()[0]))
    assert 0 not in ids
    assert len(set(ids[:3])) == 1 and len(set(ids[3:6])) == 1
    assert len(set(ids)) == 3


def test_serves_on_a_unix_socket(served, tmp_path):
    path = str(tmp_path / "s.sock")
    s = served("--workers", "1", "--uds", path)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(60)
        sock.connect(path)
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"hello")
    # A Unix socket has no address: SERVER_NAME/PORT come from the Host header (port 80
    # when it has none), or are the socket's path and "" without one (as gunicorn).
    for head, expected in [
        (b"Host: example.com:8080\r\n", ["example.com", "8080"]),
        (b"Host: example.com\r\n", ["example.com", "80"]),
        (b"", [path, ""]),
    ]:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(60)
            sock.connect(path)
            sock.sendall(b"GET /environ HTTP/1.0\r\n" + head + b"\r\n")
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
        env = json.loads(out.split(b"\r\n\r\n", 1)[1])
        assert [env["SERVER_NAME"], env["SERVER_PORT"]] == expected, head
    assert s.stop() == 0
    assert not os.path.exists(path)


def test_sigterm_finishes_in_flight_requests_then_exits_0(served, tmp_path):
    s = served("--workers", "1")
    t, result, release = request_in_flight(s, tmp_path)
    s.send_signal(signal.SIGTERM)
    # New connections are refused once the listener is closed.
    while True:
        try:
            socket.create_connection((s.host, s.port), timeout=60).close()
        except (ConnectionRefusedError, ConnectionResetError):
            # Refused, or reset: accepted by the kernel just before the listener closed.
            break
    release.touch()
    t.join()
    assert result == [(200, b"released")]
    assert s.stop() == 0


def test_sigint_interrupts_what_outlives_the_graceful_timeout(served):
    # Two threads: one spins, the other tells us when the spinning has started.
    s = served("--workers", "1", "--threads", "2", "--graceful-timeout", "0.2", "--timeout", "0")
    result = []

    def spin():
        try:
            result.append(s.get("/spin"))
        except (http.client.HTTPException, ConnectionError) as e:
            result.append(e)

    t = threading.Thread(target=spin)
    t.start()
    while s.get("/spinning") != (200, b"1"):
        pass
    s.send_signal(signal.SIGINT)
    t.join()
    assert s.stop() == 0
    assert result and result[0][0] == 503
    assert "interrupted" in s.err


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (
            "no_such_module_xyz:app",
            "cannot import 'no_such_module_xyz': no module named 'no_such_module_xyz'",
        ),
        ("serve_apps:missing", "module 'serve_apps' has no attribute 'missing'"),
        ("serve_apps:not_callable", "serve_apps:not_callable is not callable"),
        ("serve_refused:app", "cannot import 'serve_refused' in an own-GIL interpreter"),
    ],
)
def test_startup_failures_print_one_line_and_exit_1(app, message):
    r = run_serve(app, "--bind", "127.0.0.1:0", "--workers", "2")
    assert r.returncode == 1
    assert r.stdout == ""
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("manygil serve: ") and message in last, r.stderr


def test_a_port_in_use_is_a_startup_failure(served):
    s = served("--workers", "1")
    r = run_serve("serve_apps:app", "--bind", f"127.0.0.1:{s.port}")
    assert r.returncode == 1
    assert (
        r.stderr.strip()
        == f"manygil serve: address 127.0.0.1:{s.port} is already in use (another server runs there; pick another --bind or stop it)"
    )


def test_serve_api_in_process(tmp_path):
    import manygil.serve as ms

    sys.path.insert(0, HERE)
    try:
        stop = threading.Event()
        addrs = []
        ready = threading.Event()

        def on_ready(a):
            addrs.extend(a)
            ready.set()

        t = threading.Thread(
            target=ms.serve,
            args=("serve_apps:app",),
            kwargs=dict(workers=1, bind="127.0.0.1:0", ready=on_ready, stop=stop),
        )
        t.start()
        ready.wait(120)
        assert addrs and addrs[0].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(addrs[0] + "/hello", timeout=60) as r:
            assert r.read() == b"hello"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(addrs[0] + "/nope", timeout=60)
        assert e.value.code == 404
        assert "serve_apps" not in sys.modules
        stop.set()
        t.join(120)
        assert not t.is_alive()
    finally:
        sys.path.remove(HERE)
    with pytest.raises(ms.StartupError, match="workers must be > 0"):
        ms.serve("serve_apps:app", workers=0)


def test_a_worker_that_does_not_stop_is_replaced(served, tmp_path):
    s = served("--workers", "1", "--timeout", "0.3", "--stuck-after", "0.5")
    release = tmp_path / "release"
    assert s.get(f"/stubborn?release={release}")[0] == 504
    # The only worker ignores its interrupt: the next request waits in the queue (time
    # there does not count toward --timeout) until the replacement worker takes it.
    assert s.get("/hello") == (200, b"hello")
    release.touch()
    assert s.stop() == 0
    assert (
        "did not stop 0.5s after its request was interrupted (--stuck-after); started interpreter"
        in s.err
    )


def test_a_handler_blocked_in_sleep_gets_its_interrupt_where_cpython_allows_it(served):
    # 3.15+ raises a pending interrupt when a blocking call is retried after a signal
    # (gh-144748): the server signals the handler's thread after the interrupt at
    # --timeout, so time.sleep(600) raises KeyboardInterrupt at once and the worker serves
    # on. Before 3.15 the sleep restarts: the worker is replaced at --stuck-after.
    woken = sys.version_info >= (3, 15)
    stuck_after = "60" if woken else "0.5"
    s = served("--workers", "1", "--threads", "1", "--timeout", "0.5", "--stuck-after", stuck_after)
    worker = s.get("/whoami")[1].split()[0]
    assert s.get("/c-sleep?600")[0] == 504
    # The only thread is free again: at once on 3.15, after --stuck-after in a new
    # interpreter before (the request waits in the queue meanwhile).
    assert s.get("/hello") == (200, b"hello")
    if woken:
        assert s.get("/woken") == (200, b"1")
        assert s.get("/whoami")[1].split()[0] == worker
    else:
        assert s.get("/whoami")[1].split()[0] != worker
    assert s.stop() == 0
    assert ("did not stop" in s.err) is not woken


def test_stuck_after_must_be_positive():
    import manygil.serve as ms

    with pytest.raises(ms.StartupError, match="stuck_after must be > 0, got 0"):
        ms.serve("serve_apps:app", stuck_after=0)


def test_access_log(served):
    s = served("--workers", "1", "--access-log")
    assert s.get("/hello?x=1") == (200, b"hello")
    assert s.stop() == 0
    assert '"GET /hello?x=1 HTTP/1.1" 200 5 ' in s.err


# ---- hostile apps and clients (tests/serve_apps.py:hostile_app) ----------------------


def _hostile(served, *args: str) -> Served:
    return served(*args, app="serve_apps:hostile_app")


@pytest.mark.parametrize("mode", ["list", "write", "iter"])
def test_a_body_never_goes_past_its_content_length(served, mode):
    # An app counting characters: a client's "é"s make the declared length end before
    # a response planted at the end of its input. The next request on this keep-alive
    # connection must get its own answer, not the planted one.
    s = _hostile(served, "--workers", "1")
    planted = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhacked"
    text = "é" * len(planted) + planted
    c = RawConn(s)
    status, _, body = c.get(f"/chars?mode={mode}&text={urllib.parse.quote(text)}")
    assert (status, body) == (b"HTTP/1.1 200 OK", ("é" * len(planted)).encode())
    assert c.get("/hello")[2] == b"hello"
    c.close()
    assert s.stop() == 0
    if mode == "list":
        assert "the application's body is longer than its Content-Length (88)" in s.err


@pytest.mark.parametrize("mode", ["list", "write", "iter"])
def test_a_body_short_of_its_content_length_closes_the_connection(served, mode):
    s = _hostile(served, "--workers", "1")
    c = RawConn(s)
    status, headers, body = c.get(f"/chars?mode={mode}&text=0123456789&short=5")
    assert (status, headers["content-length"], body) == (b"HTTP/1.1 200 OK", "15", b"0123456789")
    # Nothing else can be read as the 5 missing bytes: the connection is closed.
    assert c.closed()
    c.close()
    assert s.stop() == 0
    assert "ended after 10 of the 15 bytes of its Content-Length: connection closed" in s.err


def test_handlers_stuck_in_c_holding_their_gil_are_replaced(served):
    # More requests stuck in a regex (in C, holding their interpreter's GIL) than there
    # are workers: each gets its 504, and its worker is replaced at --stuck-after
    # although its GIL never comes back, so the site keeps answering.
    s = _hostile(served, "--workers", "2", "--timeout", "0.5", "--stuck-after", "0.5")
    statuses = []
    run_threads(lambda: statuses.append(s.get("/regex")[0]), 3, timeout=60)
    assert statuses == [504, 504, 504]
    # Well within reach: --timeout + --stuck-after + 1 s (the replacement check runs every
    # second) is 2 s. Before, the two workers stayed stuck and this never came.
    c = http.client.HTTPConnection(s.host, s.port, timeout=15)
    c.request("GET", "/hello")
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"hello")
    c.close()
    assert s.stop() == 0
    assert s.err.count("(--stuck-after); started interpreter") >= 2


@pytest.mark.parametrize("values", ["5%20bytes", "-5", "0x5", "5.0", "", "5&v=5"])
def test_a_content_length_that_is_not_one_decimal_number_gives_500(served, values):
    s = _hostile(served, "--workers", "1")
    status, headers, body = RawConn(s).get(f"/length?v={values}")
    assert (status, body) == (b"HTTP/1.1 500 Internal Server Error", b"Internal Server Error\n")
    assert headers["content-length"] == str(len(body))
    assert s.get("/length?v=5") == (200, b"hello")
    assert s.stop() == 0
    assert "unhandled exception in GET /length" in s.err
    assert "ValueError: invalid Content-Length" in s.err


@pytest.mark.parametrize(
    ("status", "line"),
    [
        ("200 Très bien", b"HTTP/1.1 200 Tr\xe8s bien"),  # latin-1 text is sent as latin-1
        ("299", b"HTTP/1.1 299 "),  # no reason phrase: allowed (RFC 9112 4)
        ("404", b"HTTP/1.1 404 Not Found"),
        ("200 Ça coûte 5 €", None),  # "€" is not latin-1
        ("abc OK", None),
        ("200\tOK", None),
        ("200 a\x00b", None),
    ],
)
def test_a_status_is_latin_1_and_well_formed_or_gives_500(served, status, line):
    s = _hostile(served, "--workers", "1")
    got, _, body = RawConn(s).get(f"/status?s={urllib.parse.quote(status)}")
    assert s.stop() == 0
    if line is not None:
        assert (got, body) == (line, b"hi")
        return
    assert (got, body) == (b"HTTP/1.1 500 Internal Server Error", b"Internal Server Error\n")
    assert "unhandled exception in GET /status" in s.err
    assert "ValueError: " in s.err


def test_clients_that_stop_reading_a_stream_do_not_hold_workers_past_the_timeout(served):
    # 8 request threads, 8 clients that read the start of an endless stream and stop:
    # the writers block on full buffers, and at --timeout their connections are closed
    # and the threads freed, whatever the clients do.
    s = _hostile(served, "--workers", "1", "--threads", "8", "--timeout", "1")
    readers = []
    for _ in range(8):
        c = RawConn(s)
        c.sock.sendall(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        while b"\r\n\r\n" not in c.buf:
            assert c._fill()
        readers.append(c)
    # Well within reach: --timeout + 1 s is 2 s. Before, it never came, or only when
    # hyper happened to ask one of the bodies for more after the deadline.
    c = http.client.HTTPConnection(s.host, s.port, timeout=15)
    c.request("GET", "/hello")
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"hello")
    c.close()
    # Every endless body ends (its handler freed), while its client still reads nothing.
    wait_for_state(
        lambda: s.get("/endless-open")[1] == b"0", "every endless body ends", timeout=15, poll=0.01
    )
    for reader in readers:
        reader.close()
    assert s.stop() == 0
    assert "GET /endless ran past --timeout while sending its response: connection closed" in s.err
    assert "answered 504" not in s.err


def test_every_command_line_option_maps_to_serve_or_is_the_command_lines_own():
    """One mapping from the command line to ``serve()``'s keywords (``SERVE_OPTIONS``),
    used by ``python -m manygil serve`` and by the supervisor handing the options to its
    server processes: each option is either a keyword ``serve()`` takes or one of the few
    the command line keeps, and the supervisor passes on all but the sockets."""
    import inspect

    import manygil.serve as ms
    from manygil._serve import options

    keywords = set(inspect.signature(ms.serve).parameters)
    dests = {a.dest for a in ms._parser()._actions}
    cli_only = {"help", "app", "log_level", "supervise", "supervisor_fd"}
    assert dests - cli_only == set(options.SERVE_OPTIONS)
    assert set(options.SERVE_OPTIONS.values()) <= keywords
    args = ms._parser().parse_args(["m:app", "--reload", "--reload-dir", "d", "--workers", "3"])
    kwargs = options.serve_kwargs(args)
    assert (kwargs["reload_dirs"], kwargs["workers"], kwargs["reload"]) == (["d"], 3, True)
    passed = {d for d in dests if options.passed_to_server(d)}
    assert passed == set(options.SERVE_OPTIONS) - {"bind", "uds"} | {"log_level"}


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kib / 1024


def _sockets(pid: int) -> int:
    """The sockets process ``pid`` has open."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:  # closed meanwhile
            pass
    return n


def _non_reader(s: Served, raw: bytes) -> socket.socket:
    """A client that sends ``raw`` and never reads, with a small receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(60)
    sock.connect((s.host, s.port))
    sock.sendall(raw)
    return sock


def test_clients_that_stop_reading_a_whole_body_are_cut_after_the_timeout(served):
    # Four clients ask for 50 MiB in one piece and read nothing: the worker is free at
    # once, but each connection holds its body until --timeout passes without the client
    # taking a byte; then it is closed and the body freed, whatever the clients do.
    s = _hostile(served, "--workers", "1", "--threads", "2", "--timeout", "2")
    pid = s.server_pid()
    # (the connection of /whoami may still count in ``sockets``: hence <= below)
    sockets, rss = _sockets(pid), _rss_mib(pid)
    clients = [_non_reader(s, b"GET /big?mib=50 HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(4)]
    wait_for_state(
        lambda: _rss_mib(pid) > rss + 150, "the four bodies are held", timeout=60, poll=0.01
    )
    # Meanwhile the server answers: the worker threads are not held.
    assert s.get("/hello") == (200, b"hello")
    wait_for_state(
        lambda: _sockets(pid) <= sockets and _rss_mib(pid) < rss + 50,
        "the stalled connections are closed and their bodies freed",
        timeout=60,
        poll=0.05,
    )
    for c in clients:
        got = 0
        try:
            while chunk := c.recv(1 << 16):
                got += len(chunk)
        except ConnectionResetError:
            pass
        assert got < 50 << 20
        c.close()
    assert s.get("/hello") == (200, b"hello")
    assert s.stop() == 0
