"""`runs undo` after writeback: an event Segment accepted cannot be taken back, so every event is listed as not
reversible and nothing changes in Marketo or Segment."""

from __future__ import annotations

import pytest

from tests.support.undo_world import snapshot, undo
from tests.support.writeback_helpers import populate
from tests.writeback.test_changes import report_of


@pytest.fixture(autouse=True)
def user_id_field(monkeypatch):
    monkeypatch.setenv("SEGMARKETO_USER_ID_FIELD", "segmentUserId")


def test_undo_lists_every_event_as_not_reversible_and_changes_nothing(sandbox, invoke):
    made = populate(sandbox, 6)
    result = invoke("writeback", "--since", "3d", "--json")
    assert result.exit_code == 0, result.output
    before, accepted = snapshot(sandbox), len(sandbox.segment.accepted)
    code, report = undo(invoke, report_of(result)["run_id"])
    assert code == 0, report
    assert report["counts"]["changes"] == report["counts"]["not_reversible"] == len(made)
    assert snapshot(sandbox) == before
    assert len(sandbox.segment.accepted) == accepted
