"""Marketo identity: client-credentials token, cached with its absolute expiry and renewed before it lapses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests

from segmarketo_cli.errors import AuthError
from segmarketo_cli.http import log_call, redact, register_secret

RENEW_MARGIN_S = 60.0


class IdentityUnavailable(Exception):
    """The identity endpoint answered 5xx or a non-JSON body; the caller retries with backoff."""


class TokenManager:
    """One cached access token per client. Identity calls do not count toward Marketo's quota."""

    def __init__(
        self,
        instance: str,
        client_id: str,
        client_secret: str,
        session: requests.Session,
        *,
        timeout: float,
        connect_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = f"{instance}/identity/oauth/token"
        self._instance = instance
        self._client_id = client_id
        self._secret = client_secret
        self._session = session
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._renew_at = 0.0
        self.issued = 0  # identity calls that returned a token

    def token(self) -> str:
        """A token with more than a minute to live, fetched when none is cached or the cached one is ageing."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._fetch_locked()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Drop `token` after a 601/602, unless another thread already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch_locked(self) -> None:
        previous = self._token
        started = time.monotonic()
        # A POST form body keeps the secret out of URLs (and so out of any proxy or access log).
        response = self._session.post(
            self.url,
            data={"grant_type": "client_credentials", "client_id": self._client_id, "client_secret": self._secret},
            timeout=(self._connect_timeout, self._timeout),
        )
        log_call("POST", self.url, response.status_code, time.monotonic() - started, "identity")
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"Marketo refused the client id/secret for {self._instance} "
                f"(HTTP {response.status_code}{self._error_label(response)})",
                hint="check marketo_client_id and the client secret ('segmarketo auth set')",
            )
        if response.status_code >= 500:
            raise IdentityUnavailable(f"identity endpoint answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise IdentityUnavailable("identity endpoint answered with a non-JSON body") from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise AuthError(
                f"Marketo identity at {self._instance} returned no access token (HTTP {response.status_code})"
            )
        expires_in = float(body.get("expires_in") or 0)
        now = self._clock()
        self._token = str(token)
        register_secret(self._token)  # belt and braces: a token must never reach a log line
        self._expires_at = now + expires_in
        # Marketo hands back the same token until it lapses; asking again in its last minute gains nothing,
        # so use it to the end and let a 602 trigger the renewal.
        self._renew_at = self._expires_at if self._token == previous else self._expires_at - RENEW_MARGIN_S
        self.issued += 1

    @staticmethod
    def _error_label(response: requests.Response) -> str:
        # The 401 body shape is UNCONFIRMED (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/authentication):
        # read `error` if it is there, else say nothing.
        try:
            body = response.json()
        except ValueError:
            return ""
        error = body.get("error") if isinstance(body, dict) else None
        return f": {redact(str(error))[:80]}" if error else ""
