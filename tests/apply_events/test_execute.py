"""PlanExecutor and Ledger with a scripted client: outcomes per record code, flush before errors, config errors."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli.errors import ConfigError, MarketoError, MarketoQuotaExhausted
from segmarketo_cli.jobs.apply_events.accounting import Ledger
from segmarketo_cli.jobs.apply_events.execute import PlanExecutor
from segmarketo_cli.jobs.apply_events.leads import LeadIndex, LeadResolver
from segmarketo_cli.jobs.apply_events.plan import Match, Targets, build_plan
from segmarketo_cli.jobs.apply_events.rules import parse_rules
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.state import StateStore

RULES = parse_rules(
    [
        {"name": "score", "event": "E", "action": "score", "field": "leadScore", "points": 1},
        {"name": "status", "event": "W", "action": "program-status", "program": 9, "status": "Registered"},
        {"name": "opt-out", "event": "U", "action": "suppress", "remove_from_lists": [5]},
        {"name": "camp", "event": "T", "action": "trigger-campaign", "campaign": 3},
    ],
    "rules.toml",
)
BY = {r.name: r for r in RULES}
TARGETS = {"status": Targets(program_id=9, status_step=20), "opt-out": Targets(list_ids=(5,)),
           "camp": Targets(campaign_id=3)}


class FakeClient:
    instance = "https://fake"

    def __init__(self) -> None:
        self.calls = 0
        self.synced: list[list[dict]] = []
        self.fail_status: str | None = None
        self.fail_campaign: Exception | None = None

    def get_leads_by_filter(self, filter_type, values, fields):
        self.calls += 1
        return [{"id": int(v), "leadScore": 10} for v in values]

    def sync_leads(self, records, *, action, lookup_field):
        self.calls += 1
        self.synced.append(records)
        return [{"id": r["id"], "status": "updated"} if r["id"] != 404 else
                {"status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]} for r in records]

    def remove_from_list(self, list_id, ids):
        self.calls += 1
        return [{"id": i, "status": "removed"} if i % 2 else
                {"id": i, "status": "skipped", "reasons": [{"code": "1015", "message": "Lead not in list"}]}
                for i in ids]

    def sync_program_member_status(self, program_id, status, ids):
        self.calls += 1
        if self.fail_status:
            raise MarketoError(self.fail_status, "Program status 'Registered' not found")
        return [{"seq": n, "status": "skipped", "reasons": [{"code": "1037", "message": "already"}]} if i == 2 else
                {"seq": n, "status": "created", "leadId": i} for n, i in enumerate(ids)]

    def request_campaign(self, campaign_id, ids, tokens=None):
        self.calls += 1
        if self.fail_campaign:
            raise self.fail_campaign
        return [{"id": campaign_id}]


def m(rule, lead_ids, mid, payload=None):
    return Match(BY[rule], mid, 1.0, f"f:{mid}", payload, lead_ids)


@pytest.fixture
def parts(tmp_path):
    client = FakeClient()
    store = StateStore(tmp_path / "state", "t")
    report = RunReport(command="apply-events")
    rejects = RejectsWriter(tmp_path / "rejects.jsonl")
    ledger = Ledger(report, rejects, store, client.instance)
    resolver = LeadResolver(client, store)
    yield client, store, report, rejects, ledger, resolver
    rejects.close()
    store.close()


def run(parts, matches):
    client, store, report, rejects, ledger, resolver = parts
    executor = PlanExecutor(client, ledger, resolver, LeadIndex(), workers=2)
    executor.run(build_plan(matches, TARGETS))
    return executor


def test_outcomes_per_record_code(parts, tmp_path):
    client, store, report, rejects, _, _ = parts
    run(parts, [m("score", (1,), "s1", 2), m("score", (404,), "s2", 1), m("status", (1,), "w1"),
                m("status", (2,), "w2"), m("opt-out", (3, 4), "u1", "bye"), m("camp", (1,), "t1", ())])
    c = report.counts
    assert client.synced[0][0] == {"id": 1, "leadScore": 12}  # 10 read + 2
    assert (c["score.applied"], c["score.rejected"]) == (1, 1)
    assert (c["status.applied"], c["status.unchanged"]) == (1, 1)
    assert c["opt-out.applied"] == 1  # lead 3 removed, lead 4 not in the list: applied overall
    assert c["camp.applied"] == 1
    assert store.processed(client.instance, "score", ["s1", "s2"]) == {"s1"}
    assert store.processed(client.instance, "status", ["w1", "w2"]) == {"w1", "w2"}
    rejects.close()
    assert '"reason": "Marketo 1004: Lead not found"' in (tmp_path / "rejects.jsonl").read_text()


class ShortReplyClient(FakeClient):
    """Sync Leads answers 1008 (partition) for lead 5 and leaves out the last row of each call."""

    def sync_leads(self, records, *, action, lookup_field):
        self.calls += 1
        rows = [{"status": "skipped", "reasons": [{"code": "1008", "message": "Partition update not allowed"}]}
                if r["id"] == 5 else {"id": r["id"], "status": "updated"} for r in records]
        return rows[:-1]


def test_partition_advice_and_a_missing_result_row(tmp_path):
    client = ShortReplyClient()
    store = StateStore(tmp_path / "state", "t")
    report = RunReport(command="apply-events")
    rejects = RejectsWriter(tmp_path / "rejects.jsonl")
    ledger = Ledger(report, rejects, store, client.instance)
    executor = PlanExecutor(client, ledger, LeadResolver(client, store), LeadIndex())
    executor.run(build_plan([m("score", (5,), "s5", 1), m("score", (6,), "s6", 1), m("score", (7,), "s7", 1)],
                            TARGETS))
    rejects.close()
    store.close()
    reasons = {line["messageId"]: line["reason"] for line in map(json.loads, (tmp_path / "rejects.jsonl").open())}
    assert reasons["s5"].startswith("Marketo 1008: Partition update not allowed (the API user's role cannot reach")
    assert reasons["s7"] == "Marketo returned no result for this record"
    assert (report.counts["score.applied"], report.counts["score.rejected"]) == (1, 2)


def test_unknown_status_at_write_time_is_a_config_error(parts):
    client = parts[0]
    client.fail_status = "1025"
    with pytest.raises(ConfigError, match=r"rules.toml: rule 2 \(\"status\"\), key 'status': Marketo error 1025"):
        run(parts, [m("status", (1,), "w1")])


def test_failure_keeps_what_was_confirmed(parts):
    client, store, report, _, ledger, _ = parts
    client.fail_campaign = MarketoQuotaExhausted("Daily quota reached")
    with pytest.raises(MarketoQuotaExhausted):
        run(parts, [m("score", (1,), "s1", 1), m("camp", (1,), "t1", ())])
    assert store.processed(client.instance, "score", ["s1"]) == {"s1"}
    assert store.processed(client.instance, "camp", ["t1"]) == set()
    assert ledger.abandon() == 1
    assert report.counts["camp.deferred"] == 1


class ListsClient(FakeClient):
    """Three static lists; lead 7 is in lists 1 and 3, lead 8 in list 2."""

    members = {1: {7}, 2: {8}, 3: {7}}

    def __init__(self) -> None:
        super().__init__()
        self.removed: list[tuple[int, list[int]]] = []
        self.checks = 0

    def paged(self, path, params):
        assert path == "/rest/v1/lists.json"
        self.calls += 1
        yield [{"id": i, "name": f"List {i}"} for i in self.members]

    def list_ismember(self, list_id, ids):
        self.calls += 1
        self.checks += 1
        return [{"id": i, "status": "memberof" if i in self.members[list_id] else "notmemberof"} for i in ids]

    def remove_from_list(self, list_id, ids):
        self.calls += 1
        self.removed.append((list_id, sorted(ids)))
        return [{"id": i, "status": "removed"} for i in ids]


def test_remove_from_all_lists(parts):
    _, store, report, rejects, _, _ = parts
    client = ListsClient()
    ledger = Ledger(report, rejects, store, client.instance)
    rules = parse_rules([{"name": "gone", "event": "D", "action": "suppress", "remove_from_lists": "all"}], "r")
    matches = [Match(rules[0], "d1", 1.0, "f:1", "deleted", (7,)), Match(rules[0], "d2", 2.0, "f:2", "x", (8,))]
    executor = PlanExecutor(client, ledger, LeadResolver(client, store), LeadIndex())
    executor.run(build_plan(matches, {"gone": Targets(list_ids="all")}))
    assert sorted(client.removed) == [(1, [7]), (2, [8]), (3, [7])]
    assert report.counts["gone.applied"] == 2
    assert client.checks == 3  # 2 leads, 3 lists: one membership check per list
    assert executor.calls["list_ismember"] == 3
