"""--plan-out: every intended create, add and remove of a sync-audience plan, as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan, plan_rows
from segmarketo_cli.paths import open_private, write_failed

COLUMNS = ["action", "lead_id", "identity_type", "identity", "reason", "origin"]


def write_plan(plan: ListMembershipPlan, path: Path) -> None:
    """Every intended create, add and remove as CSV."""
    handle = open_private(path, "--plan-out", newline="")  # the plan names people by e-mail address
    try:
        with handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(plan_rows(plan))
    except OSError as exc:
        raise write_failed("--plan-out", path, exc) from None
