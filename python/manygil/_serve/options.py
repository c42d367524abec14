"""What ``manygil.serve``, its supervisor and its reloader share about the server's
options: the errors a bad one raises, the exit status of a server past ``--max-stuck``,
what to listen on, and which command-line options are :func:`manygil.serve.serve`'s
keyword arguments (the one mapping the command line and the supervisor's hand-off to its
server processes both use).

``StartupError``, ``StuckLimitError`` and ``EXIT_STUCK`` are public as
``manygil.serve.StartupError`` and so on.
"""

from __future__ import annotations

DEFAULT_BIND = "127.0.0.1:8000"
# Default of --stuck-after: seconds a request thread may stay busy after its request was
# interrupted (past --timeout) before its worker interpreter is replaced.
STUCK_AFTER = 2.0
# Exit status of a server process that stopped because more than --max-stuck worker
# interpreters were stuck (EX_TEMPFAIL: start it again). The supervisor starts a fresh one.
EXIT_STUCK = 75
# Default of --ws-max-size (uvicorn's): the largest WebSocket message a client may send.
WS_MAX_SIZE = 16 * 1024 * 1024


class StartupError(RuntimeError):
    """The server could not start (bad option, address in use, application that does
    not import in an own-GIL interpreter, ...). The message is one line naming the cause."""


class StuckLimitError(RuntimeError):
    """:func:`serve` stopped (gracefully) because more than ``max_stuck`` worker
    interpreters were stuck in handlers that never returned: only a fresh process gets
    their memory and threads back. ``python -m manygil serve`` exits with
    :data:`EXIT_STUCK` then."""


StartupError.__module__ = StuckLimitError.__module__ = "manygil.serve"

# The command line's options that are ``serve()`` keyword arguments: argparse ``dest`` ->
# keyword. ``python -m manygil serve`` calls ``serve(app, **serve_kwargs(args), ...)``;
# the supervisor hands the same options (as command-line text) to each server process
# it starts, except the sockets (SOCKET_OPTIONS), which it opened itself and passes as
# ``--bind fd://N``.
SERVE_OPTIONS = {
    "workers": "workers",
    "threads": "threads",
    "bind": "bind",
    "uds": "uds",
    "timeout": "timeout",
    "stuck_after": "stuck_after",
    "max_stuck": "max_stuck",
    "graceful_timeout": "graceful_timeout",
    "max_body": "max_body",
    "max_requests_per_worker": "max_requests_per_worker",
    "access_log": "access_log",
    "interface": "interface",
    "forward_logging": "forward_logging",
    "profile": "profile",
    "ws_max_size": "ws_max_size",
    "static": "static",
    "reload": "reload",
    "reload_dir": "reload_dirs",
    "reload_include": "reload_include",
    "interpreter_config": "interpreter_config",
}
# Options of the command line that ``serve()`` does not take, but a server process does.
SERVER_CLI_OPTIONS = ("log_level",)
# The options that say where to listen: the supervisor opens those sockets itself.
SOCKET_OPTIONS = ("bind", "uds")


def serve_kwargs(args) -> dict:
    """``serve()``'s keyword arguments from the parsed command line ``args`` (an
    ``argparse.Namespace`` of ``python -m manygil serve``)."""
    return {keyword: getattr(args, dest) for dest, keyword in SERVE_OPTIONS.items()}


def passed_to_server(dest: str) -> bool:
    """Whether the supervisor passes option ``dest`` on to its server processes."""
    return (dest in SERVE_OPTIONS or dest in SERVER_CLI_OPTIONS) and dest not in SOCKET_OPTIONS


def listen_list(bind: str | list[str] | None, uds: str | None) -> list[str]:
    """What to listen on, as ``_native.serve_bind`` and ``serve_listen`` take it."""
    listen = []
    binds = [bind] if isinstance(bind, str) else list(bind or [])
    if not binds and not uds:
        binds = [DEFAULT_BIND]
    for b in binds:
        if b.startswith(("unix:", "fd://")):
            listen.append(b)
            continue
        host, sep, port = b.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise StartupError(f"--bind {b!r}: expected HOST:PORT, e.g. 127.0.0.1:8000")
        listen.append(f"{host or '0.0.0.0'}:{port}")
    if uds:
        listen.append(f"unix:{uds}")
    return listen
