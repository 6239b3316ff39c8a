"""segmarketo benchmarks: throughput against Marketo's limits, the usual marketorestpython backfill beside it,
and local cost. Prints one table and writes bench/_out/results.json.

    python bench/run.py                    # everything (several minutes: the limits are Marketo's real ones)
    python bench/run.py --quick            # same shape, 10x shorter window and latency, smaller local runs
    python bench/run.py --only writeback   # one of: backfill, usual-way, audience, writeback, local, scale
    python bench/run.py --only scale       # issue 14's scale targets (not in the default set: ~15 CPU-minutes)
    python bench/run.py --only scale --huge  # plus the 50M-message backfill and the 10M audience

Each job runs as `segmarketo <command>` in its own process with the default client limiter (90 calls / 20 s),
once with the default 5 calls in flight and once with 10, against a sandbox in another process that enforces
Marketo's limits (100 calls / 20 s, 10 concurrent) with 300 ms + 1 ms per record of latency per call. The
ceiling is what those limits allow for the calls the job cannot avoid (300 records per call):
records x (100 / 20 s) / necessary calls.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import venv
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_audience  # noqa: E402
import bench_backfill  # noqa: E402
import bench_scale  # noqa: E402
import bench_writeback  # noqa: E402
from _common import (  # noqa: E402
    CLIENT_ID,
    CLIENT_SECRET,
    MARKETO,
    OUT,
    QUICK,
    Figure,
    Limits,
    SandboxProcess,
    bench_child,
    calls_for,
    cli_env,
    marketo_counters,
    ratio_figure,
    run_child,
)

SEGMARKETO = [sys.executable, "-m", "segmarketo_cli"]
USUAL_VENV = Path(tempfile.gettempdir()) / "segmarketo-bench-marketorestpython"  # outside the checkout


# ---- seeds (run in the sandbox's process) -------------------------------------------------------------------
def seed_audience(box: Any, people: int) -> dict[str, Any]:
    for i in range(people):
        box.marketo.add_lead(email=f"person{i:07d}@bench.example.com")
    return {"list_id": box.marketo.add_list("Bench Audience")}


# ---- throughput -----------------------------------------------------------------------------------------------
def run_job(box: SandboxProcess, command: list[str], home: Path, **env: str) -> tuple[dict[str, Any], dict[str, int],
                                                                                      float]:
    """One `segmarketo` run against `box`: its report, the sandbox counters it moved, and its process wall time."""
    before = marketo_counters(box.state())
    run = run_child(SEGMARKETO + command + ["--json"], cli_env(box.url, home, **env))
    after = marketo_counters(box.state())
    return run.json(), {k: after[k] - before[k] for k in after}, run.wall_s


class Runs:
    """Throughput runs with one client setting, shared by the benches that need them (the usual-way bench reuses
    the default backfill run). `in_flight` is the client's max_concurrency (segmarketo's default is 5)."""

    def __init__(self, limits: Limits, records: int, in_flight: int = 5) -> None:
        self.limits = limits
        self.records = records
        self.in_flight = in_flight
        self._backfill: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"client 90/{self.limits.window_s:g} s, {self.in_flight} in flight"

    def env(self, **extra: str) -> dict[str, str]:
        return {"SEGMARKETO_RATE_LIMIT_WINDOW_S": str(self.limits.window_s),
                "SEGMARKETO_MAX_CONCURRENCY": str(self.in_flight), **extra}

    def backfill(self) -> dict[str, Any]:
        if self._backfill is None:
            with SandboxProcess(self.limits.sandbox_config()) as box, tempfile.TemporaryDirectory() as tmp:
                people = bench_backfill.people_file(Path(tmp), self.records)
                report, moved, wall = run_job(box, ["backfill-leads", str(people), "--bulk-threshold", "10000000"],
                                              Path(tmp), **self.env())
            self._backfill = {"report": report, "moved": moved, "wall_s": wall}
        return self._backfill


def bench_backfill_throughput(runs: Runs) -> list[Figure]:
    result = runs.backfill()
    report, moved = result["report"], result["moved"]
    written = report["counts"].get("leads_created", 0) + report["counts"].get("leads_updated", 0)
    needed = calls_for(runs.records)
    ceiling = runs.limits.ceiling(runs.records, needed)
    return [
        ratio_figure("backfill", f"backfill-leads {runs.records:,} leads, REST ({runs.label})",
                     runs.records, report["duration_s"], ceiling, moved["rate_limited"],
                     calls=moved["calls"], calls_needed=needed, leads_written=written, process_wall_s=result["wall_s"],
                     responses_615=moved["concurrency_limited"]),
    ]


def bench_audience_throughput(runs: Runs) -> list[Figure]:
    n = runs.records
    config = runs.limits.sandbox_config()
    with SandboxProcess(config, seed_audience, n) as box, tempfile.TemporaryDirectory() as tmp:
        audience = bench_audience.write_audience(Path(tmp) / "audience.csv", 0, n)
        report, moved, wall = run_job(box, ["sync-audience", str(audience), "--list", "Bench Audience"], Path(tmp),
                                      **runs.env())
    needed = 2 * calls_for(n)  # one filter lookup and one list add per 300 people
    return [
        ratio_figure("audience", f"sync-audience {n:,} adds, lookups + adds ({runs.label})", n,
                     report["duration_s"], runs.limits.ceiling(n, needed), moved["rate_limited"],
                     calls=moved["calls"], calls_needed=needed, added=report["counts"].get("added", 0),
                     process_wall_s=wall, responses_615=moved["concurrency_limited"]),
    ]


def bench_writeback_throughput(runs: Runs) -> list[Figure]:
    n = runs.records
    leads = n // 5
    config = runs.limits.sandbox_config()
    with SandboxProcess(config, bench_writeback.seed, n, leads) as box, tempfile.TemporaryDirectory() as tmp:
        bench_writeback.opt_in_extras(Path(tmp))
        before = box.state()["segment"]["accepted"]
        report, moved, wall = run_job(box, ["writeback", "--since", "3d"], Path(tmp),
                                      **runs.env(SEGMARKETO_USER_ID_FIELD="segmentUserId"))
        accepted = box.state()["segment"]["accepted"] - before
    needed = calls_for(n) + calls_for(leads)  # activity pages + lead lookups
    details = report["details"]
    return [
        ratio_figure("writeback", f"writeback {n:,} activities, {leads:,} leads ({runs.label})", n,
                     report["duration_s"], runs.limits.ceiling(n, needed), moved["rate_limited"],
                     calls=moved["calls"], calls_needed=needed, pages=details.get("pages"),
                     time_slices=details.get("time_slices", 1), sent=report["counts"].get("sent", 0),
                     segment_accepted=accepted, segment_batches=details.get("segment_batches"),
                     process_wall_s=wall, responses_615=moved["concurrency_limited"]),
    ]


# ---- against marketorestpython ----------------------------------------------------------------------------------
def usual_python() -> Path | None:
    """A scratch venv with marketorestpython (bench only, never a project dependency); None if it cannot be had."""
    python = USUAL_VENV / "bin" / "python"
    if not python.exists():
        venv.create(USUAL_VENV, with_pip=True)
    check = subprocess.run([str(python), "-c", "import marketorestpython"], capture_output=True)
    if check.returncode != 0:
        install = subprocess.run([str(python), "-m", "pip", "install", "-q", "marketorestpython"],
                                 capture_output=True, text=True)
        if install.returncode != 0:
            print(f"marketorestpython could not be installed: {install.stderr[-300:]}", file=sys.stderr)
            return None
    return python


def bench_usual_way(runs: Runs) -> list[Figure]:
    python = usual_python()
    ours = runs.backfill()
    n = runs.records
    if python is None:
        return [Figure("usual-way", "marketorestpython backfill", "not run: the package could not be installed")]
    with SandboxProcess(runs.limits.sandbox_config()) as box, tempfile.TemporaryDirectory() as tmp:
        people = bench_backfill.people_file(Path(tmp), n)
        before = marketo_counters(box.state())
        run = run_child([str(python), str(Path(__file__).parent / "usual_way.py"), box.url, CLIENT_ID, CLIENT_SECRET,
                         str(people)])
        after = marketo_counters(box.state())
    theirs = run.json()
    their_calls = after["calls"] - before["calls"]
    our_s, our_calls = ours["report"]["duration_s"], ours["moved"]["calls"]
    ratio = theirs["seconds"] / our_s
    return [Figure("usual-way", f"{n:,} leads: marketorestpython create_update_leads vs segmarketo backfill-leads",
                   f"{theirs['seconds']:.1f} s / {our_s:.1f} s = {ratio:.1f}x; API calls {their_calls} vs {our_calls}",
                   "segmarketo faster, no more calls", ratio > 1 and our_calls <= their_calls + 5,
                   {"marketorestpython_s": theirs["seconds"], "segmarketo_s": our_s, "wall_ratio": round(ratio, 2),
                    "marketorestpython_calls": their_calls, "segmarketo_calls": our_calls,
                    "marketorestpython_statuses": theirs["statuses"],
                    "marketorestpython_606": after["rate_limited"] - before["rate_limited"]})]


# ---- local cost ---------------------------------------------------------------------------------------------------
def parse_plan(kind: str, messages: int) -> dict[str, Any]:
    """Read + identity + map + plan of a generated export, in a fresh process (its own peak RSS)."""
    OUT.mkdir(exist_ok=True)
    per_person = 2 if kind == "identify" else 4
    export = OUT / f"{kind}-{messages}-{per_person}.jsonl.gz"
    if not export.exists():
        make = bench_backfill.generate_identifies if kind == "identify" else bench_backfill.generate
        make(export, messages, per_person)
    return bench_child("bench_backfill.py", "--child", str(export))


def bench_local(quick: bool) -> list[Figure]:
    messages = 100_000 if quick else 1_000_000
    identify = parse_plan("identify", messages)
    mixed = parse_plan("export", messages)
    people = 20_000 if quick else 200_000
    diff = bench_child("bench_audience.py", "--plan-only", "--people", str(people))
    activities = 10_000 if quick else 100_000
    batches = bench_child("bench_writeback.py", "--batches-only", "--activities", str(activities),
                          "--leads", str(activities // 5))
    fill = max(batches["avg_batch_bytes"] / 475_000, batches["avg_batch_messages"] / 2_500)

    def plan_value(plan: dict[str, Any]) -> str:
        return f"{plan['msgs_per_s']:,}/s wall ({plan['msgs_per_cpu_s']:,}/CPU-s), peak RSS {plan['peak_rss_mb']} MB"

    return [
        Figure("local", f"parse + plan {identify['messages']:,} identify messages ({identify['people']:,} people)",
               plan_value(identify), "RSS < 1.5 GB", identify["peak_rss_mb"] < 1536, identify),
        Figure("local", f"parse + plan {mixed['messages']:,}-message export, 1 in 4 an identify (issue 3)",
               plan_value(mixed), ">= 150,000/s, RSS < 1.5 GB",
               mixed["msgs_per_s"] >= 150_000 and mixed["peak_rss_mb"] < 1536, mixed),
        Figure("local", f"audience diff {people:,} people vs {people:,} members, 5% churn (planner only)",
               f"{diff['seconds']:.2f} s ({diff['people_per_s']:,}/s), peak RSS {diff['peak_rss_mb']} MB "
               f"(inputs included)", "", None, diff),
        Figure("local", f"{activities:,} activities -> Segment batches (no network)",
               f"{batches['activities_per_s']:,}/s, {batches['batches']} batches at {100 * fill:.0f}% fill, "
               f"peak RSS {batches['peak_rss_mb']} MB", "batches >= 90% full", fill >= 0.9, batches),
    ]


# ---- table --------------------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    return {"nproc": os.cpu_count(), "cpu": model or platform.machine(), "python": platform.python_version(),
            "platform": platform.platform()}


def print_table(figures: list[Figure]) -> None:
    rows = [("bench", "figure", "value", "target", "met?")]
    rows += [(f.bench, f.name, f.value, f.target, {True: "yes", False: "NO", None: "-"}[f.met]) for f in figures]
    widths = [min(max(len(r[i]) for r in rows), 70) for i in range(5)]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10x shorter window and latency, smaller runs")
    parser.add_argument("--only", choices=["backfill", "usual-way", "audience", "writeback", "local", "scale"],
                        action="append", help="run only this bench (repeatable); scale runs only when named")
    parser.add_argument("--huge", action="store_true",
                        help="scale: add the 50M-message backfill and the 10M audience (implies --only scale)")
    parser.add_argument("--scale-part", choices=bench_scale.PARTS, action="append",
                        help="scale: only these rows (repeatable; default all)")
    args = parser.parse_args()
    if args.huge or args.scale_part:
        args.only = [*(args.only or []), "scale"]
    limits = QUICK if args.quick else MARKETO
    # segmarketo's defaults, and all ten of Marketo's concurrent slots (an instance with no other integration).
    variants = [Runs(limits, 30_000, in_flight) for in_flight in (5, 10)]
    runs = variants[0]
    benches: dict[str, Callable[[], list[Figure]]] = {
        "backfill": lambda: [f for v in variants for f in bench_backfill_throughput(v)],
        "usual-way": lambda: bench_usual_way(runs),
        "audience": lambda: [f for v in variants for f in bench_audience_throughput(v)],
        "writeback": lambda: [f for v in variants for f in bench_writeback_throughput(v)],
        "local": lambda: bench_local(args.quick),
        "scale": lambda: bench_scale.scale_figures(args.quick, args.huge, tuple(args.scale_part or bench_scale.PARTS)),
    }
    figures: list[Figure] = []
    for name, bench in benches.items():
        if (args.only and name not in args.only) or (name == "scale" and not args.only):
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(bench())
    info = machine()
    info["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print()
    if any(f.bench != "scale" for f in figures):  # the scale rows relax both sides' limits (local cost only)
        print(f"sandbox limits: {limits.describe()}; client limiter: segmarketo's default 90 calls / "
              f"{limits.window_s:g} s")
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}, {info['date']}\n")
    print_table(figures)
    OUT.mkdir(exist_ok=True)
    results = {"quick": args.quick, "limits": limits.describe(), "machine": info,
               "figures": [f.row() for f in figures]}
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {OUT / 'results.json'}")
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
