"""Benchmark sync-audience: a 200,000-person audience against a 200,000-member list with 5% churn.

Runs `segmarketo sync-audience` in-process against a local sandbox and prints API calls by kind and wall time:
run 1 with a cold lead-id cache, run 2 identical (must make 0 write calls), run 3 with another 5% churn (only the
new people need a filter lookup).

    python bench/bench_audience.py                 # real Marketo limits (100 calls / 20 s; client 90 / 20 s)
    python bench/bench_audience.py --relaxed       # 100 calls / 2 s on both sides, for a quick check
    python bench/bench_audience.py --people 20000  # smaller
    python bench/bench_audience.py --plan-only     # the planner alone (local cost, JSON on stdout)
    python bench/bench_audience.py --plan-only --people 3000000 --memory-limit 1GB
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, peak_rss_mb  # noqa: E402

from segmarketo_cli.cli.main import cli
from segmarketo_cli.engine import Engine, create, insert_rows
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.sync_audience import members as audience_members
from segmarketo_cli.jobs.sync_audience.audience_table import load_audience
from segmarketo_cli.jobs.sync_audience.plan import plan_membership
from segmarketo_cli.jobs.sync_audience.plan_out import write_plan
from segmarketo_cli.jobs.sync_audience.resolve import RESOLVED_SCHEMA
from segmarketo_cli.jobs.sync_audience.tables import BATCH_ROWS
from segmarketo_cli.sandbox import Sandbox, SandboxConfig
from segmarketo_cli.sizes import parse_memory_limit
from segmarketo_cli.sources.audience.readers import read_audience

KINDS = [
    (re.compile(r"^/bulk/v1/leads/export/"), "bulk extract"),
    (re.compile(r"^/bulk/v1/leads"), "bulk import"),
    (re.compile(r"^/rest/v1/leads\.json$"), "leads"),
    (re.compile(r"^/rest/v1/lists/\d+/leads\.json$"), "list members"),
    (re.compile(r"^/rest/asset/v1/"), "assets"),
    (re.compile(r"^/rest/v1/lists"), "lists"),
]


def kind_of(method: str, path: str) -> str:
    for pattern, name in KINDS:
        if pattern.match(path):
            if name == "leads":
                return "filter (read)" if method == "GET" else "sync leads (write)"
            if name == "list members":
                return {"GET": "list members (read)", "POST": "list add (write)", "DELETE": "list remove (write)"}[
                    method]
            return name
    return path


def write_audience(path: Path, first: int, last: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email\n")
        handle.writelines(f"person{i:07d}@bench.example.com\n" for i in range(first, last))
    return path


def build(people: int, churn: float, relaxed: bool) -> tuple[Sandbox, list[Path], int, list[int]]:
    box = Sandbox(client_id="bench", client_secret="bench-secret-0123456789",
                  config=SandboxConfig(window_s=2.0 if relaxed else 20.0, daily_quota=1_000_000)).start()
    changed = int(people * churn)
    total = people + 2 * changed
    started = time.monotonic()
    ids = [box.marketo.add_lead(email=f"person{i:07d}@bench.example.com") for i in range(total)]
    list_id = box.marketo.add_list("Bench Audience")
    box.marketo.add_to_list(list_id, ids[:people])  # members: 0 .. people-1
    folder = Path(tempfile.mkdtemp(prefix="bench-audience-"))
    first = write_audience(folder / "audience.csv", changed, people + changed)
    second = write_audience(folder / "audience-next.csv", 2 * changed, total)
    print(f"sandbox: {total:,} leads, list of {people:,}, audience of {people:,} ({changed:,} in, {changed:,} out)"
          f" built in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return box, [first, first, second], list_id, ids


def run_once(box: Sandbox, audience: Path, seen: list[tuple[str, str]]) -> tuple[dict, float]:
    seen.clear()
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["sync-audience", str(audience), "--list", "Bench Audience", "--json"],
                                catch_exceptions=False)
    elapsed = time.monotonic() - started
    if result.exit_code != 0:
        raise SystemExit(f"sync-audience exited {result.exit_code}: {result.stdout}{result.stderr}")
    return json.loads(result.stdout), elapsed


def plan_only(people: int, churn: float, memory_limit: str = "1GB") -> dict:
    """Local cost: the audience CSV checked and loaded, `people` members streamed in as pages would bring them,
    their lead ids as the lead-id cache gives them, the membership diff and its --plan-out file, all in the
    planning engine at `memory_limit` (docs/engine.md)."""
    changed = int(people * churn)
    with tempfile.TemporaryDirectory(prefix="bench-audience-plan-") as tmp:
        folder = Path(tmp)
        source = write_audience(folder / "audience.csv", changed, people + changed)
        members = ({"id": i + 1, "email": f"person{i:07d}@bench.example.com"} for i in range(people))
        with Timer() as timer, Engine(folder / "engine", parse_memory_limit(memory_limit)) as engine, \
                RejectsWriter(folder / "rejects.jsonl") as rejects:
            con = engine.con
            audience = read_audience(source, count=False)  # as the job: the header now, the rows once in the load
            load_audience(con, audience, rejects)
            current = audience_members.load_members(con, members, None)
            create(con, "resolved", RESOLVED_SCHEMA)
            for first in range(changed, people + changed, BATCH_ROWS):
                last = min(first + BATCH_ROWS, people + changed)
                insert_rows(con, "resolved", RESOLVED_SCHEMA,
                       [("email", f"person{i:07d}@bench.example.com", i + 1) for i in range(first, last)])
            plan = plan_membership(con, current=current, mode="mirror")
            write_plan(plan, folder / "plan.csv")
            spilled_mb = engine.disk_bytes() / 2**20
    return {"people": people, "members": people, "adds": len(plan.adds), "removes": len(plan.removes),
            "seconds": round(timer.seconds, 3), "cpu_s": round(timer.cpu_s, 1),
            "people_per_s": round(people / timer.seconds), "peak_rss_mb": round(peak_rss_mb()),
            "engine_disk_mb": round(spilled_mb), "memory_limit": memory_limit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--churn", type=float, default=0.05)
    parser.add_argument("--relaxed", action="store_true", help="100 calls / 2 s instead of / 20 s")
    parser.add_argument("--plan-only", action="store_true", help="local cost of the diff only; prints JSON")
    parser.add_argument("--memory-limit", default="1GB", help="the planning engine's memory limit (--plan-only)")
    args = parser.parse_args()
    if args.plan_only:
        print(json.dumps(plan_only(args.people, args.churn, args.memory_limit)))
        return

    box, audiences, list_id, ids = build(args.people, args.churn, args.relaxed)
    seen: list[tuple[str, str]] = []
    original = box.dispatch

    def spy(request):
        seen.append((request.method, request.path))
        return original(request)

    box.dispatch = spy  # type: ignore[method-assign]
    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    os.environ.update({
        "SEGMARKETO_HOME": str(home), "SEGMARKETO_MARKETO_ENDPOINT": box.url,
        "SEGMARKETO_REGISTRY": str(home / "instance-registry.sqlite"),  # claim no instance in the user's registry
        "SEGMARKETO_MARKETO_CLIENT_ID": "bench", "SEGMARKETO_MARKETO_CLIENT_SECRET": "bench-secret-0123456789",
        "SEGMARKETO_RATE_LIMIT_CALLS": "90", "SEGMARKETO_RATE_LIMIT_WINDOW_S": "2" if args.relaxed else "20",
    })
    # The sandbox finishes an export one step per status poll; real Marketo needs >= 60 s between polls.
    audience_members.EXTRACT_POLL_S = (1.0,)
    rows = []
    try:
        labels = ("run 1: cold lead-id cache", "run 2: identical re-run", "run 3: another 5% churn, warm cache")
        for label, audience in zip(labels, audiences, strict=True):
            throttled_before = dict(box.marketo.counters)
            data, elapsed = run_once(box, audience, seen)
            throttled = sum(box.marketo.counters[k] - throttled_before[k]
                            for k in ("rate_limited", "concurrency_limited"))
            by_kind = Counter(kind_of(m, p) for m, p in seen if not p.startswith("/identity"))
            writes = sum(n for k, n in by_kind.items() if "write" in k or k == "bulk import")
            counts = data["counts"]
            rows.append((label, elapsed, by_kind, writes, counts))
            print(f"\n{label}: {elapsed:.1f} s wall, {sum(by_kind.values()):,} Marketo requests "
                  f"({throttled} answered 606/615 and retried), {writes} write requests")
            for kind, n in sorted(by_kind.items()):
                print(f"  {kind:<22} {n:>6,}")
            print("  buckets: " + ", ".join(f"{k}={counts[k]:,}" for k in (
                "people", "resolved", "current_members", "added", "removed", "unchanged")))
            print(f"  membership read by: {data['details'].get('membership_read')}")
        members = box.marketo.list_members(list_id)
        expected = set(ids[2 * int(args.people * args.churn):])
        print(f"\nlist equals audience: {members == expected} ({len(members):,} members)")
        print(f"limits: {'relaxed 100/2 s (client 90/2 s)' if args.relaxed else 'real 100/20 s (client 90/20 s)'}")
    finally:
        box.stop()


if __name__ == "__main__":
    main()
