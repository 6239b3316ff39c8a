"""BatchSender: splitting, auth, gzip, sentAt stamping, retries, bisection (fake session) and the sandbox."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import random

import pytest
import requests

from segmarketo_cli.errors import SegmentError, ServiceUnavailable
from segmarketo_cli.segment import spec
from segmarketo_cli.segment.sender import MAX_BATCH_BYTES, BatchSender

WRITE_KEY = "wk-test-0123456789"


class FakeResponse:
    def __init__(self, status: int, text: str = '{"success": true}', headers: dict | None = None) -> None:
        self.status_code = status
        self.text = text
        self.headers = headers or {}


class FakeSession:
    """Answers each POST from a script (or a function of the body) and keeps every decoded request."""

    def __init__(self, script=None, answer=None) -> None:
        self.script = list(script or [])
        self.answer = answer
        self.calls: list[dict] = []

    def post(self, url, data, headers, timeout):
        body = json.loads(gzip.decompress(data))
        self.calls.append({"url": url, "headers": dict(headers), "body": body, "raw": data})
        if self.answer is not None:
            return self.answer(body)
        item = self.script.pop(0) if self.script else FakeResponse(200)
        if isinstance(item, Exception):
            raise item
        return item


def track(i: int, size: int = 0, **extra) -> dict:
    props = {"n": i}
    if size:
        props["pad"] = "x" * size
    return spec.track("Email Opened", message_id=f"mkto-123-ABC-456-{i}", user_id=f"u{i}", properties=props, **extra)


def make(session, **kwargs) -> tuple[BatchSender, list[float]]:
    sleeps: list[float] = []
    sender = BatchSender("https://api.segment.io/", WRITE_KEY, session=session, sleep=sleeps.append,
                         rng=random.Random(7), **kwargs)
    return sender, sleeps


# --- spec helpers --------------------------------------------------------------------------------

def test_message_ids_are_deterministic_and_bounded():
    assert spec.activity_message_id("123-ABC-456", "102988") == "mkto-123-ABC-456-102988"
    with pytest.raises(ValueError, match="under 100"):
        spec.activity_message_id("123-ABC-456", "g" * 90)


def test_iso_timestamp_formats():
    assert spec.iso_timestamp("2023-01-16T23:32:19Z") == "2023-01-16T23:32:19.000Z"
    assert spec.iso_timestamp("2023-01-16T17:32:19.5-06:00") == "2023-01-16T23:32:19.500Z"
    assert spec.iso_timestamp(0) == "1970-01-01T00:00:00.000Z"
    with pytest.raises(ValueError):
        spec.iso_timestamp("yesterday")


def test_track_builder_requires_identity_and_event():
    message = spec.track("Email Opened", message_id="m1", anonymous_id="marketo:5", timestamp="2025-05-30T09:15:12Z")
    assert message == {"type": "track", "event": "Email Opened", "anonymousId": "marketo:5", "properties": {},
                       "timestamp": "2025-05-30T09:15:12.000Z", "messageId": "m1"}
    with pytest.raises(ValueError):
        spec.track("Email Opened", message_id="m1")


# --- splitting -------------------------------------------------------------------------------------

def test_split_caps_batches_at_2500_messages():
    sender, _ = make(FakeSession())
    batches, rejected = sender.split(track(i) for i in range(6000))
    assert [len(b) for b in batches] == [2500, 2500, 1000]
    assert rejected == []


def test_split_caps_batches_at_475000_bytes_and_fills_them():
    sender, _ = make(FakeSession())
    messages = [track(i, size=20_000) for i in range(100)]
    batches, rejected = sender.split(messages)
    assert not rejected
    assert sum(len(b) for b in batches) == 100
    for batch in batches:
        body = json.dumps(sender._envelope(batch, spec.iso_timestamp())).encode()
        assert len(body) <= MAX_BATCH_BYTES
    assert len(json.dumps(sender._envelope(batches[0], spec.iso_timestamp())).encode()) > MAX_BATCH_BYTES - 21_000


def test_split_rejects_oversize_and_bad_messages_with_reasons():
    sender, _ = make(FakeSession())
    big = track(1, size=33_000)
    no_id = {**track(2)}
    del no_id["messageId"]
    long_id = {**track(3), "messageId": "m" * 100}
    anonymous = {"type": "track", "event": "X", "messageId": "m4"}
    odd = {**track(6), "properties": {"when": object()}}
    batches, rejected = sender.split([big, no_id, long_id, anonymous, track(5), odd])
    assert [len(b) for b in batches] == [1]
    reasons = [reason for _, reason in rejected]
    assert "Segment accepts at most 32,768" in reasons[0]
    assert reasons[1] == "messageId is missing"
    assert "100 characters" in reasons[2]
    assert "no_user_anon_id" in reasons[3]
    assert reasons[4].startswith("message is not JSON-serialisable")


def test_split_freezes_messages_against_caller_edits():
    sender, _ = make(FakeSession())
    message = track(1)
    batches, _ = sender.split([message])
    message["event"] = "changed"
    assert batches[0][0]["event"] == "Email Opened"


# --- wire format ---------------------------------------------------------------------------------------

def test_batch_is_gzipped_basic_auth_without_write_key_in_body():
    session = FakeSession()
    sender, _ = make(session)
    result = sender.send_batch(sender.split([track(1), track(2)])[0][0])
    assert result.accepted
    assert result.status == 200
    assert result.attempts == 1
    assert result.message_ids == ["mkto-123-ABC-456-1", "mkto-123-ABC-456-2"]
    call = session.calls[0]
    assert call["url"] == "https://api.segment.io/v1/batch"
    assert call["headers"]["Authorization"] == "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    assert call["headers"]["Content-Encoding"] == "gzip"
    assert call["headers"]["Content-Type"] == "application/json"
    assert WRITE_KEY not in gzip.decompress(call["raw"]).decode()
    body = call["body"]
    assert "writeKey" not in body
    assert body["context"]["library"] == {"name": "segmarketo", "version": spec.LIBRARY["version"]}
    assert body["integrations"] == {"Marketo V2": False, "Marketo Static Lists (Actions)": False}
    assert all(item["sentAt"] == body["sentAt"] for item in body["batch"])
    assert result.bytes == len(gzip.decompress(call["raw"]))
    assert sender.requests == 1


def test_sent_at_is_restamped_on_each_attempt(monkeypatch):
    stamps = iter(["2025-06-01T12:00:00.000Z", "2025-06-01T12:05:00.000Z"])
    monkeypatch.setattr("segmarketo_cli.segment.sender.iso_timestamp", lambda *a: next(stamps))
    session = FakeSession([FakeResponse(503)])
    sender, _ = make(session)
    sender.send_batch(sender.split([track(1)])[0][0])
    first, second = (c["body"] for c in session.calls)
    assert first["sentAt"] == first["batch"][0]["sentAt"] == "2025-06-01T12:00:00.000Z"
    assert second["sentAt"] == second["batch"][0]["sentAt"] == "2025-06-01T12:05:00.000Z"
    assert first["batch"][0]["messageId"] == second["batch"][0]["messageId"]


# --- retries -----------------------------------------------------------------------------------------

def test_429_waits_retry_after_capped_at_300_s():
    session = FakeSession([FakeResponse(429, headers={"Retry-After": "7"}),
                           FakeResponse(429, headers={"Retry-After": "9999"}),
                           FakeResponse(429, headers={"X-RateLimit-Reset": "3"})])
    sender, sleeps = make(session)
    result = sender.send_batch(sender.split([track(1)])[0][0])
    assert result.accepted
    assert result.attempts == 4
    assert sleeps == [7.0, 300.0, 3.0]
    assert [c["headers"]["X-Retry-Count"] for c in session.calls] == ["0", "1", "2", "3"]


@pytest.mark.parametrize("failure", [FakeResponse(500), FakeResponse(408), FakeResponse(410), FakeResponse(460),
                                     requests.ConnectionError("reset"), requests.Timeout("slow")])
def test_transient_failures_retry_with_full_jitter_backoff(failure):
    session = FakeSession([failure, failure, failure])
    sender, sleeps = make(session)
    result = sender.send_batch(sender.split([track(1)])[0][0])
    assert result.accepted
    assert result.attempts == 4
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [1, 2, 4], strict=True))


def test_backoff_never_exceeds_60_s():
    sender, sleeps = make(FakeSession([FakeResponse(502)] * 12), max_retries=12)
    sender.send_batch(sender.split([track(1)])[0][0])
    assert max(sleeps) <= 60
    assert len(sleeps) == 12


def test_retries_exhausted_raise_service_unavailable():
    session = FakeSession([FakeResponse(503)] * 5)
    sender, sleeps = make(session, max_retries=2)
    with pytest.raises(ServiceUnavailable, match="3 attempts") as info:
        sender.send_batch(sender.split([track(1)])[0][0])
    assert info.value.exit_code == 75
    assert len(session.calls) == 3


@pytest.mark.parametrize("status", [401, 403, 404, 422, 418, 501])
def test_fatal_statuses_raise_segment_error_without_the_key(status):
    session = FakeSession([FakeResponse(status, text=f"bad key {WRITE_KEY}")])
    sender, _ = make(session)
    with pytest.raises(SegmentError) as info:
        sender.send_batch(sender.split([track(1)])[0][0])
    assert f"HTTP {status}" in str(info.value)
    assert WRITE_KEY not in str(info.value)
    assert len(session.calls) == 1


# --- bisection -----------------------------------------------------------------------------------------

def test_400_bisects_down_to_the_lone_bad_message():
    def answer(body):
        ids = [m["messageId"] for m in body["batch"]]
        return FakeResponse(400, text='{"code":"invalid"}') if "mkto-123-ABC-456-5" in ids else FakeResponse(200)

    session = FakeSession(answer=answer)
    sender, _ = make(session)
    result = sender.send_batch(sender.split(track(i) for i in range(8))[0][0])
    assert not result.accepted
    assert sorted(result.message_ids) == sorted(f"mkto-123-ABC-456-{i}" for i in range(8) if i != 5)
    assert [(m["messageId"], r) for m, r in result.rejected] == [
        ("mkto-123-ABC-456-5", 'Segment refused the message: HTTP 400 {"code":"invalid"}')]
    # 1 whole + 2 halves + 2 quarters + 2 eighths on the bad side only
    assert len(session.calls) == 7


def test_400_to_the_batch_and_both_halves_is_a_request_level_refusal():
    session = FakeSession(answer=lambda body: FakeResponse(400, text='{"code":"source_disabled"}'))
    sender, _ = make(session)
    with pytest.raises(SegmentError) as info:
        sender.send_batch(sender.split(track(i) for i in range(8))[0][0])
    assert info.value.exit_code == 1
    assert "HTTP 400" in str(info.value)
    assert "source_disabled" in str(info.value)
    assert "\n" not in str(info.value)
    # the whole batch, then each half once: nothing is split further or pinned on a message
    assert [len(c["body"]["batch"]) for c in session.calls] == [8, 4, 4]


def test_400_to_a_lone_message_batch_is_a_request_level_refusal():
    session = FakeSession([FakeResponse(400, text='{"code":"invalid"}')])
    sender, _ = make(session)
    with pytest.raises(SegmentError, match="HTTP 400"):
        sender.send_batch(sender.split([track(1)])[0][0])
    assert len(session.calls) == 1


def test_once_a_half_is_accepted_bisection_isolates_every_bad_message():
    bad = {"mkto-123-ABC-456-4", "mkto-123-ABC-456-6"}

    def answer(body):
        ids = {m["messageId"] for m in body["batch"]}
        return FakeResponse(400) if ids & bad else FakeResponse(200)

    session = FakeSession(answer=answer)
    sender, _ = make(session)
    result = sender.send_batch(sender.split(track(i) for i in range(8))[0][0])
    assert sorted(m["messageId"] for m, _ in result.rejected) == sorted(bad)
    assert sorted(result.message_ids) == sorted(f"mkto-123-ABC-456-{i}" for i in (0, 1, 2, 3, 5, 7))
    assert not result.accepted


def test_413_on_whole_batch_then_halves_accepted():
    session = FakeSession([FakeResponse(413)])
    sender, _ = make(session)
    result = sender.send_batch(sender.split(track(i) for i in range(4))[0][0])
    assert result.accepted
    assert len(result.message_ids) == 4
    assert result.rejected == []
    assert [len(c["body"]["batch"]) for c in session.calls] == [4, 2, 2]


def test_debug_log_has_one_line_per_request_without_secret():
    logger = logging.getLogger("segmarketo.http")
    lines: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    level, logger_level = logger.level, logging.getLogger("segmarketo").level
    logger.setLevel(logging.DEBUG)
    try:
        sender, _ = make(FakeSession([FakeResponse(500)]))
        sender.send_batch(sender.split([track(1)])[0][0])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert len(lines) == 2
    assert "POST /v1/batch -> 500" in lines[0]
    assert "-> 200" in lines[1]
    assert "1 msgs" in lines[0]
    assert all(WRITE_KEY not in line for line in lines)
    assert logging.getLogger("segmarketo").level == logger_level


# --- against the sandbox's /v1/batch -------------------------------------------------------------------

def sandbox_sender(sleeps: list[float] | None = None, **kwargs) -> BatchSender:
    """The sender as jobs get it (services.build_segment from the environment the fixture set)."""
    from segmarketo_cli.config import load_settings
    from segmarketo_cli.jobs.services import build_segment

    sender = build_segment(load_settings())
    sender.sleep = sleeps.append if sleeps is not None else sender.sleep
    for name, value in kwargs.items():
        setattr(sender, name, value)
    return sender


def accepted_ids(box) -> list[str]:
    return [m["messageId"] for m in box.segment.accepted]


def test_sandbox_accepts_batches_with_batch_level_context_and_integrations(sandbox):
    sender = sandbox_sender()
    batches, rejected = sender.split(track(i) for i in range(2600))
    results = [sender.send_batch(batch) for batch in batches]
    assert [len(r.message_ids) for r in results] == [2500, 100]
    assert rejected == []
    assert sorted(accepted_ids(sandbox)) == sorted(f"mkto-123-ABC-456-{i}" for i in range(2600))
    assert sandbox.segment.dropped == []
    assert sandbox.segment.requests == sender.requests == 2
    first = sandbox.segment.accepted[0]
    assert first["integrations"] == {"Marketo V2": False, "Marketo Static Lists (Actions)": False}
    assert first["context"]["library"]["name"] == "segmarketo"
    assert all("writeKey" not in batch for batch in sandbox.segment.batches)


def test_sandbox_429_with_retry_after_then_accepted(sandbox):
    sandbox.faults.add(429, path="/v1/batch", retry_after=0.25)
    sleeps: list[float] = []
    result = sandbox_sender(sleeps).send_batch(sandbox_sender().split([track(1), track(2)])[0][0])
    assert result.accepted
    assert result.attempts == 2
    assert sleeps == [0.25]
    assert accepted_ids(sandbox) == ["mkto-123-ABC-456-1", "mkto-123-ABC-456-2"]


def test_sandbox_500_and_reset_retried_nothing_duplicated(sandbox):
    sandbox.faults.add(500, times=2, path="/v1/batch")
    sandbox.faults.add("reset", path="/v1/batch")
    sleeps: list[float] = []
    sender = sandbox_sender(sleeps)
    batches, _ = sender.split(track(i, size=3000) for i in range(400))
    results = [sender.send_batch(batch) for batch in batches]
    assert len(results) > 1
    assert all(r.accepted for r in results)
    assert results[0].attempts == 4
    assert len(sleeps) == 3
    ids = accepted_ids(sandbox)
    assert len(ids) == len(set(ids)) == 400
    assert [reason for _, reason in sandbox.segment.dropped] == []


def test_sandbox_retry_restamps_sent_at_so_timestamps_do_not_shift(sandbox):
    sandbox.faults.add(429, path="/v1/batch", retry_after=1)
    message = track(1, timestamp="2025-05-30T09:15:12.000Z")
    sender = sandbox_sender()
    sender.send_batch(sender.split([message])[0][0])
    stored = sandbox.segment.accepted[0]
    # Segment computes timestamp = receivedAt - (sentAt - originalTimestamp); a stale sentAt would shift it by 1 s.
    assert stored["timestamp"][:19] == "2025-05-30T09:15:12"


def test_sandbox_oversize_message_rejected_with_reason_others_sent(sandbox):
    sender = sandbox_sender()
    [batch], [(message, reason)] = sender.split([track(1), track(2, size=40_000), track(3)])
    result = sender.send_batch(batch)
    assert result.accepted
    assert sorted(accepted_ids(sandbox)) == ["mkto-123-ABC-456-1", "mkto-123-ABC-456-3"]
    assert message["messageId"] == "mkto-123-ABC-456-2"
    assert "Segment accepts at most 32,768" in reason


def test_sandbox_400_bisects_to_the_message_segment_refuses(sandbox):
    sender = sandbox_sender()
    batch = [{**track(i), "sentAt": ""} for i in range(6)]
    batch[4]["properties"]["pad"] = "y" * 40_000  # bypasses split's check: the sandbox answers 400
    result = sender.send_batch(batch)
    assert not result.accepted
    assert [m["messageId"] for m, _ in result.rejected] == ["mkto-123-ABC-456-4"]
    assert result.rejected[0][1].startswith("Segment refused the message: HTTP 400")
    assert sorted(accepted_ids(sandbox)) == sorted(f"mkto-123-ABC-456-{i}" for i in range(6) if i != 4)


def test_sandbox_request_level_400_stops_with_a_segment_error_and_rejects_nothing(sandbox):
    sandbox.config.segment_refuse_requests = "source_disabled"
    sender = sandbox_sender()
    with pytest.raises(SegmentError, match="HTTP 400") as info:
        sender.send_batch(sender.split(track(i) for i in range(6))[0][0])
    assert "source_disabled" in str(info.value)
    assert sandbox.segment.requests == 3
    assert accepted_ids(sandbox) == []


def test_sandbox_strict_write_key_401_is_a_segment_error(sandbox):
    sandbox.config.strict_write_key = True
    sender = sandbox_sender()
    with pytest.raises(SegmentError, match="HTTP 401.*check the write key") as info:
        sender.send_batch(sender.split([track(1)])[0][0])
    assert "sandbox-write-key" not in str(info.value)
    assert accepted_ids(sandbox) == []
