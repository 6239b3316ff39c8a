"""SIGKILL under load: every acknowledged event is on disk, and after a restart each event has one effect."""

from __future__ import annotations

import signal
import threading
from collections import Counter

import pytest
import requests

from tests.listen.receiver import (
    SEATS_RULE,
    Receiver,
    lead_scores,
    seats_added,
    spool_rows,
    wait_until,
    write_profile,
)

pytestmark = pytest.mark.slow  # hundreds of events through apply-events, twice

EMAILS = ["ann.adams0@example.com", "bo.haddad1@example.com", "chen.obrien2@example.com",
          "dana.fischer3@example.com", "emeka.muller4@example.com", "farah.diaz5@example.com"]
EVENTS = [seats_added(n, EMAILS[n % len(EMAILS)]) for n in range(300)]


def _post_all(receiver: Receiver, acked: list[str], stop_after: int | None = None,
              killed: threading.Event | None = None) -> None:
    for event in EVENTS:
        try:
            reply = receiver.post(event)
        except requests.RequestException:
            return  # the receiver is gone
        if reply.status_code == 200:
            acked.append(event["messageId"])
        if stop_after is not None and killed is not None and len(acked) == stop_after:
            killed.set()


def test_sigkill_under_load_loses_no_acknowledged_event_and_applies_none_twice(box, isolated_home):
    write_profile(isolated_home, rules=SEATS_RULE, flush_seconds=0.2, flush_events=40)
    before = lead_scores(box)
    first = Receiver(box, isolated_home)
    acked: list[str] = []
    halfway = threading.Event()
    sender = threading.Thread(target=_post_all, args=(first, acked, 150, halfway))
    sender.start()
    assert halfway.wait(timeout=120)
    first.proc.send_signal(signal.SIGKILL)  # mid-intake, most likely mid-flush too
    first.proc.wait(timeout=30)
    sender.join(timeout=60)
    spooled = {message_id for message_id, _kind in spool_rows(isolated_home)}
    assert set(acked) <= spooled

    second = Receiver(box, isolated_home)  # Segment retries every event, acknowledged or not
    retried: list[str] = []
    _post_all(second, retried)
    assert len(retried) == len(EVENTS)
    wait_until(lambda: not spool_rows(isolated_home, pending_only=True), timeout=240, what="the spool drained")
    assert second.stop() == 0
    per_lead = Counter(event["context"]["traits"]["email"] for event in EVENTS)
    after = lead_scores(box)
    assert {email: after[email] - before[email] for email in EMAILS} == dict(per_lead)
