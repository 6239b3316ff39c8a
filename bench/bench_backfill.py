"""Benchmark backfill-leads: parse+plan throughput and peak RSS on a 1,000,000-message export, API calls per
10,000 leads (REST and bulk), and sandbox wall time for 30,000 leads vs the limiter's ceiling.

Run: python bench/bench_backfill.py [--messages 1000000] [--skip-wall]. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "_out"


def generate(path: Path, messages: int, per_person: int = 4) -> int:
    """A Segment S3-style export: per person a page, an identify and tracks (`per_person` messages in all)."""
    people = messages // per_person
    with gzip.open(path, "wb", compresslevel=6) as handle:
        buf = []
        for i in range(people):
            ctx = {"ip": "10.0.0.1", "library": {"name": "analytics.js", "version": "4.1.0"},
                   "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"}
            ts = f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00.000Z"
            buf.append({"type": "page", "anonymousId": f"anon-{i}", "name": "Pricing", "context": ctx,
                        "properties": {"url": "https://example.com/pricing"}, "messageId": f"p{i}", "timestamp": ts})
            buf.append({"type": "identify", "userId": f"user-{i}", "anonymousId": f"anon-{i}", "messageId": f"i{i}",
                        "timestamp": ts, "context": ctx,
                        "traits": {"email": f"person{i}@example.com", "firstName": "Ann", "lastName": "Lee",
                                   "title": "CTO", "plan": "pro", "product_score": i % 100,
                                   "company": {"name": "Initech", "industry": "Technology", "employee_count": 329},
                                   "address": {"city": "Paris", "country": "France", "postalCode": "75001"}}})
            for k in range(per_person - 2):
                buf.append({"type": "track", "userId": f"user-{i}", "event": "Feature Used", "context": ctx,
                            "properties": {"feature": f"f{k}"}, "messageId": f"t{i}-{k}", "timestamp": ts})
            if len(buf) >= 20_000:
                handle.write(("\n".join(json.dumps(m, separators=(",", ":")) for m in buf) + "\n").encode())
                buf = []
        if buf:
            handle.write(("\n".join(json.dumps(m, separators=(",", ":")) for m in buf) + "\n").encode())
    return people * per_person


def parse_and_plan(path: str) -> None:
    """Child process: read + identity + map + plan (no Marketo), print timings and peak RSS as JSON."""
    from segmarketo_cli.identity import IdentityGraph
    from segmarketo_cli.jobs.backfill import Ownership, build_plan
    from segmarketo_cli.jobs.backfill_run import might_matter
    from segmarketo_cli.mapping import FieldCatalog, Mapper
    from segmarketo_cli.sandbox.defaults import STANDARD_FIELDS
    from segmarketo_cli.sources import preflight, read_all

    describe = [{"dataType": t, "length": n, "rest": {"name": name, "readOnly": ro}}
                for name, t, n, ro, _s, _d in STANDARD_FIELDS]
    mapper = Mapper(FieldCatalog.from_describe(describe), explicit={"plan": "lifecycleStage"})
    gc.disable()  # as BackfillJob.run does while reading and planning
    start, cpu0 = time.perf_counter(), time.process_time()
    graph = IdentityGraph()
    count = 0
    for item in read_all(preflight([path]), keep=might_matter):
        count += 1
        if item.message is not None:
            graph.add(item.message, item.origin)
    read_s = time.perf_counter() - start
    people = len(graph)
    plan = build_plan(graph.people(consume=True), mapper, lookup_field="email", ownership=Ownership(),
                      stored_hashes=lambda keys: {}, read_current=lambda keys, fields: {})
    total_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"messages": count, "people": people, "upserts": len(plan.upserts),
                      "read_s": round(read_s, 2), "total_s": round(total_s, 2), "cpu_s": round(cpu_s, 2),
                      "msgs_per_s": round(count / total_s), "msgs_per_cpu_s": round(count / cpu_s),
                      "peak_rss_mb": round(rss_mb)}))


def _client(box, calls: int = 100, window_s: float = 20.0, concurrency: int = 10):
    from segmarketo_cli.marketo.client import MarketoClient
    from segmarketo_cli.marketo.limits import Limiter

    limiter = Limiter(calls=calls, window_s=window_s, max_concurrency=concurrency)
    return MarketoClient(box.url, box.client_id, box.client_secret, limiter=limiter)


def _people_file(folder: Path, n: int) -> Path:
    path = folder / f"people-{n}.jsonl"
    with path.open("w") as handle:
        for i in range(n):
            handle.write(json.dumps({"type": "identify", "userId": f"u{i}", "timestamp": "2026-01-01T00:00:00Z",
                                     "traits": {"email": f"p{i}@example.com", "firstName": f"P{i}",
                                                "company": {"name": "Initech"}}}) + "\n")
    return path


def run_job(box, client, path: Path, home: Path, *, bulk_threshold: int) -> tuple[dict, float]:
    from segmarketo_cli.jobs import backfill_bulk
    from segmarketo_cli.jobs.backfill_run import BackfillJob, BackfillOptions
    from segmarketo_cli.rejects import RejectsWriter
    from segmarketo_cli.report import RunReport
    from segmarketo_cli.sources import preflight
    from segmarketo_cli.state import StateStore

    backfill_bulk.POLL_FIRST_S = 0.2  # the sandbox imports instantly; keep the bench short
    store = StateStore(home, f"bench{time.monotonic_ns()}")
    report = RunReport("backfill-leads")
    options = BackfillOptions(inputs=preflight([str(path)]), bulk_threshold=bulk_threshold)
    started = time.perf_counter()
    BackfillJob(options, client=client, store=store, report=report,
                rejects=RejectsWriter(home / "rejects.jsonl")).run()
    return report.counts, time.perf_counter() - started


def api_calls(folder: Path) -> None:
    from segmarketo_cli.sandbox import Sandbox

    path = _people_file(folder, 10_000)
    for mode, threshold in (("REST", 10**9), ("bulk", 1)):
        with Sandbox(client_id="bench", client_secret="bench-secret").start() as box:
            client = _client(box)
            counts, seconds = run_job(box, client, path, folder, bulk_threshold=threshold)
            written = counts.get("leads_created", 0) + counts.get("leads_imported", 0)
            print(f"API calls per 10,000 leads ({mode}): {client.calls} Marketo calls "
                  f"(incl. describe + describe2), {client.tokens_issued} auth; "
                  f"{counts.get('bulk_import_jobs', 0)} import job(s); {written:,} leads written in {seconds:.1f} s")


def wall_time(folder: Path) -> None:
    from segmarketo_cli.config import Settings
    from segmarketo_cli.sandbox import Sandbox

    defaults = Settings()
    path = _people_file(folder, 30_000)
    with Sandbox(client_id="bench", client_secret="bench-secret").start() as box:
        client = _client(box, defaults.rate_limit_calls, defaults.rate_limit_window_s, defaults.max_concurrency)
        counts, seconds = run_job(box, client, path, folder, bulk_threshold=10**9)
    rate = defaults.rate_limit_calls / defaults.rate_limit_window_s
    ceiling_s = 30_000 / (300 * rate)
    print(f"Sandbox wall time, 30,000 leads over REST at default limits ({defaults.rate_limit_calls} calls / "
          f"{defaults.rate_limit_window_s:.0f} s, {defaults.max_concurrency} in flight): {seconds:.1f} s; "
          f"limiter ceiling {300 * rate:,.0f} leads/s = {ceiling_s:.1f} s; "
          f"achieved {30_000 / seconds:,.0f} leads/s = {100 * ceiling_s / seconds:.0f}% of the ceiling "
          f"({client.calls} calls, {counts.get('leads_created', 0):,} created)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--per-person", type=int, default=4,
                        help="messages per person (one of them an identify): 4 = 25%% identifies, 10 = 10%%")
    parser.add_argument("--skip-wall", action="store_true", help="skip the 30,000-lead wall-time run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        parse_and_plan(args.child)
        return
    OUT.mkdir(exist_ok=True)
    export = OUT / f"export-{args.messages}-{args.per_person}.jsonl.gz"
    if not export.exists():
        t = time.perf_counter()
        generate(export, args.messages, args.per_person)
        print(f"generated {export.name} ({export.stat().st_size / 1e6:.0f} MB gz) in {time.perf_counter() - t:.0f} s")
    child = subprocess.run([sys.executable, __file__, "--child", str(export)], capture_output=True, text=True,
                           check=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    stats = json.loads(child.stdout)
    print(f"parse+plan: {stats['messages']:,} messages ({stats['people']:,} people) in {stats['total_s']} s wall "
          f"(read+identity {stats['read_s']} s), {stats['cpu_s']} s CPU = {stats['msgs_per_s']:,} messages/s wall, "
          f"{stats['msgs_per_cpu_s']:,} messages per CPU-second (one core); peak RSS {stats['peak_rss_mb']} MB")
    with tempfile.TemporaryDirectory() as tmp:
        api_calls(Path(tmp))
        if not args.skip_wall:
            wall_time(Path(tmp))


if __name__ == "__main__":
    main()
