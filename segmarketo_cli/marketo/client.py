"""MarketoClient: token, the one `request` primitive (limiter, long-URL fallback, envelope, retries)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3

from ..config import is_loopback, normalize_endpoint
from ..errors import AuthError, ConfigError, MarketoError, MarketoQuotaExhausted, ServiceUnavailable
from ..http import log_call, make_session, redact, register_secret
from .activities import ActivitiesApi
from .auth import IdentityUnavailable, TokenManager
from .base import ApiBase
from .bulk import BulkApi
from .campaigns import CampaignsApi
from .codes import TRANSIENT_HTTP, ErrorClass, classify, format_reset, next_quota_reset, permission_hint
from .envelope import Envelope, EnvelopeError, MarketoIssue, empty_envelope, parse_envelope
from .exceptions import BulkFileNotReady, ExportQuotaExhausted, MarketoPayloadTooLarge
from .leads import LeadsApi
from .limits import Limiter
from .lists import ListsApi
from .programs import ProgramsApi
from .usage import UsageApi

log = logging.getLogger("segmarketo.marketo")

# Marketo refuses URIs over 8 KB (HTTP 414); stay a little under so proxies and the host part never tip it over.
MAX_URL_CHARS = 8000
CONNECT_TIMEOUT_S = 10.0
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
QUEUE_RETRIES = 8
THROTTLE_RETRIES = 40
_PRIORITY = [
    ErrorClass.QUOTA,
    ErrorClass.FATAL,
    ErrorClass.AUTH,
    ErrorClass.THROTTLE,
    ErrorClass.QUEUE,
    ErrorClass.TRANSIENT,
    ErrorClass.UNKNOWN,
    ErrorClass.EMPTY,
]
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
# Answers after which a write may or may not have been applied (a server-side timeout or error mid-call).
AMBIGUOUS_CODES = frozenset({"604", "611", "713"})


@dataclass
class _Attempts:
    """Per-request retry counters; throttling (606/615) has its own, larger cap and is not a failure."""

    transient: int = 0
    auth: int = 0
    failed_token: str | None = None
    once: bool = False  # a write that must not be sent twice (see `request`)
    unknown: int = 0
    queue: int = 0
    throttle: int = 0
    long_form: bool = False


class MarketoClient(LeadsApi, ListsApi, ProgramsApi, CampaignsApi, ActivitiesApi, BulkApi, UsageApi, ApiBase):
    """A thread-safe Marketo REST client for one instance; share one per process (it owns the limiter)."""

    def __init__(
        self,
        endpoint: str,
        client_id: str,
        client_secret: str,
        *,
        limiter: Limiter | None = None,
        session: requests.Session | None = None,
        timeout: float = 120.0,
        max_retries: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        queue_wait_s: float = 30.0,
    ) -> None:
        self.instance = normalize_endpoint(endpoint, what="Marketo endpoint")
        parts = urlsplit(self.instance)
        if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
            raise ConfigError(f"Marketo endpoint '{self.instance}' must use https")
        register_secret(client_secret)
        self.limiter = limiter or Limiter()
        self.session = session or make_session(pool_size=max(10, self.limiter.max_concurrency + 2))
        self.session.headers["Accept-Encoding"] = "gzip"
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.queue_wait_s = queue_wait_s
        self._sleep = sleep
        self._rng = rng
        self._tokens = TokenManager(self.instance, client_id, client_secret, self.session, timeout=self.timeout)
        self._calls = 0
        self._calls_lock = threading.Lock()

    @property
    def calls(self) -> int:
        """REST and bulk HTTP calls made (retries included; identity calls excluded)."""
        with self._calls_lock:
            return self._calls

    @property
    def tokens_issued(self) -> int:
        """Identity calls that returned a token (for tests and `doctor`)."""
        return self._tokens.issued

    def fetch_token(self) -> None:
        """Get (or reuse) an access token without a REST call; AuthError when the credentials are refused."""
        self._tokens.token()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        form: Any = None,
        files: Any = None,
        expect_json: bool = True,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        once: bool = False,
    ) -> Any:
        """One logical call: an `Envelope` (or a raw `requests.Response` when `expect_json=False`).

        Raises MarketoPayloadTooLarge on HTTP 413 (the caller halves its batch), MarketoQuotaExhausted on 607,
        AuthError when credentials are refused, ServiceUnavailable when retries run out, MarketoError otherwise.
        `once=True` (a write that is not idempotent, e.g. Request Campaign) is retried only when Marketo surely did
        not apply it; after a read timeout, a dropped connection, HTTP 5xx or 604/611/713 it raises
        ServiceUnavailable instead of sending it again.
        """
        method = method.upper()
        tries = _Attempts(once=once)
        while True:
            try:
                token = self._tokens.token()
            except (IdentityUnavailable, *_TRANSPORT_ERRORS) as exc:
                self._backoff(tries, f"identity: {type(exc).__name__}")
                continue
            verb, url, body = self._build(method, path, params, json, form, files, tries.long_form)
            send_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
            if "data" in body and "files" not in body:
                send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            failure, unsent = "", False
            with self.limiter.slot():
                with self._calls_lock:
                    self._calls += 1
                started = time.monotonic()
                try:
                    response = self.session.request(
                        verb, url, headers=send_headers, timeout=(CONNECT_TIMEOUT_S, timeout or self.timeout), **body
                    )
                except _TRANSPORT_ERRORS as exc:
                    log_call(verb, url, type(exc).__name__, time.monotonic() - started)
                    response = None
                    failure = type(exc).__name__
                    unsent = _never_sent(exc)
            if response is None:
                self._backoff(tries, failure, maybe_applied=not unsent)
                continue
            outcome = self._handle(response, method, path, token, tries, expect_json, time.monotonic() - started)
            if outcome is not None:
                return outcome

    def _build(
        self, method: str, path: str, params: Any, json: Any, form: Any, files: Any, long_form: bool
    ) -> tuple[str, str, dict[str, Any]]:
        """The HTTP verb, URL and body arguments; a GET whose URL would pass MAX_URL_CHARS goes as a form POST."""
        url = f"{self.instance}{path}"
        query = urlencode(params, doseq=True) if params else ""
        body: dict[str, Any] = {}
        if json is not None:
            body["json"] = json
        if form is not None:
            body["data"] = form
        if files is not None:
            body["files"] = files
        if method == "GET" and query and (long_form or len(url) + 1 + len(query) > MAX_URL_CHARS):
            return "POST", f"{url}?_method=GET", {"data": query}
        return method, f"{url}?{query}" if query else url, body

    def _handle(
        self,
        response: requests.Response,
        method: str,
        path: str,
        token: str,
        tries: _Attempts,
        expect_json: bool,
        elapsed: float,
    ) -> Any:
        """Return the call's result, or None after arranging a retry; raise when there is nothing to retry."""
        status = response.status_code
        url = response.request.url or path
        if status == 413:
            log_call(method, url, status, elapsed)
            raise MarketoPayloadTooLarge(path, len(response.request.body or b""))
        if status == 414 and method == "GET" and not tries.long_form:
            log_call(method, url, status, elapsed, "retrying as POST ?_method=GET")
            tries.long_form = True
            return None
        if status in TRANSIENT_HTTP:
            log_call(method, url, status, elapsed)
            self._backoff(tries, f"HTTP {status}", maybe_applied=status != 503)
            return None
        if status == 401:
            log_call(method, url, status, elapsed)
            self._renew_token(token, tries, "HTTP 401")
            return None
        if status == 404 and not expect_json:
            log_call(method, url, status, elapsed)
            raise BulkFileNotReady(path, redact(response.text))
        if status >= 400:
            log_call(method, url, status, elapsed)
            raise MarketoError(f"HTTP {status}", f"{method} {path}: {redact(response.text.strip())[:200]}")
        try:
            envelope = parse_envelope(response.json())
        except (ValueError, EnvelopeError):
            if not expect_json:
                log_call(method, url, status, elapsed, f"{len(response.content)} bytes")
                return response
            log_call(method, url, status, elapsed, "not a Marketo envelope")
            self._backoff(tries, "malformed response", maybe_applied=True)
            return None
        note = f"errors={','.join(e.code for e in envelope.errors)}" if envelope.errors else ""
        log_call(method, url, status, elapsed, f"{note} requestId={envelope.request_id}".strip())
        if envelope.success:
            return envelope if expect_json else response
        return self._on_errors(envelope, method, path, token, tries)

    def _on_errors(self, envelope: Envelope, method: str, path: str, token: str, tries: _Attempts) -> Any:
        issues = envelope.errors or [MarketoIssue("", "success false without errors")]
        ranked = sorted(((classify(i.code, i.message), i) for i in issues), key=lambda ci: _PRIORITY.index(ci[0]))
        kind, issue = ranked[0]
        if kind is ErrorClass.EMPTY:
            return empty_envelope(envelope.request_id)
        if kind is ErrorClass.QUOTA:
            reset = next_quota_reset()
            cls = ExportQuotaExhausted if issue.code == "1029" else MarketoQuotaExhausted
            what = "bulk export volume" if issue.code == "1029" else "API call quota"
            raise cls(
                f"Marketo's daily {what} is used up ({issue.code} {issue.message}); it resets at {format_reset(reset)}",
                resume_at=reset.isoformat(),
            )
        if kind is ErrorClass.FATAL:
            hint = permission_hint(method, path) if issue.code == "603" else None
            raise MarketoError(issue.code, issue.message, hint=hint)
        if kind is ErrorClass.AUTH:
            self._renew_token(token, tries, issue.code)
        elif kind is ErrorClass.THROTTLE:
            self._throttled(issue, tries)
        elif kind is ErrorClass.QUEUE:
            tries.queue += 1
            if tries.queue > QUEUE_RETRIES:
                raise ServiceUnavailable(f"Marketo's bulk queue stayed full ({issue.code} {issue.message})")
            self._sleep(self.queue_wait_s * (0.5 + self._rng() / 2))
        elif kind is ErrorClass.UNKNOWN:
            if tries.unknown:
                raise MarketoError(issue.code, issue.message)
            tries.unknown += 1
            log.warning("unrecognised Marketo error, retrying once: %s", redact(str(envelope.raw))[:500])
            self._backoff(tries, f"{issue.code} {issue.message}", maybe_applied=True)
        else:
            self._backoff(tries, f"{issue.code} {issue.message}", maybe_applied=issue.code in AMBIGUOUS_CODES)
        return None

    def _renew_token(self, token: str, tries: _Attempts, why: str) -> None:
        # Identity hands back the live token until it lapses, so after a 601 the retry may carry the same token,
        # which can then expire: a 602 on that very token gets one more renewal. Any other second refusal is fatal.
        lapsed = why == "602" and token == tries.failed_token and tries.auth == 1
        if tries.auth and not lapsed:
            raise AuthError(
                f"Marketo rejected a freshly issued access token for {self.instance} ({why})",
                hint="the API-only user or its LaunchPoint service may be disabled",
            )
        tries.auth += 1
        tries.failed_token = token
        self._tokens.invalidate(token)

    def _throttled(self, issue: MarketoIssue, tries: _Attempts) -> None:
        tries.throttle += 1
        if tries.throttle > THROTTLE_RETRIES:
            raise ServiceUnavailable(f"Marketo kept throttling ({issue.code} {issue.message}); try again later")
        if issue.code == "606":
            # The window is shared with every integration on the instance: pause all our threads for a window.
            self.limiter.penalize(self.limiter.window_s)
        else:
            self.limiter.reduce_concurrency()
            self._sleep(self._rng() * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(tries.throttle, 6)))

    def _backoff(self, tries: _Attempts, why: str, *, maybe_applied: bool = False) -> None:
        """Exponential backoff with full jitter; ServiceUnavailable once max_retries is spent, or at once when a
        write that must not run twice may have been applied."""
        if tries.once and maybe_applied:
            raise ServiceUnavailable(
                f"Marketo at {self.instance} did not confirm a call that must not run twice ({why}); it may have "
                "been applied, so it is not sent again"
            )
        tries.transient += 1
        if tries.transient > self.max_retries:
            raise ServiceUnavailable(
                f"Marketo at {self.instance} kept failing ({why}) after {tries.transient} attempts; try again later"
            )
        delay = self._rng() * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (tries.transient - 1))
        log.info("Marketo call failed (%s); retry %d/%d in %.1f s", why, tries.transient, self.max_retries, delay)
        self._sleep(delay)


def _never_sent(exc: Exception) -> bool:
    """True when the connection failed before the request went out (refused, unknown host, connect timeout)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)
