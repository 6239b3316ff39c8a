"""writeback resumes after a first run that stopped early (exit 75) before any batch moved the cursor."""

from __future__ import annotations

import json

from tests.support.writeback_helpers import populate


def report_of(result) -> dict:
    return json.loads(result.stdout[result.stdout.index("{\n"):])


def test_next_run_without_since_resumes_after_a_first_run_that_ended_75(sandbox, invoke):
    made = populate(sandbox, 12)
    sandbox.faults.add("607", times=1, path="/rest/v1/activities")
    first = invoke("writeback", "--since", "3d")
    assert first.exit_code == 75, first.output
    assert sandbox.segment.accepted == []
    second = invoke("writeback", "--json")
    assert second.exit_code == 0, second.output
    assert report_of(second)["counts"]["sent"] == len(made)
    assert len(sandbox.segment.accepted) == len(made)


def test_resume_after_segment_was_unreachable_on_the_first_run(sandbox, invoke, monkeypatch):
    from segmarketo_cli.errors import ServiceUnavailable
    from segmarketo_cli.segment.sender import BatchSender

    made = populate(sandbox, 12)
    original = BatchSender.send_batch

    def unreachable(self, messages):
        raise ServiceUnavailable("Segment kept failing (HTTP 503)")

    monkeypatch.setattr(BatchSender, "send_batch", unreachable)
    first = invoke("writeback", "--since", "3d")
    assert first.exit_code == 75, first.output
    monkeypatch.setattr(BatchSender, "send_batch", original)
    second = invoke("writeback", "--json")
    assert second.exit_code == 0, second.output
    assert len(sandbox.segment.accepted) == len(made)


def test_a_dry_run_saves_no_start(sandbox, invoke):
    populate(sandbox, 4)
    assert invoke("writeback", "--since", "3d", "--dry-run").exit_code == 0
    assert invoke("writeback").exit_code == 2
