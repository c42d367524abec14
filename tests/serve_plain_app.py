"""A WSGI application that is a plain function importing nothing: its body says which of
the modules a worker could import for manygil's own sake are loaded in its interpreter."""

import sys

WATCHED = ("inspect", "ast", "dis", "tokenize")


def app(environ, start_response):
    loaded = [name for name in WATCHED if name in sys.modules]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [(" ".join(loaded) or "none").encode()]
