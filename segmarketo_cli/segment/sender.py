"""BatchSender: Segment `POST /v1/batch` with size-aware splitting, Basic auth, gzip, retries and bisection."""

from __future__ import annotations

import base64
import gzip
import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests

from segmarketo_cli.errors import SegmentError, ServiceUnavailable
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
from segmarketo_cli.segment.spec import (
    DEFAULT_INTEGRATIONS,
    LIBRARY,
    MAX_MESSAGE_BYTES,
    iso_timestamp,
    message_size,
    problem_with,
)

MAX_BATCH_BYTES = 475_000  # uncompressed body; Segment's limit is 500 KB (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#max-request-size)
MAX_BATCH_MESSAGES = 2_500
RETRY_AFTER_CAP_S = 300.0
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
RETRY_STATUSES = frozenset({408, 410, 429, 460})
BISECT_STATUSES = frozenset({400, 413})
_STAMP = "2000-01-01T00:00:00.000Z"  # same length as every real sentAt, used when measuring
_SEPARATOR = len(", ")

Message = dict[str, Any]
Rejected = list[tuple[Message, str]]


@dataclass
class BatchResult:
    """What happened to one batch. `accepted` is True when Segment took every message (no rejects).

    `send_batch` only returns settled batches: messages not accepted are in `rejected` with the reason (each
    refused when sent alone, after Segment accepted another part of the batch), and anything still in doubt
    raises instead, so a caller may advance its cursor once the call returns.
    """

    accepted: bool
    status: int | None
    attempts: int
    bytes: int
    message_ids: list[str]
    error: str | None = None
    rejected: Rejected = field(default_factory=list)


class _Retry(Exception):
    """An attempt failed in a way worth retrying; `wait_s` is the server's wish, if it said one."""

    def __init__(self, status: int | None, detail: str, wait_s: float | None = None, hung: bool = False) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.wait_s = wait_s
        self.hung = hung  # no answer within the read timeout


