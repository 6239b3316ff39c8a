"""Sandbox seeds, --data persistence, and the `segmarketo sandbox` commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import requests

from segmarketo_cli.sandbox import Sandbox
from segmarketo_cli.sandbox.box import DEFAULT_SEED_DIR
from segmarketo_cli.sandbox.stores.persist import STATE_FILE


def test_seed_loads_a_realistic_instance():
    box = Sandbox(seed=True)
    marketo = box.marketo
    duplicates = marketo.find_leads("email", "pat.duplicate@example.com")
    assert len(duplicates) == 2
    assert len(marketo.leads) >= 30
    assert marketo.list_id("Trial Users") is not None
    folder = marketo.assets.folder_by_name("Segment Audiences")
    assert folder is not None
    assert marketo.assets.lists[marketo.list_id("Trial Users")].folder_id == folder.id
    assert {d["id"] for d in duplicates} <= marketo.list_members(marketo.list_id("Trial Users"))
    webinar = marketo.assets.program_by_name("2026 Spring Product Webinar")
    assert webinar.channel == "Webinar"
    assert marketo.program_members(webinar.id)[3] == "Attended"
    kinds = {c.type for c in marketo.assets.campaigns.values()}
    assert kinds == {"trigger", "batch"}
    assert marketo.store.fields["updatedAt"].read_only
    assert marketo.store.fields["segmentUserId"].searchable
    if (DEFAULT_SEED_DIR / "activities.jsonl").exists():
        campaign_ids = set(marketo.assets.campaigns)
        rows = list(marketo.activities.rows.values())
        assert rows
        assert all(r.get("campaignId") in campaign_ids for r in rows if "campaignId" in r)


def test_activities_jsonl_format_and_errors(tmp_path):
    (tmp_path / "leads.json").write_text(json.dumps([{"id": 5, "email": "a@example.com"}]))
    (tmp_path / "activities.jsonl").write_text(
        '{"leadId": 5, "type": "Email Delivered", "activityDate": "2026-03-01T10:00:00Z", "campaignId": 3001,'
        ' "primaryAttributeValueId": 5001, "primaryAttributeValue": "Welcome.Email 1"}\n'
        '{"leadId": 5, "type": "Open Email", "activityDate": "2026-02-28T10:00:00Z",'
        ' "attributes": {"Device": "iPhone", "Is Mobile Device": true}}\n')
    box = Sandbox()
    box.load_seed(tmp_path)
    rows = [box.marketo.activities.rows[aid] for _, aid in box.marketo.activities.keys]
    assert [r["activityTypeId"] for r in rows] == [10, 7]  # ordered by activityDate
    assert rows[0]["attributes"] == [{"name": "Device", "value": "iPhone"}, {"name": "Is Mobile Device", "value": True}]
    (tmp_path / "activities.jsonl").write_text('{"leadId": 5, "type": "No Such Type", "activityDate": "x"}\n')
    try:
        Sandbox().load_seed(tmp_path)
    except ValueError as exc:
        assert "activities.jsonl:1" in str(exc)
    else:
        raise AssertionError("a bad activities line must fail with its file:line")


def test_state_survives_a_restart(tmp_path):
    data = tmp_path / "data"
    with Sandbox(data_dir=data, seed=True) as box:
        lead = box.marketo.add_lead(email="new@example.com", leadScore=7)
        list_id = box.marketo.add_list("Saved")
        box.marketo.add_to_list(list_id, [lead])
        box.marketo.add_activity(lead, "Email Delivered", "2026-03-01T00:00:00Z", campaign_id=3001)
        requests.post(f"{box.url}/v1/batch", json={"writeKey": "k", "batch": [
            {"type": "track", "userId": "u", "event": "E", "messageId": "m1"}]})
    assert (data / STATE_FILE).exists()
    again = Sandbox(data_dir=data, seed=True)
    assert again.marketo.lead(lead)["leadScore"] == 7
    assert again.marketo.list_members(again.marketo.list_id("Saved")) == {lead}
    assert again.marketo.activity_count() == box.marketo.activity_count()
    assert len(again.marketo.find_leads("email", "pat.duplicate@example.com")) == 2  # not seeded twice
    assert [m["messageId"] for m in again.segment.accepted] == ["m1"]
    assert again.marketo.add_lead(email="next@example.com") > lead



def ctrl_c_stops() -> None:
    """In the child, SIGINT as a foreground command gets it: a shell that runs the suite as a background job (`pytest
    &`) leaves SIGINT ignored in it and in every process it starts, and `serve` would then never see the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def test_serve_prints_exports_and_saves_on_interrupt(tmp_path):
    data = tmp_path / "state"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "segmarketo_cli", "sandbox", "serve", "--port", "0",
                             "--data", str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=ctrl_c_stops)
    try:
        exports = {}
        deadline = time.monotonic() + 20
        while len(exports) < 5 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("export "):
                name, _, value = line[7:].strip().partition("=")
                exports[name] = value
        url = exports["SEGMARKETO_MARKETO_ENDPOINT"]
        assert exports["SEGMARKETO_SEGMENT_ENDPOINT"] == url
        assert exports["SEGMARKETO_MARKETO_CLIENT_ID"]
        token = requests.get(f"{url}/identity/oauth/token", params={
            "grant_type": "client_credentials", "client_id": exports["SEGMARKETO_MARKETO_CLIENT_ID"],
            "client_secret": exports["SEGMARKETO_MARKETO_CLIENT_SECRET"]}).json()["access_token"]
        reply = requests.post(f"{url}/rest/v1/leads.json", headers={"Authorization": f"Bearer {token}"},
                              json={"input": [{"email": "cli@example.com"}]}).json()
        assert reply["result"][0]["status"] == "created"
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "listening on" in stderr
    assert "state saved" in stderr
    assert "Traceback" not in stderr
    saved = json.loads((data / STATE_FILE).read_text())
    assert "cli@example.com" in {lead.get("email") for lead in saved["marketo"]["leads"]}


