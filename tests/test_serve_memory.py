"""What ``manygil serve`` adds to memory beyond the application: a worker of a plain
function app imports nothing for interface detection, and the server process shares the
supervisor's pages (it is forked from it). The numbers are in bench/bench_serve_memory.py
and docs/serve.md ("Memory")."""

from __future__ import annotations

import functools
import inspect
import wsgiref.validate

from manygil._serve.worker import _UNSURE, _detect_by_inspect, _detect_plain


def _wsgi(environ, start_response):
    pass


async def _asgi(scope, receive, send):
    pass


def _three(a, b, c):
    pass


def _three_posonly(a, /, b, c):
    pass


def _three_and_default(a, b, c, d=1):
    pass


def _three_and_kwonly(a, b, c, *, d):
    pass


def _varargs(*args):
    pass


def _none():
    pass


@functools.wraps(_three)
def _wrapped_three(*args):
    pass


def _marked(a, b, c):
    pass


inspect.markcoroutinefunction(_marked)


class _Call:
    def __call__(self, environ, start_response):
        pass


class _AsyncCall:
    async def __call__(self, scope, receive, send):
        pass


class _ThreeCall:
    def __call__(self, a, b, c):
        pass


class _SelfDefault:
    def __call__(self=None, a=1, b=2, c=3):
        pass


class _NoSelf:
    def __call__():  # noqa: N805 - a method without self: no signature
        pass


class _StarCall:
    def __call__(*args):  # noqa: N805
        pass


class _Inherited(_ThreeCall):
    pass


class _StaticCall:
    @staticmethod
    def __call__(a, b, c):
        pass


class _Signed(_Call):
    __signature__ = inspect.signature(_three)


class _Anything:
    """An object answering every attribute (a proxy, a mock)."""

    def __call__(self, environ, start_response):
        pass

    def __getattr__(self, name):
        return lambda *a: None


class _Descriptor:
    def __get__(self, obj, owner=None):
        return self

    def __call__(self, a, b, c):
        pass


CALLABLES = {
    "function": _wsgi,
    "async function": _asgi,
    "3 positional": _three,
    "3 with positional-only": _three_posonly,
    "3 and a default": _three_and_default,
    "3 and keyword-only": _three_and_kwonly,
    "*args": _varargs,
    "no parameter": _none,
    "lambda": lambda environ, start_response: None,
    "functools.wraps": _wrapped_three,
    "markcoroutinefunction": _marked,
    "partial": functools.partial(_three, 1),
    "partial of async": functools.partial(_asgi),
    "wsgiref validator": wsgiref.validate.validator(_wsgi),
    "instance": _Call(),
    "async instance": _AsyncCall(),
    "instance, 3 parameters": _ThreeCall(),
    "instance, self has a default": _SelfDefault(),
    "instance, no self": _NoSelf(),
    "instance, *args": _StarCall(),
    "instance, inherited __call__": _Inherited(),
    "instance, staticmethod __call__": _StaticCall(),
    "instance with __signature__": _Signed(),
    "instance answering any attribute": _Anything(),
    "descriptor instance": _Descriptor(),
    "class": _Call,
    "builtin": len,
    "bound method": _Call().__call__,
}


def test_detection_from_code_objects_agrees_with_inspect():
    """A worker reads a plain function's or ``__call__``'s code object instead of importing
    inspect (~2.4 MiB per worker): same answer as inspect wherever it answers."""
    answered = set()
    for name, app in CALLABLES.items():
        plain = _detect_plain(app)
        if plain is not _UNSURE:
            assert plain == _detect_by_inspect(app), name
            answered.add(name)
    # It does answer for the usual shapes of an application (else it would save nothing).
    assert {
        "function",
        "async function",
        "3 positional",
        "3 and a default",
        "*args",
        "lambda",
        "instance",
        "async instance",
        "instance, 3 parameters",
        "instance, inherited __call__",
        "instance, self has a default",
        "instance, no self",
    } <= answered
    # And leaves to inspect what inspect reads elsewhere than the code object.
    assert {
        "functools.wraps",
        "markcoroutinefunction",
        "partial",
        "instance with __signature__",
        "instance answering any attribute",
        "descriptor instance",
        "class",
        "builtin",
    }.isdisjoint(answered)


def test_a_plain_function_app_is_served_without_importing_inspect(served):
    s = served("--workers", "2", app="serve_plain_app:app")
    for _ in range(4):
        assert s.get("/") == (200, b"none")


def _shared_dirty_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Shared_Dirty:"):
                return int(line.split()[1])
    raise AssertionError("no Shared_Dirty in smaps_rollup")


def test_the_server_process_shares_the_supervisors_memory(served):
    """The server process is forked from the supervisor: the Python runtime and the
    modules the supervisor imported stay shared (copy-on-write), where a freshly started
    Python would hold its own copy of each (no written page shared with any process)."""
    s = served("--workers", "1")
    pid = s.server_pid()
    assert pid != s.proc.pid
    assert _shared_dirty_kib(pid) > 2048
    assert _shared_dirty_kib(s.proc.pid) > 2048
