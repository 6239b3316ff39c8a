"""Benchmark apply-events: 1,000,000 track events -> read+match+plan time, peak RSS, Marketo calls vs target.

Run: python bench/bench_apply_events.py [--events 1000000] [--people 50000]
Prints figures; not a timed test. The export is generated deterministically under bench/_out/.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CLIENT_ID, CLIENT_SECRET, OUT, SandboxProcess, peak_rss_mb  # noqa: E402

from segmarketo_cli.config import Settings
from segmarketo_cli.jobs.apply_events.events import EventCollector
from segmarketo_cli.jobs.apply_events.prepare import ApplyOptions, PreparedApply, prepare
from segmarketo_cli.jobs.apply_events.run import run
from segmarketo_cli.jobs.apply_events.staging import StagedEvents, rows
from segmarketo_cli.jobs.apply_events.windows import PlanWindows
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.marketo.base import MAX_BATCH
from segmarketo_cli.marketo.client import MarketoClient
from segmarketo_cli.marketo.limits import Limiter
from segmarketo_cli.sandbox import SandboxConfig
from segmarketo_cli.sources import read_all
from segmarketo_cli.state import StateStore

RULES = """
[[rule]]
name = "usage-score"
event = ["Report Created", "Dashboard Shared"]
where = { plan = "pro" }
action = "score"
field = "productScore"
points = { property = "weight", default = 1 }

[[rule]]
name = "webinar-registered"
event = "Webinar Registered"
action = "program-status"
program = "Bench Webinar"
status = "Registered"

[[rule]]
name = "trial-welcome"
event = "Trial Started"
action = "trigger-campaign"
campaign = "Bench Welcome"
tokens = { "my.plan" = { property = "plan" } }

[[rule]]
name = "opt-out"
event = "Unsubscribed"
action = "suppress"
remove_from_lists = ["Bench Newsletter"]

[[rule]]
name = "customer"
event = "Subscription Started"
action = "set-fields"
fields = { lifecycleStage = "Customer", mrr = { property = "mrr" } }
"""
# event name, share of events, properties
MIX = [("Report Created", 0.45, lambda r: {"plan": r.choice(["pro", "pro", "free"]), "weight": r.randint(1, 5)}),
       ("Dashboard Shared", 0.15, lambda r: {"plan": "pro"}),
       ("Webinar Registered", 0.10, lambda r: {}),
       ("Trial Started", 0.10, lambda r: {"plan": r.choice(["pro", "team", "starter"])}),
       ("Unsubscribed", 0.01, lambda r: {"reason": "bench"}),
       ("Subscription Started", 0.05, lambda r: {"mrr": r.choice([49, 99, 199])}),
       ("Page Scrolled", 0.14, lambda r: {})]


def email(n: int) -> str:
    return f"person{n:06d}@bench.example.com"


def generate(path: Path, events: int, people: int) -> None:
    rnd = random.Random(7)
    names = [m[0] for m in MIX]
    weights = [m[1] for m in MIX]
    props = {m[0]: m[2] for m in MIX}
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for n in range(people):
            out.write(json.dumps({"type": "identify", "messageId": f"id-{n}", "userId": f"u{n}",
                                  "anonymousId": f"a{n}", "traits": {"email": email(n)},
                                  "timestamp": "2026-11-01T00:00:00Z"}) + "\n")
        base = 1_793_000_000
        for i in range(events):
            n = rnd.randrange(people)
            name = rnd.choices(names, weights)[0]
            who = {"userId": f"u{n}"} if rnd.random() < 0.8 else {"anonymousId": f"a{n}"}
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i))
            out.write(json.dumps({"type": "track", "messageId": f"ev-{i}", "event": name, **who,
                                  "properties": props[name](rnd), "timestamp": ts}) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--no-apply", action="store_true", help="only read and plan; skip the sandbox run")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    export = OUT / f"track_{args.events}_{args.people}.jsonl.gz"
    if not export.exists():
        started = time.perf_counter()
        generate(export, args.events, args.people)
        size = export.stat().st_size / 1e6
        print(f"generated {export.name} ({size:.1f} MB) in {time.perf_counter() - started:.1f} s")

    # The sandbox lives in its own process, so peak RSS below is apply-events' own.
    config = SandboxConfig(rate_limit_calls=100_000, max_concurrency=50, daily_quota=10_000_000)
    with SandboxProcess(config, seed_sandbox, args.people) as box, tempfile.TemporaryDirectory() as state_dir:
        print(f"sandbox (separate process) seeded with {args.people:,} leads in {box.seed_s:.1f} s")
        home = Path(state_dir)
        os.environ["SEGMARKETO_REGISTRY"] = str(home / "instance-registry.sqlite")  # claim no instance of the user's
        rules_path = home / "rules.toml"
        rules_path.write_text(RULES, encoding="utf-8")
        limiter = Limiter(calls=100_000, window_s=20.0, max_concurrency=5)
        client = MarketoClient(box.url, CLIENT_ID, CLIENT_SECRET, limiter=limiter)
        services = Services(Settings(max_concurrency=5), StateStore(home, "bench"), _marketo=client)
        options = ApplyOptions(files=(str(export),), rules_path=str(rules_path))
        prepared = prepare(services.settings, options, services)
        read_and_plan(prepared, services)
        if args.no_apply:
            return 0
        # run 1: cold lead-id cache; run 2: the same files again (exactly once: no write);
        # run 3: --reprocess with a warm cache, so score values are read by id (the "score reads")
        for number in (1, 2, 3):
            report = RunReport(command="apply-events")
            before = client.calls
            again = replace(prepared, options=replace(options, reprocess=number == 3))
            with RejectsWriter(home / f"rejects{number}.jsonl") as rejects:
                started = time.perf_counter()
                run(JobContext(services=services, report=report, rejects=rejects), again)
                total_s = time.perf_counter() - started
            calls = client.calls - before
            print(f"\nrun {number}: {total_s:.1f} s end to end, {calls:,} Marketo calls, "
                  f"peak RSS {peak_rss_mb():,.0f} MB")
            print(f"  calls by stage: {report.details['calls']}")
            buckets = {k: v for k, v in report.counts.items() if not k.endswith(".matched") and v}
            print(f"  buckets: {buckets}")
            if number != 2:
                print_targets(report)
        return 0


def read_and_plan(prepared: PreparedApply, services: Services) -> None:
    """Read + match + plan alone, with one stand-in lead id per person instead of the lookups."""
    resolved = prepared.profile.resolved
    staged = StagedEvents(services.engine().con)
    started = time.perf_counter()
    collected = EventCollector(resolved.rules, resolved.coerce, staged).feed(read_all(prepared.inputs))
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    numbers: dict[str, tuple[int, ...]] = {}
    for (who,) in rows(staged.con, "SELECT who FROM ae_matches GROUP BY who"):
        numbers[who] = (len(numbers) + 1,)
        staged.who.add(who, who, None, None)  # the person node stands for its lookup value
        staged.found.add(who)
    staged.flush()
    matches = sum(staged.count_by_rule("ae_matches").values())
    windows = PlanWindows(staged, resolved.rules, resolved.targets, numbers)
    for _ in windows.plans():
        pass
    plan_s = time.perf_counter() - started
    print(f"read+match {collected.counts['messages']:,} messages in {read_s:.1f} s "
          f"({collected.counts['messages'] / read_s:,.0f}/s); {matches:,} matches")
    print(f"plan build {plan_s:.2f} s for {len(numbers):,} identifiers in {windows.count} windows; "
          f"peak RSS {peak_rss_mb():,.0f} MB")


def seed_sandbox(box: Any, people: int) -> dict[str, Any]:
    """Runs in the sandbox's process: the leads, a newsletter list, the webinar program and the campaign."""
    m = box.marketo
    for n in range(people):
        m.add_lead(email=email(n), productScore=1)
    newsletter = m.add_list("Bench Newsletter")
    m.add_to_list(newsletter, list(range(1, people + 1, 3)))
    m.add_program("Bench Webinar", channel="Webinar")
    m.add_campaign("Bench Welcome", type="trigger")
    return {}


