"""What the undo tests compare and run: a snapshot of what the sandbox's Marketo holds, and `runs undo` through the
CLI with its report."""

from __future__ import annotations

import json
from typing import Any

from segmarketo_cli.sandbox import Sandbox

# The undo report's buckets; they add up to its `changes` (docs/runs.md "Audit and undo").
UNDO_BUCKETS = ("restored", "deleted", "unchanged", "already_undone", "conflicts", "before_unknown", "created_kept",
                "not_reversible", "rejected", "deferred")


def snapshot(sandbox: Sandbox) -> dict[str, Any]:
    """Every lead (its fields but `updatedAt`, which any write moves), every static list's and program's members,
    and each campaign's requests."""
    m = sandbox.marketo
    with m.lock:
        return {
            "leads": {lead_id: {name: value for name, value in lead.items() if name != "updatedAt"}
                      for lead_id, lead in m.store.leads.items()},
            "lists": {list_id: set(found.members) for list_id, found in m.assets.lists.items()},
            "programs": {program_id: dict(found.members) for program_id, found in m.assets.programs.items()},
            "campaigns": {campaign_id: len(found.requests) for campaign_id, found in m.assets.campaigns.items()},
        }


def undo(invoke: Any, run_id: str, *args: str) -> tuple[int, dict[str, Any]]:
    """`segmarketo runs undo RUN ARGS --json`: its exit code and report; the buckets add up to the changes read."""
    result = invoke("runs", "undo", run_id, *args, "--json")
    assert result.stdout.startswith("{"), result.stderr
    report = json.loads(result.stdout)
    counts = report["counts"]
    assert "imbalances" not in report
    assert sum(counts.get(name, 0) for name in UNDO_BUCKETS) == counts["changes"]
    return result.exit_code, report


def rejects(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The lines of a run's rejects file."""
    with open(report["rejects_file"], encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]
