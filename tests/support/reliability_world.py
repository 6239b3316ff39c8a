"""Shared worlds for the reliability suite: one small scenario per job, sandboxes, state snapshots, fault hooks."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segmarketo_cli.jobs.sync_audience import session as audience_session
from segmarketo_cli.marketo import client as marketo_client
from segmarketo_cli.sandbox import Sandbox, SandboxConfig
from segmarketo_cli.segment import sender as sender_module
from tests.support.sandbox_env import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_WRITE_KEY, point_cli_at
from tests.support.writeback_helpers import populate

JOBS = ("backfill", "audience", "writeback", "apply-events")
# Client side: a short limiter window (606 pauses one window) and short read timeouts.
FAST_ENV = {"SEGMARKETO_RATE_LIMIT_WINDOW_S": "0.1", "SEGMARKETO_HTTP_TIMEOUT_S": "1.0"}

RULES = """
[[rule]]
name = "usage"
event = "Report Created"
action = "score"
field = "productScore"
points = { property = "weight", default = 5 }

[[rule]]
name = "webinar"
event = "Webinar Registered"
action = "program-status"
program = "Q4 Webinar"
status = "registered"

[[rule]]
name = "welcome"
event = "Trial Started"
action = "trigger-campaign"
campaign = "Trial Welcome"
tokens = { "my.plan" = { property = "plan" } }

[[rule]]
name = "stage"
event = "Subscription Started"
action = "set-fields"
fields = { lifecycleStage = "Customer", isCustomer = true, mrr = { property = "mrr" } }
"""


@dataclass
class Scenario:
    """A job run: the CLI arguments (input files written under tmp) and the extra environment it needs."""

    job: str
    args: list[str]
    env: dict[str, str]


def _people(n: int) -> list[str]:
    return [f"person{i}@example.com" for i in range(n)]


def build(job: str, box: Sandbox, tmp: Path, *, size: int = 1) -> Scenario:
    """Seed `box` and write the input of `job` under `tmp`; `size` scales the record counts."""
    tmp.mkdir(parents=True, exist_ok=True)
    m = box.marketo
    if job == "backfill":
        for i in range(0, 40 * size, 4):  # some people already exist in Marketo, with stale values
            m.add_lead(email=f"person{i}@example.com", firstName="Old", title="Old title")
        lines = []
        for i in range(320 * size):
            msg = {"type": "identify", "userId": f"u{i}", "messageId": f"m{i}", "timestamp": "2024-05-01T00:00:00Z",
                   "traits": {"email": f"person{i}@example.com", "firstName": f"P{i}", "lastName": "Lee",
                              "title": f"Engineer {i % 7}", "city": "Zürich" if i % 3 else "東京"}}
            if i % 25 == 0:
                msg["context"] = {"Marketo": {"marketoCookie": f"id:123-ABC-456&token:_mch-x-{i}"}}
            lines.append(json.dumps(msg, ensure_ascii=False))
        path = tmp / "identifies.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return Scenario(job, ["backfill-leads", str(path)], {})
    if job == "audience":
        ids = [m.add_lead(email=email, firstName="P") for email in _people(60 * size)]
        list_id = m.add_list("VIP")
        m.add_to_list(list_id, ids[30 * size:])
        members = _people(45 * size) + [f"stranger{i}@example.com" for i in range(3)]
        path = tmp / "audience.csv"
        path.write_text("email\n" + "".join(f"{e}\n" for e in members), encoding="utf-8")
        return Scenario(job, ["sync-audience", str(path), "--list", "VIP", "--force"], {})
    if job == "writeback":
        populate(box, 45 * size, with_noise=False)
        return Scenario(job, ["writeback", "--since", "3d"], {"SEGMARKETO_USER_ID_FIELD": "segmentUserId"})
    if job == "apply-events":
        m.add_program("Q4 Webinar", channel="Webinar")
        m.add_campaign("Trial Welcome", type="trigger")
        messages: list[dict[str, Any]] = []
        for i in range(40 * size):
            m.add_lead(email=f"person{i}@example.com", productScore=10)
            user = f"u{i}"
            messages.append({"type": "identify", "messageId": f"id-{i}", "userId": user,
                             "traits": {"email": f"person{i}@example.com"}, "timestamp": "2026-11-20T09:00:00Z"})
            events = [("Report Created", {"weight": i % 4 + 1}), ("Report Created", {})]
            if i % 2:
                events.append(("Webinar Registered", {}))
            if i % 3 == 0:
                events.append(("Trial Started", {"plan": "pro" if i % 2 else "team"}))
            if i % 5 == 0:
                events.append(("Subscription Started", {"mrr": f"{i}.5"}))
            for n, (event, props) in enumerate(events):
                messages.append({"type": "track", "messageId": f"e-{i}-{n}", "userId": user, "event": event,
                                 "properties": props, "timestamp": f"2026-11-20T10:{n:02d}:00Z"})
        path = tmp / "events.jsonl"
        path.write_text("".join(json.dumps(msg) + "\n" for msg in messages), encoding="utf-8")
        rules = tmp / "rules.toml"
        rules.write_text(RULES, encoding="utf-8")
        return Scenario(job, ["apply-events", str(path), "--rules", str(rules)], {})
    raise ValueError(job)


def snapshot(box: Sandbox) -> dict[str, Any]:
    """What Marketo and Segment hold, keyed by stable values (e-mails, names, messageIds), not by ids."""
    m = box.marketo
    with m.lock:
        email = {lead["id"]: lead.get("email") for lead in m.leads}
        leads = sorted(json.dumps({k: v for k, v in lead.items() if k not in ("id", "createdAt", "updatedAt")},
                                  sort_keys=True, ensure_ascii=False) for lead in m.leads)
        lists = {lst.name: sorted(str(email[i]) for i in m.list_members(lid)) for lid, lst in m.assets.lists.items()}
        programs = {prog.name: sorted((str(email[i]), status) for i, status in m.program_members(pid).items())
                    for pid, prog in m.assets.programs.items()}
        # one entry per lead and request, so a lead requested twice shows up twice
        campaigns = {camp.name: sorted(json.dumps([str(email[i]), r.get("tokens")], sort_keys=True)
                                       for r in m.campaign_requests(cid) for i in r["leadIds"])
                     for cid, camp in m.assets.campaigns.items()}
        # Associate Lead is idempotent in Marketo: a cookie linked twice to one lead is one association
        cookies = sorted({(str(email[lead]), cookie) for lead, cookie in m.associations})
    events = {}
    for message in box.segment.accepted:
        events[message["messageId"]] = json.dumps(
            {k: message.get(k) for k in ("type", "event", "userId", "anonymousId", "properties", "originalTimestamp")},
            sort_keys=True)
    return {"leads": leads, "lists": lists, "programs": programs, "campaigns": campaigns, "cookies": cookies,
            "segment": events, "segment_accepted": len(box.segment.accepted)}


def new_box(**config: Any) -> Sandbox:
    """A started sandbox with the suite's credentials; the Segment write key is checked strictly."""
    box = Sandbox(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET, write_key=SANDBOX_WRITE_KEY,
                  config=SandboxConfig(strict_write_key=True, **config))
    return box.start(host="127.0.0.1", port=0)


