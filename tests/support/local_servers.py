"""Tiny HTTP servers on 127.0.0.1 for network tests: scripted answers, a silent one, a forward proxy, TLS."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Seen:
    """One request a server received: method, path (with query), headers and raw body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes]
Respond = Callable[[Seen], Answer]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 that records every request and answers with `respond`."""

    def __init__(self, respond: Respond, *, tls: ssl.SSLContext | None = None) -> None:
        self.respond = respond
        self.seen: list[Seen] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                owner.seen.append(seen)
                status, headers, body = owner.respond(seen)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_CONNECT = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def redirect_to(target: str, status: int = 307, prefix: str = "/", token: str | None = None) -> Respond:
    """Answer `status` with Location target+path (plus a query that must not be shown) for paths under
    `prefix`; identity gets `token` when given (so REST calls follow), anything else 404."""

    def respond(seen: Seen) -> Answer:
        path = seen.path.split("?")[0]
        if token is not None and path == "/identity/oauth/token":
            return 200, {"Content-Type": "application/json"}, (
                b'{"access_token":"%s","token_type":"bearer","expires_in":3599}' % token.encode())
        if path.startswith(prefix):
            return status, {"Location": f"{target}{path}?signature=query-must-not-show"}, b""
        return 404, {}, b"not found"

    return respond


def answer_json(body: bytes = b'{"success":true}') -> Respond:
    return lambda seen: (200, {"Content-Type": "application/json"}, body)


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers: a hung service."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self._held.append(conn)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._listener.close()


def forward_proxy() -> LocalServer:
    """A plain-http forward proxy that only forwards to loopback targets (nothing leaves the machine)."""

    def respond(seen: Seen) -> Answer:
        target = urlsplit(seen.path)
        if target.hostname not in ("127.0.0.1", "localhost") or target.scheme != "http":
            return 403, {}, b"this test proxy only forwards to loopback"
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        headers = {k: v for k, v in seen.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(seen.method, path, body=seen.body or None, headers=headers)
        reply = upstream.getresponse()
        body = reply.read()
        kept = {k: v for k, v in reply.getheaders()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")}
        upstream.close()
        return reply.status, kept, body

    return LocalServer(respond)


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 with a fresh self-signed certificate, and that certificate's PEM path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "segmarketo test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path
