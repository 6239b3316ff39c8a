"""AudienceSync with a scripted client: list results are counted by id, never by position."""

from __future__ import annotations

from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.sync_audience.run import AudienceSync, SyncOptions
from segmarketo_cli.sources.audience.readers import AudienceInput, AudiencePerson, Identity
from segmarketo_cli.state import StateStore


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
    report = RunReport("sync-audience")
    rejects = RejectsWriter(tmp_path / "rejects.jsonl")
    people = [person(e) for e in ("keep@x.co", "a@x.co", "b@x.co", "c@x.co", "d@x.co")]
    audience = AudienceInput("aud.csv", "csv", "snapshot", people=people, rows=5)
    sync = AudienceSync(client, store, report, rejects, SyncOptions(list_name="L", force=True), sleep=lambda s: None)
    sync.run(audience)
    rejects.close()
    counts = report.counts
    assert client.writes[0] == ("add", [10, 11, 12, 13])
    assert client.writes[-1] == ("remove", [2, 3])
    assert counts["added"] == 1 and counts["not_found"] == 1 and counts["add_failed"] == 2
    assert counts["removed"] == 1 and counts["already_absent"] == 1 and counts["unchanged"] == 1
    assert report.imbalances() == [] and report.exit_code == 3
    lines = (tmp_path / "rejects.jsonl").read_text(encoding="utf-8")
    assert '"lead_id": 11' in lines and "1018" in lines and '"lead_id": 13' in lines and "no result" in lines
    # The lookup mapped rows by the returned (upper-cased) address and cached them.
    assert store.lead_ids_for(client.instance, "email", ["a@x.co"]) == {"a@x.co": [10]}
    store.close()