class _Bisect(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.attempts = 1


class BatchSender:
    """Sends Spec messages to Segment's batch endpoint; the write key travels only in the Basic header."""

    def __init__(
        self,
        endpoint: str,
        write_key: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 60,
        max_retries: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        integrations: dict[str, bool] | None = None,
        context: dict[str, Any] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not write_key:
            raise SegmentError("the Segment write key is empty")
        register_secret(write_key)
        self.url = endpoint.rstrip("/") + "/v1/batch"
        self.session = session or make_session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep
        self.integrations = dict(DEFAULT_INTEGRATIONS) if integrations is None else dict(integrations)
        self.context = {**(context or {}), "library": dict(LIBRARY)}
        self._auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.requests = 0

    def __repr__(self) -> str:
        return f"BatchSender({self.url!r})"

    # splitting ----------------------------------------------------------------------------------
    def _envelope_bytes(self) -> int:
        return len(json.dumps(self._envelope([], _STAMP)).encode())

    def split(self, messages: Iterable[Message]) -> tuple[list[list[Message]], Rejected]:
        """Batches of <= 2,500 messages and <= 475,000 body bytes; unusable messages come back with reasons.

        Each kept message is copied once, so later edits by the caller cannot change what is (re)sent.
        """
        overhead = self._envelope_bytes()
        batches: list[list[Message]] = []
        rejected: Rejected = []
        current: list[Message] = []
        size = overhead
        for message in messages:
            problem = problem_with(message)
            if problem:
                rejected.append((message, problem))
                continue
            frozen = {**message, "sentAt": _STAMP}
            try:
                item_bytes = message_size(frozen)
            except (TypeError, ValueError) as exc:
                rejected.append((message, f"message is not JSON-serialisable: {exc}"))
                continue
            if item_bytes > MAX_MESSAGE_BYTES:
                rejected.append((message, f"message is {item_bytes:,} bytes; Segment accepts at most "
                                          f"{MAX_MESSAGE_BYTES:,} per message"))
                continue
            added = item_bytes + (_SEPARATOR if current else 0)
            if current and (len(current) >= MAX_BATCH_MESSAGES or size + added > MAX_BATCH_BYTES):
                batches.append(current)
                current, size, added = [], overhead, item_bytes
            current.append(frozen)
            size += added
        if current:
            batches.append(current)
        return batches, rejected

    # sending -------------------------------------------------------------------------------------
    def send_batch(self, messages: list[Message]) -> BatchResult:
        """Deliver one batch (from `split`): retry what is transient, bisect what Segment calls malformed.

        A 400/413 is pinned on messages only once Segment accepts part of the same batch. When the batch is a
        lone message, or both halves of its first split are refused too, the request itself is refused (a
        disabled source, a write key Segment will not take): SegmentError, and no message is rejected.
        """
        if not messages:
            return BatchResult(True, None, 0, 0, [])
        answer = self._try(messages)
        return self._first_split(messages, answer) if isinstance(answer, _Bisect) else answer

    def _first_split(self, messages: list[Message], refusal: _Bisect) -> BatchResult:
        if len(messages) == 1:
            raise _request_refused(refusal, 1)
        halves = _halves(messages)
        answers = [self._try(half) for half in halves]
        if all(isinstance(answer, _Bisect) for answer in answers):
            raise _request_refused(refusal, len(messages))
        return self._settle(refusal, halves, answers)

    def _bisect(self, messages: list[Message], refusal: _Bisect) -> BatchResult:
        """Below the first split (Segment took part of the batch): halve until each bad message is alone."""
        if len(messages) == 1:
            reason = f"Segment refused the message: HTTP {refusal.status} {refusal.detail}".strip()
            return BatchResult(
                False, refusal.status, refusal.attempts, 0, [], error=reason, rejected=[(messages[0], reason)]
            )
        halves = _halves(messages)
        return self._settle(refusal, halves, [self._try(half) for half in halves])

    def _try(self, messages: list[Message]) -> BatchResult | _Bisect:
        """One delivery of `messages`: its result, or the refusal that would have to be bisected."""
        try:
            status, attempts, sent_bytes = self._deliver(messages)
        except _Bisect as refusal:
            return refusal
        return BatchResult(True, status, attempts, sent_bytes, [m["messageId"] for m in messages])

    def _settle(self, refusal: _Bisect, halves: list[list[Message]], answers: list[BatchResult | _Bisect]
                ) -> BatchResult:
        """One result for a refused batch: accepted halves as they are, refused ones bisected further."""
        results = [self._bisect(half, answer) if isinstance(answer, _Bisect) else answer
                   for half, answer in zip(halves, answers, strict=True)]
        rejected = [item for result in results for item in result.rejected]
        return BatchResult(
            accepted=not rejected,
            status=refusal.status if rejected else 200,
            attempts=refusal.attempts + sum(r.attempts for r in results),
            bytes=sum(r.bytes for r in results),
            message_ids=[i for result in results for i in result.message_ids],
            error=f"{len(rejected)} message(s) refused by Segment" if rejected else None,
            rejected=rejected,
        )

    def _deliver(self, messages: list[Message]) -> tuple[int, int, int]:
        """POST until Segment answers 2xx; returns (status, attempts, uncompressed bytes of the last body)."""
        attempts = hung = 0
        while True:
            attempts += 1
            try:
                status, sent_bytes = self._attempt(messages, attempts - 1)
                return status, attempts, sent_bytes
            except _Bisect as refusal:
                refusal.attempts = attempts
                raise
            except _Retry as failure:
                hung += failure.hung
                if hung > READ_TIMEOUT_RETRIES:
                    raise ServiceUnavailable(
                        f"Segment {self.url} did not answer within {self.timeout:g} s, {hung} times",
                        hint="nothing was lost; the next run re-sends with the same messageIds",
                    ) from None
                if attempts > self.max_retries:
                    raise ServiceUnavailable(
                        f"Segment {self.url} still failing after {attempts} attempts (last: {failure.detail})",
                        hint="nothing was lost; the next run re-sends with the same messageIds",
                    ) from None
                self.sleep(self._wait_s(failure, attempts))

    def _wait_s(self, failure: _Retry, attempts: int) -> float:
        if failure.wait_s is not None:
            return min(max(failure.wait_s, 0.0), RETRY_AFTER_CAP_S)
        return self._rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempts - 1)))

    def _envelope(self, messages: list[Message], sent_at: str) -> dict[str, Any]:
        body: dict[str, Any] = {"batch": messages, "sentAt": sent_at, "context": self.context}
        if self.integrations:
            body["integrations"] = self.integrations
        return body

    def _attempt(self, messages: list[Message], retry_count: int) -> tuple[int, int]:
        sent_at = iso_timestamp()
        for message in messages:  # re-stamped every attempt so Segment's clock-skew fix stays right
            message["sentAt"] = sent_at
        raw = json.dumps(self._envelope(messages, sent_at)).encode()
        headers = {
            "Authorization": self._auth,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "X-Retry-Count": str(retry_count),
        }
        with self._lock:
            self.requests += 1
        started = time.monotonic()
        note = f"{len(messages)} msgs {len(raw):,} B attempt {retry_count + 1}"
        try:
            response = self.session.post(
                self.url, data=gzip.compress(raw, mtime=0), headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            log_call("POST", self.url, type(exc).__name__, time.monotonic() - started, note)
            unusable = first_contact_error(self.session, self.url, exc, "Segment endpoint", "segment_endpoint")
            if unusable is not None:
                raise unusable from None
            hung = isinstance(exc, requests.exceptions.ReadTimeout)
            raise _Retry(None, describe_transport_error(exc, self.timeout), hung=hung) from None
        log_call("POST", self.url, response.status_code, time.monotonic() - started, note)
        status = response.status_code
        if 200 <= status < 300:
            return status, len(raw)
        detail = f"HTTP {status}"
        snippet = redact(response.text[:200].strip()) if response.text else ""
        if status == 429:
            raise _Retry(status, detail, retry_after_s(response.headers))
        if status in RETRY_STATUSES or (status >= 500 and status not in (501, 505)):
            raise _Retry(status, detail)
        if status in BISECT_STATUSES:
            raise _Bisect(status, snippet)
        raise SegmentError(f"Segment refused the batch with HTTP {status}{_hint(status)}"
                           + (f": {snippet}" if snippet else ""))


def _halves(messages: list[Message]) -> list[list[Message]]:
    middle = len(messages) // 2
    return [messages[:middle], messages[middle:]]


def _request_refused(refusal: _Bisect, size: int) -> SegmentError:
    where = "a batch of one message" if size == 1 else f"a batch of {size:,} messages and both its halves"
    detail = f": {refusal.detail}" if refusal.detail else ""
    return SegmentError(
        f"Segment refused {where} with HTTP {refusal.status}, so the request itself is refused, not a message "
        f"in it{detail}",
        hint="check the write key, the endpoint/region and that the Segment source is enabled; no message of "
             "the batch was rejected, and the next run sends them again",
    )


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (check the write key: SEGMARKETO_SEGMENT_WRITE_KEY or 'segmarketo auth set')"
    if status == 404:
        return " (check the Segment endpoint/region: SEGMARKETO_SEGMENT_ENDPOINT)"
    return ""
