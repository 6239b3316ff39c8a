"""Benchmark writeback: 100,000 Marketo activities end to end on the sandbox (REST paging and Bulk Extract).

Prints Marketo calls vs the target (1 per 300 activities + 1 per 300 distinct leads), Segment requests and
average batch fill (vs 475,000 bytes / 2,500 messages), wall time and the writeback process's peak RSS.
The sandbox runs in its own process, so RSS and CPU are the tool's alone.

Run: python bench/bench_writeback.py [--activities 100000] [--leads 20000] [--mode rest|bulk|both]
     [--fast-limits]   (a 2 s rate window instead of Marketo's 20 s: same calls, less waiting)
Not a test; prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

TYPES = ["Send Email", "Email Delivered", "Open Email", "Click Email", "Email Bounced", "Email Bounced Soft",
         "Unsubscribe Email", "Change Status in Progression", "Fill Out Form"]
WEIGHTS = [30, 29, 18, 9, 2, 2, 1, 5, 4]
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret-0123456789"
MAX_BATCH_BYTES, MAX_BATCH_MESSAGES = 475_000, 2_500


def serve(activities: int, leads: int, window_s: float) -> None:
    """Child process: a seeded sandbox; prints its URL, serves until stdin closes."""
    from segmarketo_cli.sandbox import Sandbox, SandboxConfig

    box = Sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, config=SandboxConfig(window_s=window_s))
    rng = random.Random(5)
    campaigns = [box.marketo.add_campaign(f"Nurture step {i}") for i in range(20)]
    ids = [box.marketo.add_lead(email=f"person{i}@example.com", **({"segmentUserId": f"u{i}"} if i % 3 else {}))
           for i in range(leads)]
    start = datetime.now(timezone.utc) - timedelta(days=2)
    store = box.marketo.activities
    with box.marketo.lock:
        for n in range(activities):
            kind = rng.choices(TYPES, WEIGHTS)[0]
            attrs: dict = {"Campaign Run ID": rng.randint(1, 500), "Choice Number": 0, "Step ID": rng.randint(1, 9)}
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
            when = start + timedelta(seconds=n * (2 * 86400 - 600) / activities)
            store.add(rng.choice(ids), kind, when.strftime("%Y-%m-%dT%H:%M:%SZ"), campaign_id=rng.choice(campaigns),
                      primary_attribute_value_id=1000 + n % 50, primary_attribute_value=f"Newsletter {n % 50}",
                      attributes=attrs, bulk=True)
        store.resort()
    box.start()
    print(box.url, flush=True)
    sys.stdin.read()
    box.stop()


def bulk_client(poll_s: float) -> None:
    """Child process: the job through the bulk path, with a short status poll (the sandbox steps per poll)."""
    from segmarketo_cli.config import load_settings
    from segmarketo_cli.jobs import writeback_run
    from segmarketo_cli.rejects import RejectsWriter
    from segmarketo_cli.report import RunReport
    from segmarketo_cli.services import build_marketo, build_segment
    from segmarketo_cli.state import StateStore

    settings = load_settings()
    store = StateStore(Path(os.environ["SEGMARKETO_HOME"]) / "state", "bench-bulk")
    report = RunReport("writeback")
    marketo = build_marketo(settings)
    sender = []

    def segment():
        sender.append(build_segment(settings))
        return sender[0]

    with RejectsWriter(Path(os.environ["SEGMARKETO_HOME"]) / "rejects.jsonl") as rejects:
        writeback_run.run(marketo=marketo, store=store, settings=settings, report=report, rejects=rejects,
                          options=writeback_run.WritebackOptions(since="3d", bulk=True), segment=segment,
                          poll_interval_s=poll_s)
    report.api_calls = {"marketo": marketo.calls, "segment": sender[0].requests if sender else 0}
    print(json.dumps(report.to_dict()))


def inspect(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_sandbox/state") as response:
        return json.load(response)


def measure(label: str, command: list[str], env: dict, url: str, activities: int, leads: int) -> None:
    before = inspect(url)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=errors)
        out = process.stdout.read()
        _, status, rusage = os.wait4(process.pid, 0)  # this child's own peak RSS, not the sandbox's
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if process.returncode not in (0, 3):
            errors.seek(0)
            print(f"{label}: failed with exit {process.returncode}\n{errors.read().decode()[-2000:]}")
            return
    text = out.decode()
    report = json.loads(text[text.index("{"):])
    after = inspect(url)
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
          f"{calls - (pages or 0) - lead_calls} other (types, campaigns, e-mail subjects, paging token or export)")
    print(f"Segment requests {report['api_calls']['segment']}, batches {batches}, average batch "
          f"{avg_bytes:,} bytes / {sent / max(batches, 1):,.0f} messages = {100 * fill:.1f}% fill")
    print(f"wall time {wall:.1f} s ({activities / wall:,.0f} activities/s); peak RSS of the writeback process "
          f"{rusage.ru_maxrss / 1024:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--mode", choices=["rest", "bulk", "both"], default="both")
    parser.add_argument("--fast-limits", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bulk-client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    window_s = 2.0 if args.fast_limits else 20.0
    if args.serve:
        serve(args.activities, args.leads, window_s)
        return
    if args.bulk_client:
        bulk_client(poll_s=0.5)
        return
    print(f"seeding the sandbox with {args.activities:,} activities for {args.leads:,} leads ...", flush=True)
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--activities", str(args.activities),
                               "--leads", str(args.leads)] + (["--fast-limits"] if args.fast_limits else []),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    url = server.stdout.readline().decode().strip()
    try:
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "SEGMARKETO_HOME": home, "SEGMARKETO_MARKETO_ENDPOINT": url,
                   "SEGMARKETO_MARKETO_CLIENT_ID": CLIENT_ID, "SEGMARKETO_MARKETO_CLIENT_SECRET": CLIENT_SECRET,
                   "SEGMARKETO_SEGMENT_ENDPOINT": url, "SEGMARKETO_SEGMENT_WRITE_KEY": "bench-write-key-0123",
                   "SEGMARKETO_USER_ID_FIELD": "segmentUserId", "SEGMARKETO_RATE_LIMIT_WINDOW_S": str(window_s)}
            limits = f"{90} calls / {window_s:.0f} s client window"
            if args.mode in ("rest", "both"):
                measure(f"REST paging (segmarketo writeback --since 3d), {limits}",
                        [sys.executable, "-m", "segmarketo_cli", "writeback", "--since", "3d", "--json"],
                        env, url, args.activities, args.leads)
            if args.mode in ("bulk", "both"):
                measure(f"Bulk Activity Extract (--bulk, status poll 0.5 s for the bench), {limits}",
                        [sys.executable, __file__, "--bulk-client"], env, url, args.activities, args.leads)
    finally:
        server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