def test_state_fault_and_events_commands(sandbox, invoke):
    url = sandbox.url
    result = invoke("sandbox", "fault", "606", "--times", "2", "--url", url)
    assert result.exit_code == 0
    assert sandbox.faults.pending == 2
    assert invoke("sandbox", "fault", "bogus", "--url", url).exit_code == 2
    state = json.loads(invoke("sandbox", "state", "--url", url).stdout)
    assert state["pending_faults"] == 2
    assert state["marketo"]["leads"] == 0
    requests.post(f"{url}/v1/batch", json={"writeKey": "k", "batch": [{"type": "track", "event": "E"}]})
    dropped = json.loads(invoke("sandbox", "events", "--dropped", "--url", url).stdout)
    assert dropped[0]["reason"] == "no_user_anon_id"


def test_commands_report_an_absent_sandbox_in_one_line(invoke, tmp_path):
    result = invoke("sandbox", "state", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 75
    assert "no sandbox answering" in result.stderr
    bad = tmp_path / "seed"
    bad.mkdir()
    (bad / "leads.json").write_text("[{\"email\": 1, \"nope\": 2}]")
    result = invoke("sandbox", "serve", "--port", "0", "--seed-dir", str(bad))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "leads.json" in result.stderr


def test_serve_stdout_is_a_shell_script_that_sources_cleanly(tmp_path):
    secret = "s3cret with space;$HOME"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "segmarketo_cli", "sandbox", "serve", "--port", "0",
                             "--client-secret", secret], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=ctrl_c_stops)
    try:
        lines = []
        deadline = time.monotonic() + 20
        while sum(line.startswith("export ") for line in lines) < 5 and time.monotonic() < deadline:
            lines.append(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGINT)
        rest, stderr = proc.communicate(timeout=20)
    lines += rest.splitlines(keepends=True)
    assert lines, lines
    assert all(line.startswith(("export ", "#")) for line in lines), lines
    assert "In another shell" not in "".join(lines)
    assert "listening on" in stderr
    script = tmp_path / "sandbox.env"
    script.write_text("".join(lines))
    shown = subprocess.run(["sh", "-c", f'. "{script}" && printf %s "$SEGMARKETO_MARKETO_CLIENT_SECRET"'],
                           capture_output=True, text=True, check=True).stdout
    assert shown == secret
