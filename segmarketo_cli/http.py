"""One requests.Session factory: User-Agent, gzip, connection pool, and secret redaction for logs."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import __version__

USER_AGENT = f"segmarketo/{__version__}"
log = logging.getLogger("segmarketo.http")

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


def make_session(pool_size: int = 10) -> requests.Session:
    """A session with our User-Agent, gzip accepted and a pool big enough for the limiter's threads."""
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"})
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False
    return session


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
