"""Sandbox Segment /v1/batch: auth, size limits, silent per-message drops, dedupe, timestamps, faults."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime

import pytest
import requests

from segmarketo_cli.sandbox import Sandbox, SandboxConfig

KEY = "wk-123"


def basic(key: str = KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def track(i: int = 0, **extra) -> dict:
    return {"type": "track", "userId": f"u{i}", "event": "Email Opened", "messageId": f"m-{i}", **extra}


@pytest.fixture
def box():
    with Sandbox(write_key=KEY) as sandbox:
        yield sandbox


def post(box: Sandbox, body: dict, headers: dict | None = None) -> requests.Response:
    return requests.post(f"{box.url}/v1/batch", json=body, headers=headers if headers is not None else basic())


def test_accepts_basic_auth_and_gzip_and_body_write_key(box):
    body = gzip.compress(json.dumps({"batch": [track(1)]}).encode())
    reply = requests.post(f"{box.url}/v1/batch", data=body,
                          headers={**basic(), "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert reply.status_code == 200
    assert reply.json() == {"success": True}
    assert post(box, {"writeKey": KEY, "batch": [track(2)]}, headers={}).status_code == 200
    assert [m["messageId"] for m in box.segment.accepted] == ["m-1", "m-2"]
    assert box.segment.requests == 2
    assert "writeKey" not in box.segment.batches[1]


def test_unknown_key_is_200_unless_strict_and_empty_key_is_400(box):
    assert post(box, {"batch": [track()]}, headers=basic("other")).status_code == 200
    assert post(box, {"batch": [track(1)]}, headers={}).status_code == 400
    assert post(box, {"batch": [track(1)]}, headers=basic("")).status_code == 400
    with Sandbox(write_key=KEY, config=SandboxConfig(strict_write_key=True)) as strict:
        assert post(strict, {"batch": [track()]}, headers=basic("other")).status_code == 401
        assert post(strict, {"batch": [track()]}).status_code == 200


def test_size_limits_and_invalid_json(box):
    assert post(box, {"batch": [track(0, properties={"x": "y" * 33_000})]}).status_code == 400
    big = [track(i, properties={"x": "y" * 1000}) for i in range(600)]
    assert post(box, {"batch": big}).status_code == 400
    bad = requests.post(f"{box.url}/v1/batch", data=b"{nope", headers={**basic(), "Content-Type": "application/json"})
    assert bad.status_code == 400
    assert box.segment.accepted == []


def test_more_than_2500_items_is_200_with_all_rejected(box):
    reply = post(box, {"batch": [{"type": "track", "userId": "u", "event": "E"} for _ in range(2501)]})
    assert reply.status_code == 200
    assert box.segment.accepted == []
    assert len(box.segment.dropped) == 2501
    assert box.segment.dropped[0][1] == "batch_too_many_messages"


def test_per_message_drops_assignments_and_dedupe(box):
    batch = [
        {"userId": "u", "event": "E", "messageId": "no-type"},
        {"type": "track", "event": "E", "messageId": "no-user"},
        {"type": "track", "userId": "u", "messageId": "no-event"},
        {"type": "track", "userId": "u", "event": "E", "messageId": "x" * 100},
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "a@example.com"}},
        track(7),
        track(7),
    ]
    assert post(box, {"batch": batch}).status_code == 200
    reasons = [reason for _, reason in box.segment.dropped]
    assert reasons == ["invalid_type", "no_user_anon_id", "missing_event", "message_id_too_long",
                       "duplicate_message_id"]
    assert len(box.segment.accepted) == 2
    assert box.segment.accepted[0]["messageId"]
    post(box, {"batch": [track(7)]})
    assert box.segment.dropped[-1][1] == "duplicate_message_id"
    events = requests.get(f"{box.url}/_sandbox/segment/events").json()
    assert len(events["accepted"]) == 2
    assert events["dropped"][0]["reason"] == "invalid_type"


def test_timestamp_is_corrected_by_sent_at_and_context_merged(box):
    message = track(1, timestamp="2025-05-30T09:00:00.000Z", context={"traits": {"email": "a@example.com"}})
    post(box, {"batch": [message], "sentAt": "2025-05-30T10:00:00.000Z", "context": {"library": {"name": "t"}},
               "integrations": {"Marketo V2": False}})
    kept = box.segment.accepted[0]
    received = datetime.fromisoformat(kept["receivedAt"].replace("Z", "+00:00"))
    timestamp = datetime.fromisoformat(kept["timestamp"].replace("Z", "+00:00"))
    assert round((received - timestamp).total_seconds()) == 3600
    assert kept["originalTimestamp"] == "2025-05-30T09:00:00.000Z"
    assert kept["context"] == {"library": {"name": "t"}, "traits": {"email": "a@example.com"}}
    assert kept["integrations"] == {"Marketo V2": False}


def test_segment_faults_and_wrong_region(box):
    box.faults.add(429, path="/v1/batch", retry_after=2)
    box.faults.add(500, path="/v1/batch")
    box.faults.add("reset", path="/v1/batch")
    limited = post(box, {"batch": [track()]})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.headers["X-RateLimit-Reset"] == "2"
    assert post(box, {"batch": [track()]}).status_code == 500
    with pytest.raises(requests.ConnectionError):
        post(box, {"batch": [track()]})
    assert post(box, {"batch": [track()]}).status_code == 200
    assert len(box.segment.accepted) == 1
    with Sandbox(config=SandboxConfig(wrong_region=True)) as lost:
        assert post(lost, {"batch": [track()]}).status_code == 200
        assert lost.segment.accepted == []
        assert lost.segment.requests == 1


def test_request_level_refusal_answers_400_to_every_batch_and_stores_nothing():
    with Sandbox(write_key=KEY, config=SandboxConfig(segment_refuse_requests="source_disabled")) as refusing:
        for batch in ([track(1)], [track(2), track(3)]):
            reply = post(refusing, {"batch": batch})
            assert reply.status_code == 400
            assert reply.json()["code"] == "source_disabled"
        assert refusing.segment.accepted == []
        assert refusing.segment.dropped == []
        assert refusing.segment.requests == 2
        refusing.config.segment_refuse_requests = ""
        assert post(refusing, {"batch": [track(1)]}).status_code == 200
