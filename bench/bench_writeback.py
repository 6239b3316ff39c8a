"""Benchmark writeback: 100,000 Marketo activities end to end on the sandbox (REST paging and Bulk Extract), and
activities -> Segment batches with no network.

Prints Marketo calls vs the target (1 per 300 activities + 1 per 300 distinct leads), Segment requests and
average batch fill (vs 475,000 bytes / 2,500 messages), wall time and the writeback process's peak RSS.
The sandbox runs in its own process, so RSS and CPU are the tool's alone.

Run: python bench/bench_writeback.py [--activities 100000] [--leads 20000] [--mode rest|bulk|both]
     [--fast-limits]   (a 2 s rate window instead of Marketo's 20 s: same calls, less waiting)
     python bench/bench_writeback.py --batches-only [--activities 100000]   (local cost, JSON on stdout)
Not a test; prints figures. `python bench/run.py` runs the throughput and local-cost parts with the others.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MARKETO, QUICK, SandboxProcess, Timer, cli_env, peak_rss_mb, run_child  # noqa: E402

from segmarketo_cli.config import load_settings
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.jobs.writeback.activity import activity_from_rest, parse_record
from segmarketo_cli.jobs.writeback.events import EventBuilder, LeadIdentity
from segmarketo_cli.jobs.writeback.execute import OutFileSink, Pipeline
from segmarketo_cli.jobs.writeback.lookups import CAMPAIGNS_KEY, SUBJECTS_KEY, AssetNames, LeadDirectory
from segmarketo_cli.jobs.writeback.plan import KNOWN_EVENTS
from segmarketo_cli.jobs.writeback.prepare import WritebackOptions, prepare
from segmarketo_cli.jobs.writeback.run import run
from segmarketo_cli.sandbox.stores.activity_types import STANDARD_TYPES
from segmarketo_cli.segment.sender import BatchSender
from segmarketo_cli.state import StateStore

TYPES = ["Send Email", "Email Delivered", "Open Email", "Click Email", "Email Bounced", "Email Bounced Soft",
         "Unsubscribe Email", "Change Status in Progression", "Fill Out Form"]
WEIGHTS = [30, 29, 18, 9, 2, 2, 1, 5, 4]
MAX_BATCH_BYTES, MAX_BATCH_MESSAGES = 475_000, 2_500
CAMPAIGNS = 20
EMAILS = 50


def attributes(rng: random.Random, kind: str) -> dict[str, Any]:
    """Attributes shaped as Marketo returns them for each activity type."""
    attrs: dict[str, Any] = {"Campaign Run ID": rng.randint(1, 500), "Choice Number": 0, "Step ID": rng.randint(1, 9)}
    if kind in ("Open Email", "Click Email"):
        attrs.update({"Device": "iPhone", "User Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)",
                      "Platform": "iOS", "Is Mobile Device": True})
    if kind == "Click Email":
        attrs.update({"Link": f"https://shop.example.com/product/{rng.randint(1, 999)}?utm_source=email",
                      "Link ID": f"link-{rng.randint(1, 99)}"})
    if kind.startswith("Email Bounced"):
        attrs.update({"Category": "1", "Details": "550 5.1.1 mailbox unavailable", "Subcategory": "1001"})
    if kind == "Change Status in Progression":
        attrs.update({"Old Status": "Invited", "New Status": "Registered", "Success": False})
    return attrs


def seed(box: Any, activities: int, leads: int) -> dict[str, Any]:
    """Sandbox seed (runs in the sandbox's process): leads (2 in 3 with a userId) and activities over 2 days."""
    rng = random.Random(5)
    campaigns = [box.marketo.add_campaign(f"Nurture step {i}") for i in range(CAMPAIGNS)]
    ids = [box.marketo.add_lead(email=f"person{i}@example.com", **({"segmentUserId": f"u{i}"} if i % 3 else {}))
           for i in range(leads)]
    start = datetime.now(timezone.utc) - timedelta(days=2)
    store = box.marketo.activities
    with box.marketo.lock:
        for n in range(activities):
            kind = rng.choices(TYPES, WEIGHTS)[0]
            when = start + timedelta(seconds=n * (2 * 86400 - 600) / activities)
            store.add(ids[n % leads] if n < leads else rng.choice(ids), kind, when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      campaign_id=rng.choice(campaigns), primary_attribute_value_id=1000 + n % EMAILS,
                      primary_attribute_value=f"Newsletter {n % EMAILS}", attributes=attributes(rng, kind), bulk=True)
        store.resort()
    return {"activities": activities, "leads": leads}


def writeback_env(url: str, home: str, window_s: float) -> dict[str, str]:
    opt_in_extras(Path(home))
    return cli_env(url, Path(home), SEGMARKETO_USER_ID_FIELD="segmentUserId",
                   SEGMARKETO_RATE_LIMIT_WINDOW_S=str(window_s))


def opt_in_extras(home: Path) -> None:
    """The bench's activity mix includes the Marketo extras (Send Email, ...): write them back too."""
    config = home / "config.toml"
    config.write_text("[profiles.default.writeback]\nmarketo_extras = true\n")
    config.chmod(0o600)  # a config others can write is refused, whatever the umask


# ---- local cost: activities -> Segment batches ----------------------------------------------------------------
def batches_only(activities: int, leads: int) -> dict[str, Any]:
    """Parse activities as Get Lead Activities returns them, build events, split and serialise the batches."""
    type_ids = {t["name"]: t["id"] for t in STANDARD_TYPES if t["name"] in TYPES}
    rng = random.Random(5)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    raw = []
    for n in range(activities):
        kind = rng.choices(TYPES, WEIGHTS)[0]
        when = (start + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        raw.append({"id": 100_001 + n, "marketoGUID": str(100_001 + n), "leadId": 1 + n % leads, "activityDate": when,
                    "activityTypeId": type_ids[kind], "campaignId": 1 + n % CAMPAIGNS,
                    "primaryAttributeValueId": 1000 + n % EMAILS, "primaryAttributeValue": f"Newsletter {n % EMAILS}",
                    "attributes": [{"name": k, "value": v} for k, v in attributes(rng, kind).items()]})
    builder = EventBuilder(events=KNOWN_EVENTS, type_names={i: name for name, i in type_ids.items()},
                           munchkin="123-ABC-456", integrations={"Marketo V2": False}, user_id_field="segmentUserId")
    directory = LeadDirectory(None, "segmentUserId")  # type: ignore[arg-type]
    directory._known = {i: LeadIdentity(i, f"person{i}@example.com", f"u{i}" if i % 3 else None)
                        for i in range(1, leads + 1)}
    campaigns = AssetNames(None, None, CAMPAIGNS_KEY, dict)  # type: ignore[arg-type]
    campaigns._names = {i: f"Nurture step {i}" for i in range(1, CAMPAIGNS + 1)}
    subjects = AssetNames(None, None, SUBJECTS_KEY, dict)  # type: ignore[arg-type]
    subjects._names = {1000 + i: f"Newsletter {i}: what is new" for i in range(EMAILS)}
    report = RunReport("writeback")
    with tempfile.TemporaryDirectory() as tmp:
        sink = OutFileSink(BatchSender("https://api.segment.io", "-", integrations={"Marketo V2": False}),
                           Path(os.devnull))
        with RejectsWriter(Path(tmp) / "rejects.jsonl") as rejects, Timer() as timer:
            pipeline = Pipeline(builder, directory, campaigns, subjects, sink, report, rejects, None)
            for n, item in enumerate(raw):
                pipeline.add("s", {"n": n}, parse_record(activity_from_rest, item), origin="bench")
            pipeline.flush()
        sink.close()
    written = report.counts.get("written", 0)
    return {"activities": activities, "events": written, "batches": pipeline.batches,
            "avg_batch_bytes": pipeline.batch_bytes // max(pipeline.batches, 1),
            "avg_batch_messages": round(written / max(pipeline.batches, 1)),
            "seconds": round(timer.seconds, 2), "activities_per_s": round(activities / timer.seconds),
            "peak_rss_mb": round(peak_rss_mb())}


# ---- the issue-5 end-to-end figures -----------------------------------------------------------------------------
def bulk_client(poll_s: float) -> None:
    """Child process: the job through the bulk path, with a short status poll (the sandbox steps per poll)."""
    settings = load_settings()
    services = Services(settings, StateStore(Path(os.environ["SEGMARKETO_HOME"]) / "state", "bench-bulk"))
    report = RunReport("writeback")
    prepared = prepare(settings, WritebackOptions(since="3d", bulk=True, poll_interval_s=poll_s), services)
    with RejectsWriter(Path(os.environ["SEGMARKETO_HOME"]) / "rejects.jsonl") as rejects:
        run(JobContext(services=services, report=report, rejects=rejects), prepared)
    services.count_calls(report)
    print(json.dumps(report.to_dict()))


def measure(label: str, command: list[str], env: dict, box: SandboxProcess, activities: int, leads: int) -> None:
    before = box.state()
    try:
        run = run_child(command, env, ok=(0, 3))
    except RuntimeError as exc:
        print(f"{label}: failed: {exc}")
        return
    report = run.json()
    after = box.state()
    distinct = report["details"].get("distinct_leads", leads)
    calls = report["api_calls"]["marketo"]
    target = activities / 300 + distinct / 300
    batches = report["details"].get("segment_batches", 0)
    avg_bytes = report["details"].get("avg_batch_bytes", 0)
    accepted = after["segment"]["accepted"] - before["segment"]["accepted"]
    duplicates = (after["segment"]["dropped"].get("duplicate_message_id", 0)
                  - before["segment"]["dropped"].get("duplicate_message_id", 0))
    sent = report["counts"].get("sent", 0)
    fill = max(avg_bytes / MAX_BATCH_BYTES, (sent / batches if batches else 0) / MAX_BATCH_MESSAGES)
    print(f"\n== {label} ==")
    print(f"activities read {report['counts']['activities_read']:,}, sent {sent:,}; sandbox Segment kept {accepted:,} "
          f"new, dropped {duplicates:,} as duplicate messageIds; status {report['status']}")
    lead_calls = -(-distinct // 300)
    pages = report["details"].get("pages")
    reading = f"{pages} activity pages" if pages is not None else f"bulk {report['details'].get('bulk')}"
    print(f"Marketo calls {calls} (sandbox counted {after['usage_today'] - before['usage_today']}) vs target "
          f"{target:.1f} = {activities:,}/300 + {distinct:,} distinct leads/300: "
          f"{'within' if calls <= target else 'over'} target. Breakdown: {reading}, {lead_calls} lead lookups, "
          f"{calls - (pages or 0) - lead_calls} other (types, campaigns, e-mail subjects, paging tokens or export)")
    print(f"Segment requests {report['api_calls']['segment']}, batches {batches}, average batch "
          f"{avg_bytes:,} bytes / {sent / max(batches, 1):,.0f} messages = {100 * fill:.1f}% fill")
    print(f"wall time {run.wall_s:.1f} s ({activities / run.wall_s:,.0f} activities/s); peak RSS of the writeback "
          f"process {run.peak_rss_mb:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--mode", choices=["rest", "bulk", "both"], default="both")
    parser.add_argument("--fast-limits", action="store_true")
    parser.add_argument("--batches-only", action="store_true", help="local cost only; prints JSON")
    parser.add_argument("--bulk-client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batches_only:
        print(json.dumps(batches_only(args.activities, args.leads)))
        return
    if args.bulk_client:
        bulk_client(poll_s=0.5)
        return
    limits = QUICK if args.fast_limits else MARKETO
    config = limits.sandbox_config(latency_s=0.0, latency_per_record_s=0.0)
    print(f"seeding the sandbox with {args.activities:,} activities for {args.leads:,} leads ...", flush=True)
    with SandboxProcess(config, seed, args.activities, args.leads) as box, tempfile.TemporaryDirectory() as home:
        env = writeback_env(box.url, home, limits.window_s)
        text = f"90 calls / {limits.window_s:g} s client window"
        if args.mode in ("rest", "both"):
            measure(f"REST paging (segmarketo writeback --since 3d), {text}",
                    [sys.executable, "-m", "segmarketo_cli", "writeback", "--since", "3d", "--json"],
                    env, box, args.activities, args.leads)
        if args.mode in ("bulk", "both"):
            measure(f"Bulk Activity Extract (--bulk, status poll 0.5 s for the bench), {text}",
                    [sys.executable, __file__, "--bulk-client"], env, box, args.activities, args.leads)


if __name__ == "__main__":
    main()
