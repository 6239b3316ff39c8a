"""What a flush does: audiences through sync-audience's delta mode, tracks through apply-events' rules, waits."""

from __future__ import annotations

from tests.listen.receiver import (
    SEATS_RULE,
    Receiver,
    audience,
    identify,
    lead_scores,
    list_members,
    metric,
    seats_added,
    spool_rows,
    wait_until,
    write_profile,
)


def test_audience_entries_and_exits_move_list_membership(box, receiver):
    assert "ann.adams0@example.com" not in list_members(box, "High Value Users")
    reply = receiver.post({"batch": [audience(1, "ann.adams0@example.com", entered=True),
                                     audience(2, "chen.obrien2@example.com", entered=False),
                                     audience(3, "bo.haddad1@example.com", entered=True, key="unmapped")]})
    assert reply.status_code == 200
    wait_until(lambda: not spool_rows(receiver.home, pending_only=True), what="the spool drained")
    members = list_members(box, "High Value Users")
    assert "ann.adams0@example.com" in members
    assert "chen.obrien2@example.com" not in members
    assert "gus.khan6@example.com" in members  # delta mode keeps the members no event is about
    assert "bo.haddad1@example.com" not in members
    assert metric(receiver, "ignored_total") == 1


def test_tracks_go_through_the_profiles_rules_once(box, isolated_home):
    write_profile(isolated_home, rules=SEATS_RULE)
    receiver = Receiver(box, isolated_home)
    before = lead_scores(box)["dana.fischer3@example.com"]
    events = [seats_added(n, "dana.fischer3@example.com", seats=2) for n in range(3)]
    assert receiver.post({"batch": events}).status_code == 200
    assert receiver.post(events[0]).status_code == 200  # a Segment retry
    wait_until(lambda: lead_scores(box)["dana.fischer3@example.com"] == before + 6, what="the score")
    wait_until(lambda: not spool_rows(isolated_home, pending_only=True), what="the spool drained")
    assert lead_scores(box)["dana.fischer3@example.com"] == before + 6
    assert receiver.stop() == 0


def test_a_spent_quota_keeps_the_events_and_the_drain_resumes(box, isolated_home):
    write_profile(isolated_home)
    box.faults.add("607", times=10_000)  # Marketo's daily quota is gone
    receiver = Receiver(box, isolated_home)
    assert receiver.post(identify(1)).status_code == 200
    wait_until(lambda: metric(receiver, 'flushes_total{outcome="deferred"}') >= 1, what="a deferred flush")
    assert spool_rows(isolated_home, pending_only=True) == [("listen-id-1", "identify")]
    assert receiver.post(identify(2)).status_code == 200  # still accepting
    box.faults.clear()
    wait_until(lambda: not spool_rows(isolated_home, pending_only=True), timeout=120, what="the spool drained")
    emails = set(lead_scores(box))
    assert {"listener1@example.com", "listener2@example.com"} <= emails
    assert receiver.stop() == 0
