"""sync-audience's run with a scripted client: list results are counted by id, never by position."""

from __future__ import annotations

import json

from segmarketo_cli.config import Settings
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.jobs.sync_audience.prepare import AudienceProfile, PreparedSync, SyncOptions
from segmarketo_cli.jobs.sync_audience.run import run
from segmarketo_cli.sources.audience.readers import AudienceInput, AudiencePerson, Identity
from segmarketo_cli.state import StateStore
from tests.sync_audience.harness import run_sync


class ScriptedClient:
    """Answers list writes out of order, skips one id, and leaves one id out of the reply."""

    instance = "https://scripted.example"

    def __init__(self) -> None:
        self.members = {1: {"id": 1, "email": "keep@x.co"}, 2: {"id": 2, "email": "drop@x.co"},
                        3: {"id": 3, "email": "gone@x.co"}}
        self.leads = {"keep@x.co": [1], "a@x.co": [10], "b@x.co": [11], "c@x.co": [12], "d@x.co": [13]}
        self.writes: list[tuple[str, list[int]]] = []

    def find_list_by_name(self, name):
        return {"id": 77, "name": name}

    def iter_list_members(self, list_id, fields=("id", "email")):
        return iter(list(self.members.values()))

    def get_leads_by_filter(self, filter_type, values, fields=("id", "email")):
        return [{"id": i, "email": v.upper()} for v in values for i in self.leads.get(v, [])]

    def add_to_list(self, list_id, ids):
        self.writes.append(("add", list(ids)))
        rows = [{"id": 10, "status": "added"}, {"id": 12, "status": "skipped",
                                                  "reasons": [{"code": "1004", "message": "Lead not found"}]},
                {"id": 11, "status": "skipped", "reasons": [{"code": "1018", "message": "CRM enabled"}]}]
        return rows  # 13 has no row at all; the order differs from the request

    def remove_from_list(self, list_id, ids):
        self.writes.append(("remove", list(ids)))
        return [{"id": 3, "status": "skipped", "reasons": [{"code": "1015", "message": "Lead not in list"}]},
                {"id": 2, "status": "removed"}]


def person(email: str) -> AudiencePerson:
    return AudiencePerson((Identity("email", email),), f"aud.csv:{email}")


def test_results_are_counted_by_id_and_every_id_lands_in_one_bucket(tmp_path):
    client = ScriptedClient()
    store = StateStore(tmp_path, "test")
    people = [person(e) for e in ("keep@x.co", "a@x.co", "b@x.co", "c@x.co", "d@x.co")]
    audience = AudienceInput.of_people("aud.csv", people)
    with RejectsWriter(tmp_path / "rejects.jsonl") as rejects:
        report = run_sync(client, store, rejects, audience, list_name="L", force=True)
    counts = report.counts
    assert client.writes[0] == ("add", [10, 11, 12, 13])
    assert client.writes[-1] == ("remove", [2, 3])
    assert counts["added"] == 1
    assert counts["not_found"] == 1
    assert counts["add_failed"] == 2
    assert counts["removed"] == 1
    assert counts["already_absent"] == 1
    assert counts["unchanged"] == 1
    assert report.imbalances() == []
    assert report.exit_code == 3
    rejects_by_id = {row["lead_id"]: row for row in map(json.loads, (tmp_path / "rejects.jsonl").read_text(
        encoding="utf-8").splitlines())}
    assert rejects_by_id[11]["reason"] == "Marketo 1018: CRM enabled"
    assert rejects_by_id[13]["reason"] == "no result for this id in Marketo's reply"
    # The lookup mapped rows by the returned (upper-cased) address and cached them.
    assert store.lead_ids_for(client.instance, "email", ["a@x.co"]) == {"a@x.co": [10]}
    store.close()


def test_a_dry_run_returns_the_report_and_hands_the_plan_to_show_plan_without_writing(tmp_path):
    client = ScriptedClient()
    store = StateStore(tmp_path, "test")
    shown = []
    audience = AudienceInput.of_people("aud.csv", [person("keep@x.co"), person("a@x.co")])
    with RejectsWriter(tmp_path / "rejects.jsonl") as rejects:
        ctx = JobContext(services=Services(Settings(), store, _marketo=client), report=RunReport("sync-audience"),
                         rejects=rejects, show_plan=shown.append)
        options = SyncOptions(file="aud.csv", list_name="L", force=True, dry_run=True)
        report = run(ctx, PreparedSync(AudienceProfile(), options, audience, "mirror"))
    assert report is ctx.report
    assert client.writes == []
    (dry,) = shown
    assert dry.list_label == "L"
    assert list(dry.plan.adds) == [10]
    assert list(dry.plan.removes) == [2, 3]
    assert report.counts["added"] == 1
    assert report.counts["removed"] == 2
    store.close()
