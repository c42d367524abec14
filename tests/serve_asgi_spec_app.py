"""An ASGI application that checks every scope and every event ``manygil serve`` gives it
against the ASGI specification, served in tests/test_serve_asgi.py.

The rules are those of the specification (https://asgi.readthedocs.io/en/latest/):
"ASGI (Asynchronous Server Gateway Interface) Specification" (asgi.html: every scope has
``type`` and ``asgi["version"]``, events are dicts with a ``type``), "HTTP & WebSocket
ASGI Message Format" (specs/www.html: the HTTP and WebSocket connection scopes, the
``http.request``/``http.disconnect`` and ``websocket.connect``/``.receive``/
``.disconnect`` events), "Lifespan Protocol" (specs/lifespan.html: its scope, the
``lifespan.startup``/``.shutdown`` events and ``state``, which each request's scope gets a
shallow copy of) and "Extensions" (specs/extensions.html). The key names each scope and
event may have come from ``asgiref.typing``, asgiref's TypedDicts of the same spec.

Routes: any HTTP path answers JSON ``{"violations": [...], "scope": {...}}`` for its own
scope and events; ``/report`` answers every violation and check count so far (one worker:
``--workers 1``); ``/ws`` is a WebSocket echo. The lifespan shutdown writes its findings to
``$SPEC_SHUTDOWN_FILE``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import urllib.parse
from collections import Counter

from asgiref import typing as asgi_typing

# ---- the checks -------------------------------------------------------------------------


def _keys(td) -> set[str]:
    """The keys asgiref.typing's TypedDict ``td`` allows."""
    return set(td.__required_keys__) | set(td.__optional_keys__)


SCOPE_KEYS = {
    "http": _keys(asgi_typing.HTTPScope),
    "websocket": _keys(asgi_typing.WebSocketScope),
    "lifespan": _keys(asgi_typing.LifespanScope),
}
EVENT_KEYS = {
    "http.request": _keys(asgi_typing.HTTPRequestEvent),
    "http.disconnect": _keys(asgi_typing.HTTPDisconnectEvent),
    "websocket.connect": _keys(asgi_typing.WebSocketConnectEvent),
    "websocket.receive": _keys(asgi_typing.WebSocketReceiveEvent),
    "websocket.disconnect": _keys(asgi_typing.WebSocketDisconnectEvent),
    "lifespan.startup": _keys(asgi_typing.LifespanStartupEvent),
    "lifespan.shutdown": _keys(asgi_typing.LifespanShutdownEvent),
}
# Which events a scope of each type may receive (www.html, lifespan.html).
RECEIVABLE = {
    "http": {"http.request", "http.disconnect"},
    "websocket": {"websocket.connect", "websocket.receive", "websocket.disconnect"},
    "lifespan": {"lifespan.startup", "lifespan.shutdown"},
}


def _address(v, port_optional: bool) -> bool:
    """``[host, port]`` (www.html, ``client``/``server``): a 2-item iterable of a unicode
    host and an int port (``server``'s port may be None for a Unix socket)."""
    try:
        host, port = v
    except (TypeError, ValueError):
        return False
    if not isinstance(host, str) or isinstance(port, bool):
        return False
    return isinstance(port, int) or (port_optional and port is None)


