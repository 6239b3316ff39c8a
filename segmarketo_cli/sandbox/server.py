"""The HTTP layer: ThreadingHTTPServer, body decoding (gzip, forms, `_method`), 413/414, and dispatch."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from segmarketo_cli.sandbox.config import SandboxConfig
from segmarketo_cli.sandbox.envelope import Request, Response, json_response, parse_form, text

MAX_URI = 8 * 1024
MAX_BODY = 1024 * 1024
MAX_BULK_BODY = 10 * 1024 * 1024
MAX_SEGMENT_READ = 8 * 1024 * 1024
log = logging.getLogger("segmarketo.sandbox")


class DropConnection(Exception):
    """Close the socket without answering (fault "reset" / "timeout")."""


class Dispatcher(Protocol):
    """What the server answers with: the sandbox's request dispatch and its configuration."""

    config: SandboxConfig

    def dispatch(self, request: Request) -> Response: ...


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], box: Dispatcher) -> None:
        self.box = box
        super().__init__(address, SandboxHandler)


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer
    _headers_buffer: list[bytes]  # BaseHTTPRequestHandler's pending header lines; _send appends the body to them
    server_version = "SegmarketoSandbox/1.0"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in one write with Nagle off: no 40 ms delayed-ACK stall per keep-alive call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            response = self._build()
        except DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(response)

    def _read_body(self, limit: int) -> bytes | None:
        """The raw body; None (after draining it) when it is larger than `limit`."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            return None
        return self.rfile.read(length) if length else b""

    def _build(self) -> Response:
        raw_path = self.path
        parts = urlsplit(raw_path)
        path = parts.path
        bulk = path.startswith("/bulk/")
        segment = path.startswith("/v1/")
        limit = MAX_SEGMENT_READ if segment else MAX_BULK_BODY if bulk else MAX_BODY
        body = self._read_body(limit)
        if len(raw_path) > MAX_URI:
            self.close_connection = True
            return text(414, "Request-URI Too Long")
        if body is None:
            self.close_connection = True
            if segment:  # Segment answers an oversize batch with 400 (docs/segment-sender.md)
                return json_response({"success": False, "code": "payload_too_large"}, status=400)
            return text(413, "Request Entity Too Large")
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                return json_response({"success": False, "message": "invalid gzip body"}, status=400)
            if not segment and len(body) > limit:
                return text(413, "Request Entity Too Large")
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qs(parts.query, keep_blank_values=True)
        method = self.command
        form: dict[str, list[str]] = {}
        override = (query.pop("_method", [None])[0] or "").upper()
        if method == "POST" and override in ("GET", "DELETE"):
            method = override
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = parse_form(body)
        request = Request(method, path, query, headers, body, form)
        return self.server.box.dispatch(request)

    def _send(self, response: Response) -> None:
        body = response.body
        headers = dict(response.headers)
        accepts_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
        box = self.server.box
        if (response.compressible and accepts_gzip and box.config.gzip_responses and len(body) >= 1024
                and not self.path.startswith("/bulk/")):
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type + ("; charset=UTF-8"
                             if response.content_type.startswith(("application/json", "text/")) else ""))
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self._headers_buffer.append(b"\r\n")
            if self.command != "HEAD":
                self._headers_buffer.append(body)
            self.flush_headers()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def stall_then_drop(seconds: float) -> None:
    """Fault "timeout": hold the request longer than the client waits, then drop it."""
    time.sleep(seconds)
    raise DropConnection()


def inspector_json(payload: object) -> Response:
    return Response(body=json.dumps(payload, default=str).encode(), compressible=False)