@contextmanager
def pointed_at(monkeypatch, box: Sandbox, home: Path, extra: dict[str, str] | None = None) -> Iterator[None]:
    """Run in-process CLI calls against `box`, with its own SEGMARKETO_HOME, for the duration of the block."""
    with monkeypatch.context() as patch:
        point_cli_at(patch, box.url, home, extra)
        yield


class RequestHook:
    """Wraps `box.dispatch`: counts API requests (Marketo /rest, /bulk and Segment /v1) and runs callbacks
    when the count reaches a number: `before` the request is handled, or `after` it was (reply not yet sent)."""

    def __init__(self, box: Sandbox, prefixes: tuple[str, ...] = ("/rest/", "/bulk/", "/v1/")) -> None:
        self.box = box
        self.prefixes = prefixes
        self.count = 0
        self.in_flight = 0
        self.paths: list[tuple[str, str]] = []
        self._before: dict[int, list[Callable[[], None]]] = {}
        self._after: dict[int, list[Callable[[], None]]] = {}
        self._each: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._original = box.dispatch
        box.dispatch = self._dispatch  # type: ignore[method-assign]

    def reset(self) -> None:
        """Start counting again from zero, with no actions armed."""
        with self._lock:
            self.count = 0
            self.paths.clear()
            self._before.clear()
            self._after.clear()
            self._each.clear()

    def before(self, n: int, action: Callable[[], None]) -> None:
        self._before.setdefault(n, []).append(action)

    def after(self, n: int, action: Callable[[], None]) -> None:
        self._after.setdefault(n, []).append(action)

    def stages(self, first: int, stages: list[Callable[[], None]], gap: int = 4) -> None:
        """Run `stages` one at a time: the first at request `first`, each next one `gap` requests after the
        faults of the previous stage were all served, so no single call meets two stages."""
        queue = list(stages)
        state = {"next": first}

        def check() -> None:
            if not queue:
                return
            if self.box.faults.pending:
                state["next"] = self.count + gap
                return
            if self.count >= state["next"]:
                queue.pop(0)()
                state["next"] = self.count + gap

        self._each.append(check)

    def _dispatch(self, request):  # noqa: ANN001 - the sandbox's Request
        if not request.path.startswith(self.prefixes):
            return self._original(request)
        with self._lock:
            self.count += 1
            n = self.count
            self.paths.append((request.method, request.path))
            for check in self._each:
                check()
        with self._lock:
            self.in_flight += 1
        try:
            for action in self._before.get(n, []):
                action()
            response = self._original(request)
            for action in self._after.get(n, []):
                action()
            return response
        finally:
            with self._lock:
                self.in_flight -= 1

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no request is being handled (a stalled one may outlive the client that sent it)."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not self.in_flight, "the sandbox is still handling a request"


def speed_up(monkeypatch) -> None:
    """Tiny retry backoff, and batches small enough that every job makes several writes."""
    monkeypatch.setattr(marketo_client, "BACKOFF_BASE_S", 0.01)
    monkeypatch.setattr(sender_module, "BACKOFF_BASE_S", 0.01)
    monkeypatch.setattr(sender_module, "MAX_BATCH_MESSAGES", 10)
    monkeypatch.setattr(audience_session, "CALL_SIZE", 10)


def run_cli(invoke, monkeypatch, box: Sandbox, home: Path, scenario: Scenario, *extra: str):
    """One in-process run of `scenario` against `box` with --json; returns (result, report or None)."""
    with pointed_at(monkeypatch, box, home, {**FAST_ENV, **scenario.env}):
        result = invoke(*scenario.args, *extra, "--json")
    assert "Traceback" not in result.output
    start = result.stdout.find("{")
    return result, (json.loads(result.stdout[start:]) if start >= 0 else None)


def secrets_of(box: Sandbox) -> list[str]:
    """Every secret the suite must never see written anywhere: client secret, write key, issued tokens."""
    return [SANDBOX_CLIENT_SECRET, SANDBOX_WRITE_KEY, *box.identity.known.keys()]


def private_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
