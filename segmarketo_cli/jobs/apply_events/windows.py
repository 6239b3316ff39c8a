"""The plan in windows: ready matches cut by lookup value into windows of bounded size, each planned on its own.

A window holds every match of its lookup values (so one lead's score, fields and statuses stay in one plan) and
about WINDOW_MATCHES matches in all, so the Match objects in memory at a time stay bounded whatever the run's size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from segmarketo_cli.engine import fetch_row
from segmarketo_cli.jobs.apply_events.plan import Match, RulesPlan, Targets, build_plan
from segmarketo_cli.jobs.apply_events.rules import Rule
from segmarketo_cli.jobs.apply_events.staging import StagedEvents, load, rows

WINDOW_MATCHES = 250_000

_WINDOWS = """
CREATE OR REPLACE TABLE ae_plan AS
WITH per_key AS (
    SELECT key, count(*) AS n, min(ts) AS first_ts, min(seq) AS first_seq FROM ae_ready GROUP BY key),
numbered AS (
    SELECT key, (sum(n) OVER (ORDER BY first_ts, first_seq, key ROWS UNBOUNDED PRECEDING) - n) // ? AS win
    FROM per_key)
SELECT r.rule, r.message_id, r.ts, r.seq, r.origin, r.key, r.payload, numbered.win
FROM ae_ready r JOIN numbered USING (key)
ORDER BY numbered.win, r.ts, r.seq
"""


class PlanWindows:
    """The run's ready matches (pending, with a lead) in the `ae_plan` table, numbered by window."""

    def __init__(self, staged: StagedEvents, rules: list[Rule], targets: Mapping[str, Targets],
                 lead_ids: Mapping[str, tuple[int, ...]]) -> None:
        self.con = staged.con
        self.rules = rules
        self.targets = targets
        self.lead_ids = lead_ids
        self.con.execute(_WINDOWS, [WINDOW_MATCHES])
        staged.drop("ae_matches", "ae_rejects", "ae_done")  # everything the plan needs is in ae_plan now
        row = fetch_row(self.con, "SELECT max(win) FROM ae_plan")
        self.count = 0 if row is None or row[0] is None else int(row[0]) + 1

    def per_rule(self, after: int = -1) -> list[tuple[Rule, int]]:
        """Matches per rule in the windows after window `after` (all of them by default)."""
        counts = self.con.execute("SELECT rule, count(*) FROM ae_plan WHERE win > ? GROUP BY rule ORDER BY rule",
                                  [after]).fetchall()
        return [(self.rules[index], n) for index, n in counts]

    def plans(self) -> Iterator[tuple[int, RulesPlan]]:
        """(window number, its plan), window after window."""
        for window in range(self.count):
            yield window, build_plan(self.matches(window), self.targets)

    def matches(self, window: int) -> list[Match]:
        """The window's matches in timestamp order (read order for equal timestamps), with their lead ids."""
        shared: dict[bytes, Any] = {}  # equal payloads (tokens, field values) are one object, not copies
        out = []
        for index, message_id, ts, origin, key, blob in rows(
                self.con, "SELECT rule, message_id, ts, origin, key, payload FROM ae_plan WHERE win = ? "
                          "ORDER BY ts, seq", [window]):
            payload = None if blob is None else shared.get(blob)
            if blob is not None and payload is None:
                payload = shared[blob] = load(blob)
            out.append(Match(self.rules[index], message_id, ts, origin, payload, self.lead_ids[key]))
        return out
