"""Signed requests are spooled, acknowledged and end up in Marketo; the receiver's own endpoints answer."""

from __future__ import annotations

import json
import re
import signal

from tests.listen.receiver import SHARED_SECRET, TOKEN, identify, spool_rows, wait_until


def _emails(box) -> set[str]:
    with box.marketo.lock:
        return {str(lead.get("email")) for lead in box.marketo.leads}


def test_signed_single_and_batched_identifies_end_up_in_marketo(receiver, box):
    single = receiver.post(identify(1))
    batched = receiver.post({"batch": [identify(2), identify(3)]})
    array = receiver.post([identify(4)], path="/v1/segment")
    assert single.status_code == 200
    assert batched.json() == {"accepted": 2, "new": 2, "ignored": 0}
    assert array.status_code == 200
    wanted = {f"listener{n}@example.com" for n in (1, 2, 3, 4)}
    wait_until(lambda: wanted <= _emails(box), what="the leads in Marketo")
    wait_until(lambda: not spool_rows(receiver.home, pending_only=True), what="the spool drained")
    assert receiver.stop() == 0
    assert "Traceback" not in receiver.stderr()


def test_a_bearer_token_authenticates_too(receiver, box):
    reply = receiver.post(identify(5), signed=False, headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200
    wait_until(lambda: "listener5@example.com" in _emails(box), what="the lead in Marketo")


def test_a_duplicate_message_id_is_spooled_once(receiver):
    first = receiver.post(identify(6, message_id="retry-1"))
    again = receiver.post(identify(6, message_id="retry-1"))
    assert first.json()["new"] == 1
    assert again.status_code == 200
    assert again.json()["new"] == 0
    assert [row for row in spool_rows(receiver.home) if row[0] == "retry-1"] == [("retry-1", "identify")]


def test_each_flush_is_a_run(receiver, box, invoke):
    receiver.post(identify(7))
    wait_until(lambda: "listener7@example.com" in _emails(box), what="the lead in Marketo")
    assert receiver.stop() == 0
    listed = invoke("runs", "list", "--json", env={"SEGMARKETO_HOME": str(receiver.home)})
    runs = json.loads(listed.stdout)
    flushes = [run for run in (runs if isinstance(runs, list) else runs["runs"]) if run["command"] == "backfill-leads"]
    assert flushes
    assert {run["status"] for run in flushes} == {"ok"}
    shown = invoke("runs", "show", flushes[0]["run_id"], "--json", env={"SEGMARKETO_HOME": str(receiver.home)})
    assert json.loads(shown.stdout)["details"]["before_values"] == "stored"  # the default: no look-up per flush


def test_healthz_and_metrics_parse(receiver):
    receiver.post(identify(8))
    health = receiver.session.get(receiver.url + "/healthz", timeout=10)
    metrics = receiver.session.get(receiver.url + "/metrics", timeout=10)
    assert health.json()["status"] == "ok"
    assert metrics.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in metrics.text.splitlines():
        if line.startswith("#"):
            assert re.fullmatch(r"# (HELP|TYPE) segmarketo_listen_\w+ .+", line), line
            continue
        found = re.fullmatch(r'(segmarketo_listen_\w+)(\{\w+="[^"]*"\})? (-?[0-9.e+]+)', line)
        assert found, line
        samples[found.group(1) + (found.group(2) or "")] = float(found.group(3))
    assert samples["segmarketo_listen_events_in_total"] == 1
    for name in ("queue_depth", "oldest_event_age_seconds", "events_out_total", "marketo_calls_total"):
        assert f"segmarketo_listen_{name}" in samples


def test_sigterm_exits_0_and_keeps_what_was_not_drained(box, isolated_home):
    from tests.listen.receiver import Receiver, write_profile

    write_profile(isolated_home, flush_seconds=3600, flush_events=1000)
    receiver = Receiver(box, isolated_home)
    assert receiver.post(identify(9)).status_code == 200
    assert receiver.stop(signal.SIGTERM) == 0
    assert spool_rows(isolated_home, pending_only=True) == [("listen-id-9", "identify")]
    assert SHARED_SECRET not in receiver.stderr()
