"""Loopback HTTP server for the ``download`` scenario.

The server binds 127.0.0.1 on an ephemeral port, answers ``GET /item/<n>`` after an
artificial latency with the deterministic body :func:`scenarios.body_for` gives, and is
always stopped and joined when its ``with`` block ends, whatever ends it.
"""

import http.server
import threading
import time

from manygil.bench.scenarios import body_for

THREAD_PREFIX = "manygil-bench-"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server naming)
        prefix = "/item/"
        if not self.path.startswith(prefix) or not self.path[len(prefix) :].isdigit():
            self.send_error(404)
            return
        time.sleep(self.server.latency)
        body = body_for(int(self.path[len(prefix) :]), self.server.body_bytes)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format, *args):  # noqa: A002 (signature of the base class)
        pass


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128

    def __init__(self, address, handler, latency, body_bytes):
        super().__init__(address, handler)
        self.latency = latency
        self.body_bytes = body_bytes
        self.handler_threads = []  # joined by LoopbackServer.close()

    def process_request(self, request, client_address):
        """Handle one connection in a named thread that :meth:`LoopbackServer.close` joins."""
        t = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{THREAD_PREFIX}http-handler",
        )
        self.handler_threads = [h for h in self.handler_threads if h.is_alive()]
        self.handler_threads.append(t)
        t.start()


class LoopbackServer:
    """Context manager running the HTTP server in a background thread.

    ``with LoopbackServer(latency_ms=20, body_bytes=16384) as srv: srv.url(3)``. Entering
    binds the port (raises :class:`OSError` if it cannot); leaving shuts the server down,
    closes the socket and joins the serving thread and every handler thread (blocks until
    in-flight requests finish, each at most one latency plus the write).
    """

    def __init__(self, latency_ms=20, body_bytes=16384):
        self.latency = latency_ms / 1000
        self.body_bytes = body_bytes
        self.port = None
        self._server = None
        self._thread = None

    def __enter__(self):
        server = _Server(("127.0.0.1", 0), _Handler, self.latency, self.body_bytes)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{THREAD_PREFIX}http-server",
        )
        try:
            self._thread.start()
        except BaseException:
            server.server_close()
            raise
        return self

    def url(self, index):
        """Return the URL of item ``index``."""
        return f"http://127.0.0.1:{self.port}/item/{index}"

    def close(self):
        """Stop serving, close the socket and join all threads; idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        try:
            if thread is not None and thread.is_alive():
                server.shutdown()
        finally:
            server.server_close()
            for t in server.handler_threads:
                t.join()
            if thread is not None:
                thread.join()

    def __exit__(self, *exc):
        self.close()
        return False