def check_scope(scope) -> list[str]:
    """What in ``scope`` breaks the spec (empty: nothing)."""
    out: list[str] = []
    if not isinstance(scope, dict):
        return [f"the scope is a {type(scope).__name__}, not a dict"]
    kind = scope.get("type")
    if kind not in SCOPE_KEYS:
        return [f"type {kind!r} is none of {sorted(SCOPE_KEYS)}"]
    if extra := set(scope) - SCOPE_KEYS[kind]:
        out.append(f"{kind} scope keys no spec defines: {sorted(extra)}")
    # asgi.html, "Connection Scope": asgi["version"] is "3.0" for ASGI 3; spec_version a str.
    asgi = scope.get("asgi")
    if not isinstance(asgi, dict) or asgi.get("version") != "3.0":
        out.append(f"asgi must be a dict with version '3.0', not {asgi!r}")
    elif not re.fullmatch(r"2\.\d+", str(asgi.get("spec_version", "2.0"))):
        out.append(f"asgi.spec_version {asgi.get('spec_version')!r} is no spec version")
    if kind == "lifespan":
        # lifespan.html, "Scope": state, when given, is a dict the app may fill.
        if "state" in scope and not isinstance(scope["state"], dict):
            out.append(f"lifespan state must be a dict, not {type(scope['state']).__name__}")
        return out
    # www.html, "HTTP Connection Scope" / "WebSocket Connection Scope".
    version = scope.get("http_version", "1.1")
    if version not in ("1.0", "1.1", "2"):
        out.append(f"http_version {version!r} is not one of '1.0', '1.1', '2'")
    schemes = ("http", "https") if kind == "http" else ("ws", "wss")
    if scope.get("scheme", schemes[0]) not in schemes:
        out.append(f"scheme {scope.get('scheme')!r} is not one of {schemes}")
    if kind == "http":
        method = scope.get("method")
        if not isinstance(method, str) or not method or method != method.upper():
            out.append(f"method must be an upper-case str, not {method!r}")
    path = scope.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        out.append(f"path must be a str starting with '/', not {path!r}")
    raw = scope.get("raw_path")
    if raw is not None:
        if not isinstance(raw, bytes):
            out.append(f"raw_path must be bytes or None, not {type(raw).__name__}")
        elif b"?" in raw:
            out.append(f"raw_path {raw!r} holds the query string")
        elif isinstance(path, str):
            # path: "percent escapes decoded and UTF-8 byte sequences decoded".
            decoded = urllib.parse.unquote_to_bytes(raw).decode("utf-8", "replace")
            if decoded != path:
                out.append(f"path {path!r} is not raw_path {raw!r} decoded ({decoded!r})")
    qs = scope.get("query_string", b"")
    if not isinstance(qs, bytes):
        out.append(f"query_string must be bytes, not {type(qs).__name__}")
    elif qs.startswith(b"?"):
        out.append(f"query_string {qs!r} keeps the '?'")
    if not isinstance(scope.get("root_path", ""), str):
        out.append(f"root_path must be a str, not {type(scope['root_path']).__name__}")
    headers = scope.get("headers")
    try:
        pairs = list(headers)
    except TypeError:
        pairs = None
        out.append(f"headers must be an iterable, not {type(headers).__name__}")
    for pair in pairs or ():
        try:
            name, value = pair
        except (TypeError, ValueError):
            out.append(f"header {pair!r} is not a [name, value] pair")
            continue
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            out.append(f"header {pair!r}: name and value must be bytes")
        elif name != name.lower():
            out.append(f"header name {name!r} is not lower-cased")
    client = scope.get("client")
    if client is not None:
        if not _address(client, port_optional=False):
            out.append(f"client must be [host, port] or None, not {client!r}")
        else:
            try:
                ipaddress.ip_address(client[0])
            except ValueError:
                out.append(f"client host {client[0]!r} is not an IP address")
    server = scope.get("server")
    if server is not None and not _address(server, port_optional=True):
        out.append(f"server must be [host, port] or None, not {server!r}")
    if "state" in scope and not isinstance(scope["state"], dict):
        out.append(f"state must be a dict, not {type(scope['state']).__name__}")
    ext = scope.get("extensions")
    if ext is not None and not (
        isinstance(ext, dict) and all(isinstance(v, dict) for v in ext.values())
    ):
        out.append(f"extensions must be a dict of dicts, not {ext!r}")
    if kind == "websocket":
        protocols = scope.get("subprotocols", [])
        if isinstance(protocols, (str, bytes)) or not all(isinstance(p, str) for p in protocols):
            out.append(f"subprotocols must be an iterable of str, not {protocols!r}")
    return out


