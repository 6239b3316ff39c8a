"""Service endpoints as users write them -> the base URL the clients call, checked (https, no credentials)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from urllib.parse import urlsplit

from segmarketo_cli.errors import ConfigError

API_PATHS = ("/rest/v1", "/rest", "/identity")  # longest first: '/rest/v1' must not leave '/rest' behind
_MUNCHKIN = re.compile(r"^(\d{3}-[a-z]{3}-\d{3})(?:\.|$)", re.IGNORECASE)


def normalize_endpoint(url: str, *, what: str = "endpoint",
                       example: str = "https://123-ABC-456.mktorest.com") -> str:
    """Strip a trailing '/rest/v1', '/rest' or '/identity' (with or without a final '/'): the clients add those
    paths themselves (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/rest-api).
    Refuse plain http except to loopback hosts."""
    url = url.strip().rstrip("/")
    for suffix in API_PATHS:
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    parts = urlsplit(url)
    shown = _shown_endpoint(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} '{shown}' is not an http(s) URL (expected e.g. {example})")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(f"{what} '{shown}' uses plain http; only https is allowed except to loopback hosts")
    if "@" in parts.netloc or parts.query or parts.fragment or "?" in url or "#" in url:
        # a user name/password here would be sent (and shown) wherever the URL goes; a query or fragment would
        # end up in the middle of every request path
        raise ConfigError(f"{what} '{shown}' must not hold a user name, password, query or fragment "
                          f"(expected e.g. {example})")
    return url.rstrip("/")


def _shown_endpoint(url: str) -> str:
    """`url` fit for an error message: a user name/password and a query or fragment (secrets, often) hidden."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    shown = f"{scheme}://{netloc}{slash}{tail}"
    cut = min((i for i in (shown.find("?"), shown.find("#")) if i >= 0), default=-1)
    return shown if cut < 0 else shown[:cut] + "?***"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def munchkin_id(endpoint: str) -> str:
    """The Munchkin id of a Marketo endpoint (`https://123-ABC-456.mktorest.com` -> `123-ABC-456`).

    Hosts that do not carry one (the sandbox, proxies) get a stable 10-hex-digit hash of the host name.
    """
    host = (urlsplit(endpoint if "//" in endpoint else f"//{endpoint}").hostname or endpoint).lower()
    match = _MUNCHKIN.match(host)
    if match:
        return match.group(1).upper()
    return hashlib.sha256(host.encode()).hexdigest()[:10]
