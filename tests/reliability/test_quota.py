"""607 mid-run: every job stops with exit 75 and a checkpoint; the next run finishes with nothing lost or doubled."""

from __future__ import annotations

import pytest

from segmarketo_cli.state import StateStore
from tests.support.reliability_world import JOBS, build, new_box, run_cli, snapshot, speed_up

pytestmark = pytest.mark.slow  # every job, run end to end several times

_clean: dict[str, tuple[dict, int]] = {}


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    speed_up(monkeypatch)


def clean(job: str, invoke, monkeypatch, tmp_path_factory) -> tuple[dict, int]:
    """The clean run's final state and how many counted Marketo calls it made."""
    if job not in _clean:
        tmp = tmp_path_factory.mktemp(f"clean-{job}")
        box = new_box()
        try:
            scenario = build(job, box, tmp / "input")
            result, _ = run_cli(invoke, monkeypatch, box, tmp / "home", scenario)
            assert result.exit_code == 0, result.output
            _clean[job] = (snapshot(box), box.marketo.calls)
        finally:
            box.stop()
    return _clean[job]


@pytest.mark.parametrize("job", JOBS)
@pytest.mark.parametrize("cut", [0.2, 0.5, 0.85])
def test_quota_runs_out_mid_run_then_the_next_run_finishes_the_work(job, cut, invoke, monkeypatch, tmp_path,
                                                                    tmp_path_factory):
    expected, clean_calls = clean(job, invoke, monkeypatch, tmp_path_factory)
    allowed = max(1, int(clean_calls * cut))
    box = new_box()
    try:
        scenario = build(job, box, tmp_path / "input")
        home = tmp_path / "home"
        box.limits.daily_quota = box.limits.used_today() + allowed

        first, report = run_cli(invoke, monkeypatch, box, home, scenario)
        assert first.exit_code == 75, first.output
        assert box.marketo.counters["quota_refused"] >= 1
        assert box.marketo.calls == allowed
        if report is None:  # out of quota while checking rules, before the run started: one clear line
            (line,) = first.stderr.strip().splitlines()
            assert line.startswith("segmarketo: error: ")
            assert "quota" in line
            confirmed: dict = {}
        else:
            assert report["status"] == "deferred"
            assert "quota" in report["error"].lower()
            assert "imbalances" not in report
            store = StateStore(home / "state", "default")
            try:
                (run,) = store.find_runs(report["run_id"])
                assert run["status"] == "deferred"
            finally:
                store.close()
            confirmed = report["counts"]
        partial = snapshot(box)

        box.limits.daily_quota = 50_000  # the next day
        second, report = run_cli(invoke, monkeypatch, box, home, scenario)
        assert second.exit_code == 0, second.output
        assert report["status"] == "ok"
        assert "imbalances" not in report
        final = snapshot(box)
        assert final == expected
        if job == "writeback":
            # the cursor only moved past what Segment accepted, so nothing was sent twice
            assert [reason for _, reason in box.segment.dropped] == []
        if job == "backfill" and confirmed:  # the checkpoint: leads Marketo confirmed are not written again
            done = confirmed["leads_created"] + confirmed["leads_updated"]
            assert report["counts"]["leads_unchanged"] == done
        assert partial != expected or box.marketo.calls - allowed < clean_calls
    finally:
        box.stop()
