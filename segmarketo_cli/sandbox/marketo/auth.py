"""The identity service: client-credentials tokens reused until expiry, with expire/revoke test hooks."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from segmarketo_cli.sandbox.envelope import ApiError, Request, Response, json_response


@dataclass
class Token:
    value: str
    expires_at: float
    expired: bool = False


class Identity:
    """Issues one token per client until it expires; `check` maps a Bearer value to 601/602 or passes."""

    def __init__(self, client_id: str, client_secret: str, ttl_s: int = 3600, scope: str = "apis@sandbox.local",
                 clock: Callable[[], float] = time.time) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.ttl_s = ttl_s
        self.scope = scope
        self.clock = clock
        self.current: Token | None = None
        self.known: dict[str, Token] = {}
        self.issued = 0
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        """GET or POST /identity/oauth/token with client credentials in the query or a form body."""
        client_id = request.arg("client_id")
        secret = request.arg("client_secret")
        if request.arg("grant_type") != "client_credentials" or client_id != self.client_id \
                or secret != self.client_secret:
            # Body shape UNCONFIRMED (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/authentication):
            # the fields public clients look for.
            return json_response({"error": "unauthorized", "error_description": "Bad client credentials"},
                                 status=401)
        with self._lock:
            now = self.clock()
            token = self.current
            if token is None or token.expired or token.expires_at <= now:
                token = Token(f"{uuid.uuid4()}:sb", now + self.ttl_s)
                self.current = token
                self.known[token.value] = token
                self.issued += 1
            remaining = max(0, int(token.expires_at - now) - 1)
        return json_response({"access_token": token.value, "token_type": "bearer", "expires_in": remaining,
                              "scope": self.scope})

    def check(self, value: str | None) -> None:
        if not value:
            raise ApiError("601", "Access token invalid")
        with self._lock:
            token = self.known.get(value)
            if token is None:
                raise ApiError("601", "Access token invalid")
            if token.expired or token.expires_at <= self.clock():
                raise ApiError("602", "Access token expired")

    def expire_token(self) -> None:
        """Test hook: the current token now answers 602; the next identity call issues a new one."""
        with self._lock:
            if self.current is not None:
                self.current.expired = True

    def revoke_token(self) -> None:
        """Test hook: forget every token, so they answer 601."""
        with self._lock:
            self.known.clear()
            self.current = None
