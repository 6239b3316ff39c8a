"""The one session factory (no cross-origin redirects, proxy/CA from the environment), error wording, redaction."""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from segmarketo_cli import __version__
from segmarketo_cli.errors import EndpointError

USER_AGENT = f"segmarketo/{__version__}"
log = logging.getLogger("segmarketo.http")
# A call that got no answer within its read timeout is sent at most twice more: a hung service must not hold a
# cron run for max_retries x timeout (see docs/reliability.md, "A hung service").
READ_TIMEOUT_RETRIES = 2
# getaddrinfo's "no such name" answers; EAI_AGAIN (the resolver could not answer) may pass, so it is not here.
_NO_SUCH_NAME = frozenset(code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
                          if code is not None)

# urllib3's words when an HTTPS proxy answers CONNECT with an error status, e.g. "... failed: 407 Proxy Auth..."
_TUNNEL_FAILED = re.compile(r"Tunnel connection failed: (\d{3})\b[^\n]*")

_REDACT_PATTERNS = [
    # the lookbehind keeps e.g. Marketo's nextPageToken= readable: paging tokens are not secrets
    re.compile(r"(?i)((?<![a-z])(?:client_secret|access_token|write_?key|password|token)=)([^&\s]+)"),
    re.compile(r"(?i)(authorization:\s*(?:bearer|basic)\s+)(\S+)"),
    re.compile(r'(?i)("(?:access_token|client_secret|writeKey|write_key)"\s*:\s*")([^"]+)'),
]
_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so `redact` removes it wherever it appears."""
    if value and len(value) >= 4:
        with _known_lock:
            _known_secrets.add(value)


def redact(text: str) -> str:
    """Remove known secrets and anything shaped like a credential from `text`."""
    for pattern in _REDACT_PATTERNS:
        text = pattern.sub(r"\1***", text)
    with _known_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class GuardedSession(requests.Session):
    """A session that never carries credentials to another origin and remembers which origins have answered.

    Proxies (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) and the CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE)
    come from the environment as requests users expect; ~/.netrc is not read (it would replace our own
    Authorization header).
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # merge_environment_settings below takes the proxy and CA settings itself
        self.answered: set[str] = set()
        self.hooks["response"].append(self._note_answer)

    def _note_answer(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self.answered.add(origin(response.url))

    def has_answered(self, url: str) -> bool:
        """True once any HTTP response (of any status) came back from `url`'s origin."""
        return origin(url) in self.answered

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None:
            absolute = urljoin(resp.url, target)
            if origin(absolute) != origin(resp.url):
                resp.close()
                raise EndpointError(
                    f"{describe_endpoint(resp.url)} answered HTTP {resp.status_code}, a redirect to "
                    f"{describe_endpoint(absolute)}; segmarketo never sends credentials to another host, so it "
                    "stopped. Check the endpoint setting (use the target only if you trust it)"
                )
        return target

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        text = url.decode() if isinstance(url, bytes) else url or ""
        proxies = dict(proxies or {})
        for scheme, proxy in get_environ_proxies(text, no_proxy=proxies.get("no_proxy")).items():
            proxies.setdefault(scheme, proxy)
        if verify is True or verify is None:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        if text.startswith("https:") and isinstance(verify, str) and not os.path.exists(verify):
            raise EndpointError(f"the CA bundle {verify} does not exist (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE)")
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def make_session(pool_size: int = 10) -> GuardedSession:
    """A guarded session with our User-Agent, gzip accepted and a pool big enough for the limiter's threads."""
    session = GuardedSession()
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"})
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def origin(url: str) -> str:
    """scheme://host:port of a URL (the port made explicit), the unit credentials are bound to."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def describe_endpoint(url: str) -> str:
    """A URL fit for an error message: scheme, host, port and path; no user info, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return redact(f"{parts.scheme}://{netloc}{parts.path}")[:300]


def unreachable_reason(exc: BaseException) -> str | None:
    """Why no connection could be made, when the endpoint itself is the likely culprit: the host name does not
    exist, the port refuses connections, or TLS fails. None for failures that may pass (timeouts, resets,
    a resolver that could not answer)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS failed ({_tls_detail(exc)})"
    tunnel = _tunnel_refusal(exc)
    if tunnel is not None and 400 <= tunnel[0] < 500 and tunnel[0] not in (408, 429):
        # the proxy's policy or credentials (403, 407): retrying later would not help
        return f"the proxy refused the tunnel with HTTP {tunnel[1]}"
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror) and cause.errno in _NO_SUCH_NAME:
            return "the host name does not resolve"
        if isinstance(cause, ConnectionRefusedError):
            return "the connection was refused"
    return None


def describe_transport_error(exc: BaseException, read_timeout: float | None = None) -> str:
    """A short, secret-free phrase for a failed HTTP exchange (a timeout, a reset, an unknown host ...)."""
    reason = unreachable_reason(exc)
    if reason:
        return reason
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "the connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"it did not answer within {read_timeout:g} s" if read_timeout else "it did not answer in time"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off"
    tunnel = _tunnel_refusal(exc)
    if tunnel is not None:
        return f"the proxy could not open a tunnel to it (HTTP {tunnel[1]})"
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return "the host name could not be looked up"
        if isinstance(cause, ConnectionResetError):  # http.client.RemoteDisconnected is one too
            return "the connection was reset"
    return f"the connection failed ({type(exc).__name__})"


def first_contact_error(
    session: requests.Session, url: str, exc: BaseException, what: str, setting: str
) -> EndpointError | None:
    """An EndpointError when `exc` is an unreachable endpoint on the very first call to it (a wrong setting,
    exit 2); None when the endpoint has answered before in this run (then it is a passing outage)."""
    reason = unreachable_reason(exc)
    answered = getattr(session, "has_answered", None)
    if reason is None or (answered is not None and answered(url)):
        return None
    if isinstance(exc, requests.exceptions.ProxyError):
        reason += " (through the proxy set in HTTPS_PROXY / HTTP_PROXY / ALL_PROXY)"
    hint = " (if a proxy inspects TLS, set REQUESTS_CA_BUNDLE to its CA bundle)" if reason.startswith("TLS") else ""
    return EndpointError(f"cannot reach the {what} {describe_endpoint(url)}: {reason}; check {setting}{hint}")


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds a server asked us to wait (Retry-After: seconds or HTTP date; X-RateLimit-Reset), if any."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return float(retry_after)
        except ValueError:
            try:
                return parsedate_to_datetime(retry_after).timestamp() - time.time()
            except (TypeError, ValueError):
                pass
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        # UNCONFIRMED whether this is seconds to wait or an epoch time; large values are taken as epoch.
        return value - time.time() if value > 1_000_000_000 else value
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps: requests -> urllib3 MaxRetryError.reason -> the socket error."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        pending.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
        pending.extend(arg for arg in item.args if isinstance(arg, BaseException))


def _tunnel_refusal(exc: BaseException) -> tuple[int, str] | None:
    """(status, 'status reason') when an HTTPS proxy answered the CONNECT with an error, else None."""
    for cause in _causes(exc):
        match = _TUNNEL_FAILED.search(str(cause)) if type(cause) is OSError else None
        if match:
            return int(match.group(1)), match.group(0).split(": ", 1)[1][:80]
    return None


def _tls_detail(exc: BaseException) -> str:
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError) and cause.reason:
            return str(cause.reason).lower().replace("_", " ")
    return "handshake failed"


def describe_url(url: str) -> str:
    """A loggable form of a URL: path and redacted query only."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return redact(f"{parts.path}{query}")[:300]


def log_call(method: str, url: str, status: int | str, elapsed_s: float, note: str = "") -> None:
    """One debug line per HTTP call (shown with -v), secrets redacted."""
    if log.isEnabledFor(logging.DEBUG):
        suffix = f" {note}" if note else ""
        log.debug("%s %s -> %s in %.0f ms%s", method, describe_url(url), status, elapsed_s * 1000, redact(suffix))