def print_targets(report: RunReport) -> None:
    """A real run's calls per stage (report.details["calls"]) against its per-rule plan (report.details["plan"])."""
    calls: dict[str, int] = report.details["calls"]
    by_rule = {entry["rule"]: entry for entry in report.details["plan"]}
    writes = calls.get("sync_leads", 0)
    field_leads = max(by_rule["usage-score"]["leads"], by_rule["customer"]["leads"], by_rule["opt-out"]["leads"])
    print(f"  targets (writes <= distinct leads / {MAX_BATCH} per action, plus the value reads):")
    print(f"    sync_leads (score + set-fields + unsubscribe in one row per lead): {writes} calls; "
          f"one action alone would need {math.ceil(by_rule['usage-score']['leads'] / MAX_BATCH)} "
          f"(score) + {math.ceil(by_rule['customer']['leads'] / MAX_BATCH)} (set-fields) + "
          f"{math.ceil(by_rule['opt-out']['leads'] / MAX_BATCH)} (suppress); largest single action ≥ "
          f"{math.ceil(field_leads / MAX_BATCH)}")
    reads = calls.get("value_read", 0)
    why = f"cached lead ids: values read by id, {MAX_BATCH} a call" if reads else "values came with the lead lookups"
    print(f"    value reads (scores and the fields written): {reads} calls ({why})")
    webinar = by_rule["webinar-registered"]["leads"]
    print(f"    program_status: {calls.get('program_status', 0)} calls for {webinar:,} leads "
          f"(target {math.ceil(webinar / MAX_BATCH)})")
    removal = by_rule["opt-out"]["leads"]
    print(f"    remove_from_list: {calls.get('remove_from_list', 0)} calls for {removal:,} suppressed leads "
          f"on 1 list (target {math.ceil(removal / MAX_BATCH)})")
    trial = by_rule["trial-welcome"]
    print(f"    request_campaign: {calls.get('request_campaign', 0)} calls for {trial['leads']:,} leads in "
          f"{trial['token_groups']} token groups (Marketo caps 100 leads per call)")


if __name__ == "__main__":
    sys.exit(main())
