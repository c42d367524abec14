"""A WSGI module whose import fails in own-GIL interpreters (like numpy's)."""

import _curses  # noqa: F401


def app(environ, start_response):
    start_response("200 OK", [])
    return [b""]