def check_event(kind: str, msg) -> list[str]:
    """What in event ``msg``, received by a ``kind`` scope, breaks the spec."""
    if not isinstance(msg, dict):
        return [f"an event is a {type(msg).__name__}, not a dict"]
    t = msg.get("type")
    if t not in RECEIVABLE[kind]:
        return [f"a {kind} scope received an event of type {t!r}"]
    out = []
    if extra := set(msg) - EVENT_KEYS[t]:
        out.append(f"{t} keys no spec defines: {sorted(extra)}")
    if t == "http.request":
        if not isinstance(msg.get("body", b""), bytes):
            out.append(f"http.request body must be bytes, not {type(msg['body']).__name__}")
        if not isinstance(msg.get("more_body", False), bool):
            out.append(f"http.request more_body must be a bool, not {msg['more_body']!r}")
    elif t == "websocket.receive":
        data, text = msg.get("bytes"), msg.get("text")
        if (data is None) == (text is None):
            out.append("websocket.receive: exactly one of bytes and text must be non-None")
        if data is not None and not isinstance(data, bytes):
            out.append(f"websocket.receive bytes must be bytes, not {type(data).__name__}")
        if text is not None and not isinstance(text, str):
            out.append(f"websocket.receive text must be str, not {type(text).__name__}")
    elif t == "websocket.disconnect":
        code = msg.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            out.append(f"websocket.disconnect code must be an int, not {code!r}")
        if msg.get("reason") is not None and not isinstance(msg["reason"], str):
            out.append(f"websocket.disconnect reason must be a str, not {msg['reason']!r}")
    return out


# ---- the application --------------------------------------------------------------------

violations: list[str] = []
checked: Counter = Counter()


def _record(what: str, problems: list[str]) -> list[str]:
    checked[what] += 1
    violations.extend(f"{what}: {p}" for p in problems)
    return problems


def _checked_receive(kind: str, receive, mine: list[str]):
    async def checked_receive():
        msg = await receive()
        label = msg.get("type") if isinstance(msg, dict) else "?"
        if label == "websocket.receive":
            label += ".text" if msg.get("text") is not None else ".bytes"
        mine.extend(_record(label, check_event(kind, msg)))
        return msg

    return checked_receive


async def app(scope, receive, send):
    mine: list[str] = []
    kind = scope.get("type") if isinstance(scope, dict) else None
    mine.extend(_record(f"{kind} scope", check_scope(scope)))
    receive = _checked_receive(kind, receive, mine)
    if kind == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                scope["state"]["token"] = "from lifespan"
                scope["state"]["shared"] = {"n": 0}
                await send({"type": "lifespan.startup.complete"})
            else:
                path = os.environ.get("SPEC_SHUTDOWN_FILE")
                if path:
                    with open(path, "w") as f:
                        json.dump({"violations": violations, "checked": checked}, f)
                await send({"type": "lifespan.shutdown.complete"})
                return
    if kind == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("text") == "report":
                await send({"type": "websocket.send", "text": json.dumps(mine)})
            else:
                await send(
                    {"type": "websocket.send", "bytes": msg.get("bytes"), "text": msg.get("text")}
                )
    # HTTP: the whole body, then the answer, then the http.disconnect that follows it.
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    state = scope.get("state", {})
    # lifespan.html: each request gets a shallow copy of the lifespan state: a key this
    # request adds is not seen by the next one; the objects in it are shared.
    mutated_before = "mutated" in state
    state["mutated"] = True
    if "shared" in state:
        state["shared"]["n"] += 1
    if scope["path"] == "/report":
        answer = {"violations": violations, "checked": checked}
    else:
        answer = {
            "violations": mine,
            "body_length": len(body),
            "state_leaked": mutated_before,
            "state_token": state.get("token"),
            "scope": {
                "method": scope["method"],
                "path": scope["path"],
                "raw_path": scope["raw_path"].decode("latin-1"),
                "query_string": scope["query_string"].decode("latin-1"),
                "headers": [
                    [n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]
                ],
                "client": list(scope["client"]),
                "server": list(scope["server"]),
                "http_version": scope["http_version"],
                "root_path": scope["root_path"],
            },
        }
    data = json.dumps(answer).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(data)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
    # www.html, "Disconnect": once the response is complete, http.disconnect.
    await receive()
