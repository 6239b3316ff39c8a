"""Wrongly typed common Spec fields are malformed records with a reason in every job, never a crash."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli.sources.shape import shape_problem
from tests.support.rules import USAGE_FLAT

WEIRD = [
    {"type": "identify", "userId": ["a", "b"], "traits": {"email": "w1@example.com"}, "messageId": "w1",
     "timestamp": "2026-11-01T10:00:00Z"},
    {"type": "track", "userId": {"x": 1}, "event": "Report Created", "messageId": "w2",
     "timestamp": "2026-11-01T10:00:00Z"},
    {"type": "track", "userId": "u1", "event": "Report Created", "properties": "text", "messageId": "w3",
     "timestamp": "2026-11-01T10:00:00Z"},
    {"type": "track", "userId": "u1", "event": ["Report Created"], "messageId": "w4",
     "timestamp": "2026-11-01T10:00:00Z"},
    {"type": "track", "userId": "u1", "event": "Report Created", "context": "bad", "messageId": "w5",
     "timestamp": "2026-11-01T10:00:00Z"},
]
REASONS = [
    "'userId' is an array, expected a string",
    "'userId' is an object, expected a string",
    "'properties' is a string, expected an object",
    "'event' is an array, expected a string",
    "'context' is a string, expected an object",
]
@pytest.mark.parametrize(("message", "reason"), list(zip(WEIRD, REASONS, strict=True)))
def test_shape_problem_names_the_field_and_the_type(message, reason):
    assert shape_problem(message) == reason


@pytest.mark.parametrize("key", ["userId", "anonymousId", "previousId"])
def test_an_id_holding_a_lone_surrogate_is_malformed(key):
    message = {"type": "alias", "userId": "u", key: "a\udc01b"}  # as json.loads reads "a\\udc01b"
    assert shape_problem(message) == f"'{key}' holds a lone surrogate (\\udc01), which is not text"
    assert shape_problem({"type": "alias", key: "a\U0001f600b"}) is None  # a pair is text


def test_well_formed_messages_pass():
    assert shape_problem({"type": "track", "userId": 42, "messageId": 7, "event": "X", "properties": {}}) is None
    assert shape_problem({"userId": "u", "traits": {"email": "a@b.co"}}) is None
    assert shape_problem(["not", "an", "object"]) == "the message is an array, expected an object"


def _rejects(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_apply_events_rejects_wrongly_typed_fields_with_file_line(invoke, sandbox, tmp_path):
    events = tmp_path / "weird.jsonl"
    events.write_text("".join(json.dumps(m) + "\n" for m in WEIRD))
    rules = tmp_path / "rules.toml"
    rules.write_text(USAGE_FLAT)
    rejects = tmp_path / "rejects.jsonl"
    result = invoke("apply-events", str(events), "--rules", str(rules), "--json", "--rejects", str(rejects))
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert report["counts"]["malformed"] == 5
    assert "imbalances" not in report
    assert [(r["origin"], r["reason"]) for r in _rejects(rejects)] == [
        (f"{events}:{n}", reason) for n, reason in enumerate(REASONS, start=1)
    ]


def test_sync_audience_events_reject_wrongly_typed_fields(invoke, sandbox, tmp_path):
    sandbox.marketo.add_list("Trial Users")
    events = tmp_path / "weird.jsonl"
    events.write_text("".join(json.dumps(m) + "\n" for m in WEIRD))
    rejects = tmp_path / "rejects.jsonl"
    result = invoke("sync-audience", str(events), "--list", "Trial Users", "--mode", "delta", "--audience", "x",
                    "--json", "--rejects", str(rejects))
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["counts"]["rejected"] == 5
    assert "imbalances" not in report
    assert sorted(r["reason"] for r in _rejects(rejects)) == sorted(REASONS)
