"""The receiver's HTTP side: a raw ASGI app (run by uvicorn) that authenticates, spools and then acknowledges."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from segmarketo_cli.errors import StateError
from segmarketo_cli.listen.events import NotEvents, parse_body
from segmarketo_cli.listen.metrics import Metrics
from segmarketo_cli.listen.spool import Spool, SpoolFull

log = logging.getLogger("segmarketo.listen")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
EVENT_PATHS = ("/", "/v1/segment")


@dataclass(frozen=True)
class Credentials:
    """What a request may authenticate with: Segment's shared secret (X-Signature: hex HMAC-SHA1 of the raw
    body) and/or a bearer token. At least one is set."""

    signing_secret: bytes | None = None
    token: bytes | None = None

    def bearer_ok(self, header: bytes | None) -> bool:
        if self.token is None or header is None or not header.lower().startswith(b"bearer "):
            return False
        return hmac.compare_digest(header[7:].strip(), self.token)

    def signature_ok(self, header: bytes | None, body: bytes) -> bool:
        if self.signing_secret is None or header is None:
            return False
        expected = hmac.new(self.signing_secret, body, hashlib.sha1).hexdigest().encode()
        return hmac.compare_digest(header.strip().lower(), expected)


class Refused(Exception):
    """A request answered with an error status and a JSON body naming why (never a secret or a value)."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class ListenApp:
    """POST / or /v1/segment: events, answered 200 only after their group commit; GET /healthz, GET /metrics."""

    def __init__(self, spool: Spool, credentials: Credentials, metrics: Metrics, *, max_body_bytes: int,
                 retry_after_s: int = 60) -> None:
        self.spool = spool
        self.credentials = credentials
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, content_type, body = await self._route(scope, receive)
            await _respond(send, status, body, content_type)
        except Refused as refused:
            self.metrics.reject(refused.status)
            await _respond(send, refused.status, json.dumps({"error": refused.message}).encode(),
                           b"application/json", refused.headers)

    async def _route(self, scope: Scope, receive: Receive) -> tuple[int, bytes, bytes]:
        path, method = scope["path"], scope["method"]
        if path in EVENT_PATHS:
            if method != "POST":
                raise Refused(405, "use POST", ((b"allow", b"POST"),))
            return await self._events(scope, receive)
        if path in ("/healthz", "/metrics"):
            if method not in ("GET", "HEAD"):
                raise Refused(405, "use GET", ((b"allow", b"GET"),))
            if path == "/metrics":
                return 200, b"text/plain; version=0.0.4", self.metrics.render(self.spool).encode()
            health = {"status": "ok", "queue_depth": self.spool.pending,
                      "oldest_event_age_seconds": round(self.spool.oldest_age(), 3)}
            return 200, b"application/json", json.dumps(health).encode()
        raise Refused(404, "unknown path: POST events to / or /v1/segment")

    async def _events(self, scope: Scope, receive: Receive) -> tuple[int, bytes, bytes]:
        headers = dict(scope["headers"])
        bearer = self.credentials.bearer_ok(headers.get(b"authorization"))
        if not bearer and b"x-signature" not in headers:
            raise Refused(401, "missing X-Signature or Authorization: Bearer")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise Refused(413, f"body over {self.max_body_bytes} bytes")
        raw = await self._read_body(receive)
        if not bearer and not self.credentials.signature_ok(headers.get(b"x-signature"), raw):
            raise Refused(401, "wrong signature or token")
        try:
            events, ignored = parse_body(raw)
        except NotEvents as exc:
            raise Refused(400, str(exc)) from None
        self.metrics.ignore(ignored)
        new = 0
        if events:
            try:
                new = await asyncio.wrap_future(self.spool.append(events))
            except SpoolFull:
                raise Refused(503, "spool full: Marketo is behind; retry later", self._retry_after()) from None
            except StateError as exc:  # the disk refused the write (full, read-only): nothing was acknowledged
                log.error("%s", exc)
                raise Refused(503, "spool cannot be written; retry later", self._retry_after()) from None
        body = {"accepted": len(events), "new": new, "ignored": ignored}
        return 200, b"application/json", json.dumps(body).encode()

    def _retry_after(self) -> tuple[tuple[bytes, bytes], ...]:
        return ((b"retry-after", str(self.retry_after_s).encode()),)

    async def _read_body(self, receive: Receive) -> bytes:
        """The body, read no further than the limit (413 past it)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Refused(400, "client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise Refused(413, f"body over {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes,
                   extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
