"""Bad requests are refused with the right status and a JSON reason; nothing is spooled, nothing crashes."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest

from tests.listen.receiver import SHARED_SECRET, TOKEN, identify, sign, spool_rows, write_profile

BIG = {"type": "identify", "messageId": "big", "traits": {"email": "big@example.com", "blob": "x" * 70_000}}


@pytest.mark.parametrize(("what", "send", "status"), [
    ("unsigned", lambda r: r.post(identify(1), signed=False), 401),
    ("wrong signature", lambda r: r.post(identify(1), signed=False, headers={"X-Signature": sign(b"other")}), 401),
    ("wrong token", lambda r: r.post(identify(1), signed=False, headers={"Authorization": "Bearer nope"}), 401),
    ("oversized", lambda r: r.post(BIG), 413),
    ("malformed JSON", lambda r: r.post(b'{"type": "identify",'), 400),
    ("not an event", lambda r: r.post({"hello": "world"}), 400),
    ("an array of non-events", lambda r: r.post([1, 2]), 400),
    ("empty batch", lambda r: r.post({"batch": []}), 400),
    ("wrong method", lambda r: r.session.get(r.url + "/", timeout=10), 405),
    ("unknown path", lambda r: r.post(identify(1), path="/admin"), 404),
], ids=lambda value: value if isinstance(value, str) else "")
def test_refused_and_nothing_spooled(receiver, what, send, status):
    reply = send(receiver)
    assert reply.status_code == status
    assert set(reply.json()) == {"error"}
    assert SHARED_SECRET not in reply.text
    assert TOKEN not in reply.text
    assert spool_rows(receiver.home) == []
    assert receiver.post(identify(2)).status_code == 200  # the receiver still serves
    assert receiver.stop() == 0
    assert "Traceback" not in receiver.stderr()


def test_an_oversized_body_without_content_length_is_cut_at_the_limit(receiver):
    def chunks():
        yield json.dumps(BIG).encode()

    reply = receiver.session.post(receiver.url + "/", data=chunks(), timeout=10,
                                  headers={"X-Signature": sign(json.dumps(BIG).encode())})
    assert reply.status_code == 413
    assert spool_rows(receiver.home) == []


def test_503_with_retry_after_when_the_spool_is_full(box, isolated_home):
    from tests.listen.receiver import Receiver

    write_profile(isolated_home, flush_seconds=3600, flush_events=100_000, max_spool_bytes=1000)
    receiver = Receiver(box, isolated_home)
    replies = [receiver.post(identify(n)) for n in range(20)]
    codes = [reply.status_code for reply in replies]
    assert codes[0] == 200
    assert 503 in codes
    refused = replies[codes.index(503)]
    assert refused.headers["Retry-After"] == "60"
    accepted = {f"listen-id-{n}" for n, code in enumerate(codes) if code == 200}
    assert {row[0] for row in spool_rows(isolated_home)} == accepted
    assert receiver.stop() == 0


def test_a_spool_that_cannot_be_written_answers_503_and_acknowledges_nothing(receiver):
    spool = receiver.home / "state" / "listen" / "default" / "spool.sqlite"
    with closing(sqlite3.connect(spool, timeout=10)) as db:  # every insert fails, as on a full disk
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    refused = receiver.post(identify(1))
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "60"
    with closing(sqlite3.connect(spool, timeout=10)) as db:
        db.execute("DROP TRIGGER refuse")
    assert spool_rows(receiver.home) == []
    assert receiver.post(identify(1)).status_code == 200  # Segment's retry succeeds
    assert spool_rows(receiver.home) == [("listen-id-1", "identify")]
    assert receiver.stop() == 0
    assert "Traceback" not in receiver.stderr()
    assert "write failed" in receiver.stderr()
