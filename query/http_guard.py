"""Limits and conventions shared by both HTTP servers (`python -m query serve` and the page of
`python -m ui`): a request-body limit, an optional bearer token, refusals as one JSON line and
one log line, and no server paths in what goes back.

`Guard` is a pure ASGI middleware (Starlette's pattern: it wraps the app and sees each request
before any route), so it refuses before a byte of a body is read: a body whose Content-Length is
over the route's limit gets 413 at once; a chunked body (no Content-Length) is counted as it
arrives and refused as soon as it passes the limit, so a server never holds more than the limit
for one request. A refusal is `{"error": "<one line>"}` with a 4xx status, and one warning line on
the `query.http` logger (never a traceback, never the token).

With a token set every route needs `Authorization: Bearer <token>`. A browser cannot send that
header when it opens a page, so `?token=<token>` on any URL is accepted too and answered with an
HttpOnly cookie that carries the token on the page's later requests.

Only the standard library is imported here, so the CLIs can read the defaults without FastAPI.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import re
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

log = logging.getLogger("query.http")

DEFAULT_MAX_BODY_MB = 1.0  # a JSON request: a prompt, a filter, a vector (a few kB each)
# A body that carries a query clip as JSON numbers (about 115 bytes per 6-channel sample): some
# 25 minutes of IMU at 50 Hz, far more than a query needs, far less than holds up a server.
DEFAULT_MAX_UPLOAD_MB = 10.0
DEFAULT_MAX_PROMPT_CHARS = 1000
# A filter (`where`) is SQL: a list of 2,000 subjects is some 14,000 characters, and one this
# long still parses in a tenth of a second; a megabyte of it took seconds.
MAX_FILTER_CHARS = 20_000  # a sentence or a paragraph; the text towers read 77 tokens anyway
TOKEN_ENV = "MOTIONSEARCH_TOKEN"
COOKIE = "motionsearch_token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MB = 1_000_000


def env_default(name: str, fallback) -> str:
    """An option's default from the environment (argparse parses a string default with the
    option's own type, so a bad value is refused naming the option)."""
    return os.environ.get(name) or str(fallback)


@dataclass(frozen=True)
class HttpLimits:
    """What a server accepts. `max_upload`: the larger body of the `upload_paths` (routes that
    carry a query clip or file); every other route takes `max_body`. Sizes in bytes."""

    max_body: int = int(DEFAULT_MAX_BODY_MB * MB)
    max_upload: int = int(DEFAULT_MAX_BODY_MB * MB)
    upload_paths: tuple[str, ...] = ()
    max_prompt_chars: int = DEFAULT_MAX_PROMPT_CHARS
    token: str | None = None
    open_paths: tuple[str, ...] = ()  # routes that need no token (a framework's own start-up call)

    def body_limit(self, path: str) -> tuple[int, str]:
        """(bytes, the option that sets them) for a request to `path`."""
        if any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.upload_paths):
            return self.max_upload, "--max-upload-mb"
        return self.max_body, "--max-body-mb"


def check_token(token: str | None) -> str | None:
    """`token` (None: no token), or ValueError when it holds characters an HTTP header or a
    cookie cannot carry as they are."""
    if token is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9._~+/=-]+", token):
        raise ValueError("a token may hold letters, digits and . _ ~ + / = - only (e.g. from "
                         "`python -c 'import secrets; print(secrets.token_urlsafe())'`)")
    return token


def warn_if_open(host: str, token: str | None) -> str | None:
    """The warning to print when a server listens beyond this machine with no token, else None."""
    if token or host in LOOPBACK:
        return None
    return (f"warning: listening on {host} without a token: anyone who can reach this port can search the index "
            f"and read its metadata; set --token or ${TOKEN_ENV}")


# An absolute POSIX path (not a URL's //host, not a unit such as m/s^2): the part a user knows
# it by is its last one.
_ABSOLUTE = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"`,;:()\[\]{}<>/]+/)+([^\s'\"`,;:()\[\]{}<>/]*)")


def strip_paths(text: str) -> str:
    """`text` with every absolute path cut to its last part ('/srv/data/idx' -> 'idx')."""
    return _ABSOLUTE.sub(lambda m: m.group(1) or m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def one_line(text: str) -> str:
    """The first line of a message, for an {"error": ...} answer."""
    lines = str(text).strip().splitlines()
    return lines[0] if lines else "bad request"


def refused(method: str, path: str, status: int, message: str) -> None:
    """The one log line of a refused call."""
    log.warning("refused %s %s: %d %s", method, path, status, message)


async def send_error(send, status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware enforcing `HttpLimits` (token, body size) before the app sees a request."""

    def __init__(self, app, limits: HttpLimits):
        self.app = app
        self.limits = limits

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        method, path = scope.get("method", "WS"), scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        new_cookie = None
        if self.limits.token is not None and path not in self.limits.open_paths:
            given, new_cookie = self._token(scope, headers)
            if given is None or not hmac.compare_digest(given.encode(), self.limits.token.encode()):
                why = ("missing or wrong token: send the header 'Authorization: Bearer <token>' "
                       "(in a browser, open the page once as ?token=<token>)")
                refused(method, path, 401, why)
                if scope["type"] == "websocket":
                    return await send({"type": "websocket.close", "code": 1008})
                return await send_error(send, 401, why, [(b"www-authenticate", b"Bearer")])
        if scope["type"] == "http":
            limit, option = self.limits.body_limit(path)
            too_big = (f"the request body is larger than the {limit / MB:g} MB this server accepts on {path} "
                       f"(the operator sets it with {option})")
            length = headers.get("content-length")
            if length is not None:
                if not length.isdigit() or int(length) > limit:
                    refused(method, path, 413, too_big)
                    return await send_error(send, 413, too_big, [(b"connection", b"close")])
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                receive = await _counted(receive, limit)
                if receive is None:
                    refused(method, path, 413, too_big)
                    return await send_error(send, 413, too_big, [(b"connection", b"close")])
        if new_cookie is not None:
            send = _with_cookie(send, new_cookie)
        await self.app(scope, receive, send)

    @staticmethod
    def _token(scope, headers: dict) -> tuple[str | None, str | None]:
        """(the token the request gives, the token to set as a cookie) from the Authorization
        header, the cookie, or ?token= (a browser opening the page)."""
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), None
        jar = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001  # a malformed cookie header is simply no token
            jar = SimpleCookie()
        if COOKIE in jar:
            return jar[COOKIE].value, None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        return (query[0], query[0]) if query else (None, None)


async def _counted(receive, limit: int):
    """Read a chunked body up to `limit` bytes: a receive that replays it, or None once it passes
    the limit (the rest is never read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: let the app see it
            chunks.append(message)
            break
        size += len(message.get("body", b""))
        if size > limit:
            return None
        chunks.append(message)
        if not message.get("more_body", False):
            break
    pending = list(chunks)

    async def replay():
        return pending.pop(0) if pending else await receive()
    return replay


def _with_cookie(send, token: str):
    cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/".encode("latin-1")

    async def wrapped(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)
    return wrapped
