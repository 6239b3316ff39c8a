"""Benchmark backfill-leads: parse+plan throughput and peak RSS on a 1,000,000-message export, and API calls per
10,000 leads (REST and bulk).

Run: python bench/bench_backfill.py [--messages 1000000] [--identifies-only]. Prints figures; not a test.
The 30,000-lead throughput against Marketo's limits (and marketorestpython beside it) is in bench/run.py.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import nullcontext
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, bench_child  # noqa: E402

from segmarketo_cli.config import Settings
from segmarketo_cli.engine import Engine
from segmarketo_cli.jobs.backfill_leads.messages import might_matter
from segmarketo_cli.jobs.backfill_leads.plan import Ownership
from segmarketo_cli.jobs.backfill_leads.prepare import BackfillOptions, prepare
from segmarketo_cli.jobs.backfill_leads.read import read_people
from segmarketo_cli.jobs.backfill_leads.run import plan_builder, run
from segmarketo_cli.jobs.backfill_leads.sizing import measure, uses_engine
from segmarketo_cli.jobs.bulk_import import execute as backfill_bulk
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.mapping.mapper import FieldCatalog, Mapper
from segmarketo_cli.marketo.client import MarketoClient
from segmarketo_cli.marketo.limits import Limiter
from segmarketo_cli.sandbox import Sandbox
from segmarketo_cli.sandbox.stores.defaults import STANDARD_FIELDS
from segmarketo_cli.sources import preflight
from segmarketo_cli.state import StateStore


def write_gz(path: Path, lines: Iterator[str], compresslevel: int = 6) -> None:
    """Gzip lines in chunks of 20,000 (a generator of text lines, each ending in a newline)."""
    with gzip.open(path, "wb", compresslevel=compresslevel) as handle:
        while chunk := "".join(islice(lines, 20_000)):
            handle.write(chunk.encode())


def generate(path: Path, messages: int, per_person: int = 4) -> int:
    """A Segment S3-style export: per person a page, an identify and tracks (`per_person` messages in all).

    Lines are formatted as strings (what json.dumps with compact separators would give), which keeps an
    8M or 50M-message file quick to make."""
    people = messages // per_person
    ctx = ('{"ip":"10.0.0.1","library":{"name":"analytics.js","version":"4.1.0"},'
           '"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"}')

    def lines() -> Iterator[str]:
        for i in range(people):
            ts = f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00.000Z"
            yield (f'{{"type":"page","anonymousId":"anon-{i}","name":"Pricing","context":{ctx},'
                   f'"properties":{{"url":"https://example.com/pricing"}},"messageId":"p{i}","timestamp":"{ts}"}}\n')
            yield (f'{{"type":"identify","userId":"user-{i}","anonymousId":"anon-{i}","messageId":"i{i}",'
                   f'"timestamp":"{ts}","context":{ctx},"traits":{{"email":"person{i}@example.com",'
                   f'"firstName":"Ann","lastName":"Lee","title":"CTO","plan":"pro","product_score":{i % 100},'
                   f'"company":{{"name":"Initech","industry":"Technology","employee_count":329}},'
                   f'"address":{{"city":"Paris","country":"France","postalCode":"75001"}}}}}}\n')
            for k in range(per_person - 2):
                yield (f'{{"type":"track","userId":"user-{i}","event":"Feature Used","context":{ctx},'
                       f'"properties":{{"feature":"f{k}"}},"messageId":"t{i}-{k}","timestamp":"{ts}"}}\n')

    write_gz(path, lines())
    return people * per_person


_CTX = '{"ip":"10.0.0.1","library":{"name":"analytics-node","version":"6.2.0"}}'
VARIANTS = ("plain", "text", "later")


def identify_line(i: int, k: int, variant: str = "plain") -> str:
    """Person `i`'s identify number `k` (formatted as a string, like `generate`): `plain`, numbers as numbers and no
    isCustomer; `text`, every number and boolean given as text; `later`, the second without the e-mail and with a
    trait more."""
    ts = f"2026-03-{1 + (i + k) % 28:02d}T{i % 24:02d}:{i % 60:02d}:{k:02d}.000Z"
    email = "" if variant == "later" and k else f'"email":"person{i}@example.com",'
    score = f'"{i % 100 + k}"' if variant == "text" else str(i % 100 + k)
    customer = {"plain": "", "text": '"isCustomer":"yes",', "later": '"isCustomer":true,'}[variant]
    seats = f',"seats":{i % 9 + 1}' if variant == "later" and k else ""
    return (f'{{"type":"identify","userId":"user-{i}","messageId":"i{i}-{k}","timestamp":"{ts}",'
            f'"context":{_CTX},"traits":{{{email}"firstName":"Ann","lastName":"Lee",'
            f'"title":"{("Engineer", "CTO")[k % 2]}","plan":"pro","product_score":{score},'
            f'{customer}"company":{{"name":"Initech","industry":"Technology"}},'
            f'"address":{{"city":"Paris","country":"France"}}{seats}}}}}\n')


def generate_identifies(path: Path, messages: int, per_person: int = 2) -> int:
    """An export of identify messages only: each person identified `per_person` times as their traits change
    (formatted as strings, like `generate`)."""
    people = messages // per_person
    write_gz(path, (identify_line(i, k) for i in range(people) for k in range(per_person)))
    return people * per_person


def generate_identifies_as(path: Path, messages: int, variant: str) -> int:
    """`generate_identifies`' people (2 identifies each) in another shape (identify_line): `text`, every number and
    boolean given as text (`"product_score":"7"`, `"isCustomer":"yes"`); `later`, every person identified again in
    the file's second half, without the e-mail and with a trait more, so a person's traits change shape."""
    if variant not in VARIANTS[1:]:
        raise ValueError(f"no such variant: {variant}")
    people = messages // 2
    order = ((i, k) for k in range(2) for i in range(people)) if variant == "later" else (
        (i, k) for i in range(people) for k in range(2))
    write_gz(path, (identify_line(i, k, variant) for i, k in order))
    return people * 2


def parse_and_plan(path: str, on_engine: bool | None = None) -> None:
    """Child process: read + identity + map + plan (no Marketo), print timings and peak RSS as JSON."""
    describe = [{"dataType": t, "length": n, "rest": {"name": name, "readOnly": ro}}
                for name, t, n, ro, _s, _d in STANDARD_FIELDS]
    mapper = Mapper(FieldCatalog.from_describe(describe), explicit={"plan": "lifecycleStage"})
    gc.disable()  # as the job's run does while reading and planning
    start, cpu0 = time.perf_counter(), time.process_time()
    report = RunReport(command="backfill-leads", dry_run=True)
    inputs = preflight([path])
    if on_engine is None:  # as the job decides (run.py): small inputs never open the engine
        on_engine = uses_engine(measure(inputs, might_matter), 2**30)
    with tempfile.TemporaryDirectory() as spill, \
            (Engine(Path(spill) / "engine", 2**30) if on_engine else nullcontext()) as engine:
        rejects = RejectsWriter(Path(spill) / "rejects.jsonl")
        people = read_people(inputs, nulls="keep", report=report, rejects=rejects,
                             progress=JobContext.progress, engine=engine, on_engine=on_engine)
        read_s = time.perf_counter() - start
        plan = plan_builder(engine)(people, mapper, lookup_field="email", ownership=Ownership(),
                                    stored_hashes=lambda keys: {}, read_current=lambda keys, fields: {})
        upserts = plan.upsert_count
        rejects.close()
    count, people = report.counts["messages_read"], report.details["people"]
    total_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"messages": count, "people": people, "upserts": upserts,
                      "read_s": round(read_s, 2), "total_s": round(total_s, 2), "cpu_s": round(cpu_s, 2),
                      "msgs_per_s": round(count / total_s), "msgs_per_cpu_s": round(count / cpu_s),
                      "peak_rss_mb": round(rss_mb)}))


def _client(box, calls: int = 100, window_s: float = 20.0, concurrency: int = 10):
    limiter = Limiter(calls=calls, window_s=window_s, max_concurrency=concurrency)
    return MarketoClient(box.url, box.client_id, box.client_secret, limiter=limiter)


def people_file(folder: Path, n: int) -> Path:
    """n identify lines, one person each (the throughput and usual-way benches use the same file)."""
    path = folder / f"people-{n}.jsonl"
    with path.open("w") as handle:
        for i in range(n):
            handle.write(json.dumps({"type": "identify", "userId": f"u{i}", "timestamp": "2026-01-01T00:00:00Z",
                                     "traits": {"email": f"p{i}@example.com", "firstName": f"P{i}",
                                                "company": {"name": "Initech"}}}) + "\n")
    return path


def run_job(box, client, path: Path, home: Path, *, bulk_threshold: int) -> tuple[dict, float]:
    backfill_bulk.POLL_FIRST_S = 0.2  # the sandbox imports instantly; keep the bench short
    store = StateStore(home, f"bench{time.monotonic_ns()}")
    report = RunReport("backfill-leads")
    settings = Settings()
    services = Services(settings, store, _marketo=client)
    prepared = prepare(settings, BackfillOptions(files=(str(path),), bulk_threshold=bulk_threshold), services)
    ctx = JobContext(services=services, report=report, rejects=RejectsWriter(home / "rejects.jsonl"))
    started = time.perf_counter()
    run(ctx, prepared)
    return report.counts, time.perf_counter() - started


def api_calls(folder: Path) -> None:
    path = people_file(folder, 10_000)
    for mode, threshold in (("REST", 10**9), ("bulk", 1)):
        with Sandbox(client_id="bench", client_secret="bench-secret").start() as box:
            client = _client(box)
            counts, seconds = run_job(box, client, path, folder, bulk_threshold=threshold)
            written = counts.get("leads_created", 0) + counts.get("leads_imported", 0)
            print(f"API calls per 10,000 leads ({mode}): {client.calls} Marketo calls "
                  f"(incl. describe + describe2), {client.tokens_issued} auth; "
                  f"{counts.get('bulk_import_jobs', 0)} import job(s); {written:,} leads written in {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--per-person", type=int, default=4,
                        help="messages per person (one of them an identify): 4 = 25%% identifies, 10 = 10%%")
    parser.add_argument("--identifies-only", action="store_true",
                        help="an export of identify messages only (--per-person identifies per person)")
    parser.add_argument("--engine", choices=["auto", "on", "off"], default="auto",
                        help="people on the engine: as the job decides (auto), always, or never")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        parse_and_plan(args.child, {"auto": None, "on": True, "off": False}[args.engine])
        return
    OUT.mkdir(exist_ok=True)
    kind = "identify" if args.identifies_only else "export"
    export = OUT / f"{kind}-{args.messages}-{args.per_person}.jsonl.gz"
    if not export.exists():
        t = time.perf_counter()
        (generate_identifies if args.identifies_only else generate)(export, args.messages, args.per_person)
        print(f"generated {export.name} ({export.stat().st_size / 1e6:.0f} MB gz) in {time.perf_counter() - t:.0f} s")
    stats = bench_child("bench_backfill.py", "--child", str(export), "--engine", args.engine)
    print(f"parse+plan: {stats['messages']:,} messages ({stats['people']:,} people) in {stats['total_s']} s wall "
          f"(read+identity {stats['read_s']} s), {stats['cpu_s']} s CPU = {stats['msgs_per_s']:,} messages/s wall, "
          f"{stats['msgs_per_cpu_s']:,} messages per CPU-second (one core); peak RSS {stats['peak_rss_mb']} MB")
    with tempfile.TemporaryDirectory() as tmp:
        api_calls(Path(tmp))


if __name__ == "__main__":
    main()
