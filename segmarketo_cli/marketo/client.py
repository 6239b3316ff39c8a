"""MarketoClient: token, the one `request` primitive (limiter, long-URL fallback, envelope, retries)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3

from segmarketo_cli.endpoints import is_loopback, normalize_endpoint
from segmarketo_cli.errors import AuthError, ConfigError, MarketoError, MarketoQuotaExhausted, ServiceUnavailable
from segmarketo_cli.http import (
    READ_TIMEOUT_RETRIES,
    describe_transport_error,
    first_contact_error,
    log_call,
    make_session,
    redact,
    register_secret,
    retry_after_s,
)
from segmarketo_cli.marketo.activities import ActivitiesApi
from segmarketo_cli.marketo.auth import IdentityUnavailable, TokenManager
from segmarketo_cli.marketo.base import ApiBase, Files, Params
from segmarketo_cli.marketo.bulk import BulkApi
from segmarketo_cli.marketo.campaigns import CampaignsApi
from segmarketo_cli.marketo.codes import (
    TRANSIENT_HTTP,
    ErrorClass,
    classify,
    format_reset,
    next_quota_reset,
    permission_hint,
)
from segmarketo_cli.marketo.envelope import Envelope, EnvelopeError, MarketoIssue, empty_envelope, parse_envelope
from segmarketo_cli.marketo.exceptions import BulkFileNotReady, ExportQuotaExhausted, MarketoPayloadTooLarge
from segmarketo_cli.marketo.leads import LeadsApi
from segmarketo_cli.marketo.limits import Limiter
from segmarketo_cli.marketo.lists import ListsApi
from segmarketo_cli.marketo.programs import ProgramsApi
from segmarketo_cli.marketo.usage import UsageApi

log = logging.getLogger("segmarketo.marketo")

# Marketo refuses URIs over 8 KB (HTTP 414); stay a little under so proxies and the host part never tip it over.
MAX_URL_CHARS = 8000
CONNECT_TIMEOUT_S = 10.0
# Read timeouts: the default (config http_timeout_s, 100 s) covers Sync Leads' 90 s server-side limit; a call that
# hangs is sent at most READ_TIMEOUT_RETRIES more times and while its waits stay under this budget, so a hung
# Marketo stops a run with exit 75 within about 5 minutes (docs/marketo-client.md, "Timeouts").
HUNG_BUDGET_S = 300.0
# HTTP 429 (a gateway in front of Marketo): wait as told up to this long; asked for longer, stop with exit 75.
RETRY_AFTER_CAP_S = 300.0
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
    hung: int = 0  # read timeouts
    rate_limited: int = 0  # HTTP 429
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
        timeout: float = 100.0,
        connect_timeout: float = CONNECT_TIMEOUT_S,
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
        self.connect_timeout = float(connect_timeout)
        self.max_retries = max_retries
        self.queue_wait_s = queue_wait_s
        self._sleep = sleep
        self._rng = rng
        self._tokens = TokenManager(self.instance, client_id, client_secret, self.session, timeout=self.timeout,
                                    connect_timeout=self.connect_timeout)
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
        """Get (or reuse) an access token without a REST call, with the usual retries; AuthError when the
        credentials are refused, EndpointError when the endpoint is wrong, ServiceUnavailable when it fails."""
        tries = _Attempts()
        while self._token(tries) is None:
            pass

    def _token(self, tries: _Attempts) -> str | None:
        """The access token, or None after arranging a retry of a failed identity call."""
        try:
            return self._tokens.token()
        except IdentityUnavailable as exc:
            self._backoff(tries, f"identity: {exc}")
        except _TRANSPORT_ERRORS as exc:
            self._transport_failed(tries, exc, self.timeout, maybe_applied=False)
        return None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        files: Files | None = None,
        expect_json: bool = True,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        once: bool = False,
        stream: bool = False,
    ) -> Envelope | requests.Response:
        """One logical call: an `Envelope` (or a raw `requests.Response` when `expect_json=False`).

        Raises MarketoPayloadTooLarge on HTTP 413 (the caller halves its batch), MarketoQuotaExhausted on 607,
        AuthError when credentials are refused, ServiceUnavailable when retries run out, MarketoError otherwise.
        `once=True` (a write that is not idempotent, e.g. Request Campaign) is retried only when Marketo surely did
        not apply it; after a read timeout, a dropped connection, HTTP 5xx or 604/611/713 it raises
        ServiceUnavailable instead of sending it again.
        """
        method = method.upper()
        tries = _Attempts(once=once)
        read_timeout = timeout or self.timeout
        while True:
            token = self._token(tries)
            if token is None:
                continue
            verb, url, body = self._build(method, path, params, json, form, files, tries.long_form)
            if stream:
                body["stream"] = True
            send_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
            if "data" in body and "files" not in body:
                send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            failure: Exception | None = None
            with self.limiter.slot():
                with self._calls_lock:
                    self._calls += 1
                started = time.monotonic()
                try:
                    response = self.session.request(
                        verb, url, headers=send_headers, timeout=(self.connect_timeout, read_timeout), **body
                    )
                except _TRANSPORT_ERRORS as exc:
                    log_call(verb, url, type(exc).__name__, time.monotonic() - started)
                    response, failure = None, exc
            if failure is not None:
                self._transport_failed(tries, failure, read_timeout, maybe_applied=not _never_sent(failure))
                continue
            assert response is not None
            outcome = self._handle(response, method, path, token, tries, expect_json, time.monotonic() - started,
                                   stream=stream)
            if outcome is not None:
                return outcome
            if stream:
                response.close()  # a retry follows: the unread answer's connection goes back to the pool

    def _build(
        self,
        method: str,
        path: str,
        params: Params | None,
        json: Any,
        form: Mapping[str, str] | None,
        files: Files | None,
        long_form: bool,
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
        *,
        stream: bool = False,
    ) -> Envelope | requests.Response | None:
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
        if status == 429:
            log_call(method, url, status, elapsed)
            self._rate_limited(tries, retry_after_s(response.headers))
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
        # A streamed file is handed over unread; a JSON answer (Marketo's errors come as an envelope with HTTP 200)
        # is small and parsed below.
        if stream and "json" not in response.headers.get("Content-Type", "").lower():
            log_call(method, url, status, elapsed, f"{response.headers.get('Content-Length', '?')} bytes, streamed")
            return response
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

    def _on_errors(self, envelope: Envelope, method: str, path: str, token: str, tries: _Attempts) -> Envelope | None:
        """The empty envelope of a "no data" answer, or None after arranging a retry; raise for the rest."""
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

    def _rate_limited(self, tries: _Attempts, wait_s: float | None) -> None:
        """HTTP 429: nothing was applied, so even a once-only write is sent again after the wait it asked for."""
        tries.rate_limited += 1
        if wait_s is not None and wait_s > RETRY_AFTER_CAP_S:
            raise ServiceUnavailable(
                f"Marketo at {self.instance} answered HTTP 429 (too many requests) and asked to wait {wait_s:.0f} s; "
                "try again later"
            )
        if tries.rate_limited > self.max_retries:
            raise ServiceUnavailable(
                f"Marketo at {self.instance} kept answering HTTP 429 (too many requests) after "
                f"{tries.rate_limited} attempts; try again later"
            )
        if wait_s is None:
            wait_s = self._rng() * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (tries.rate_limited - 1))
        log.info("Marketo answered HTTP 429; retry %d/%d in %.1f s", tries.rate_limited, self.max_retries, wait_s)
        self._sleep(max(wait_s, 0.0))

    def _transport_failed(self, tries: _Attempts, exc: Exception, read_timeout: float, *, maybe_applied: bool) -> None:
        """No HTTP answer: a wrong endpoint on first contact is a configuration error; a hang is retried once;
        anything else backs off like a 5xx."""
        unusable = first_contact_error(self.session, self.instance, exc, "Marketo endpoint", "marketo_endpoint")
        if unusable is not None:
            raise unusable from None
        why = describe_transport_error(exc, read_timeout)
        if isinstance(exc, requests.exceptions.ReadTimeout):
            tries.hung += 1
            if not (tries.once and maybe_applied) and (
                tries.hung > READ_TIMEOUT_RETRIES or tries.hung * read_timeout >= HUNG_BUDGET_S
            ):
                raise ServiceUnavailable(
                    f"Marketo at {self.instance} did not answer within {read_timeout:g} s ({tries.hung} "
                    f"time{'s' if tries.hung > 1 else ''}); try again later"
                )
        self._backoff(tries, why, maybe_applied=maybe_applied)

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
