"""A WSGI hello for bench/bench_observe.py (served by ``manygil serve`` workers)."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]
