"""Alerts: a job posts a short JSON to the profile's webhook on failed/partial/deferred/refused, never on ok,
and a failing or slow webhook never changes the run's outcome (a local receiver on 127.0.0.1)."""

from __future__ import annotations

import json
import socket

import pytest

from segmarketo_cli import notify
from segmarketo_cli.notify import RunOutcome, alert_payload, send_alert
from segmarketo_cli.paths import sample_data_dir
from tests.support.local_servers import LocalServer, Seen, SilentServer, closed_port

HOOK_PATH = "/hooks/T000/B000/secret-hook-token"
IDENTIFIES = str(sample_data_dir() / "identifies.jsonl.gz")
BODY_KEYS = {"text", "command", "sync", "status", "exit_code", "dry_run", "counts", "run_id", "profile", "host",
             "started", "finished"}


def accept(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/plain"}, b"ok"


def fail(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    return 500, {}, b"broken"


def write_profile(home, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f"[profiles.default]\n{text}")


def test_partial_run_posts_one_alert_with_the_documented_body(invoke, sandbox, isolated_home):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    with LocalServer(accept) as receiver:
        write_profile(isolated_home, f'notify = "{receiver.url}{HOOK_PATH}"\n')
        result = invoke("backfill-leads", IDENTIFIES, "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert len(receiver.seen) == 1
    posted = receiver.seen[0]
    assert posted.method == "POST"
    assert posted.path == HOOK_PATH
    assert posted.headers["Content-Type"] == "application/json"
    body = json.loads(posted.body)
    assert set(body) == BODY_KEYS
    assert body["command"] == "backfill-leads"
    assert body["sync"] is None
    assert body["status"] == "partial"
    assert body["exit_code"] == 3
    assert body["counts"] == report["counts"]
    assert body["run_id"] == report["run_id"]
    assert body["profile"] == "default"
    assert body["host"] == socket.gethostname()
    assert body["started"].endswith("Z")
    assert body["finished"] >= body["started"]
    assert body["text"].startswith("segmarketo backfill-leads partial, exit 3: ")
    assert report["run_id"] in body["text"]
    assert "@" not in posted.body.decode()  # no e-mail address (the input is full of them)
    assert HOOK_PATH not in result.output


def test_ok_run_posts_nothing(invoke, sandbox):
    with LocalServer(accept) as receiver:
        result = invoke("writeback", "--since", "3d", "--notify", f"{receiver.url}{HOOK_PATH}")
    assert result.exit_code == 0, result.output
    assert receiver.seen == []


def test_notify_flag_overrides_the_profile(invoke, sandbox, isolated_home):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    with LocalServer(accept) as profile_hook, LocalServer(accept) as flag_hook:
        write_profile(isolated_home, f'notify = "{profile_hook.url}/profile"\n')
        result = invoke("backfill-leads", IDENTIFIES, "--notify", f"{flag_hook.url}/flag")
    assert result.exit_code == 3, result.output
    assert profile_hook.seen == []
    assert [seen.path for seen in flag_hook.seen] == ["/flag"]


def test_failing_webhook_is_retried_once_and_leaves_the_exit_code(invoke, sandbox, monkeypatch):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    monkeypatch.setattr(notify, "RETRY_PAUSE_S", 0.0)
    with LocalServer(fail) as receiver:
        result = invoke("backfill-leads", IDENTIFIES, "--notify", f"{receiver.url}{HOOK_PATH}")
    assert result.exit_code == 3, result.output
    assert len(receiver.seen) == 2
    assert "alert to http://127.0.0.1/… failed: HTTP 500 (the run's outcome is unchanged)" in result.stderr
    assert HOOK_PATH not in result.output


def test_unreachable_webhook_leaves_the_exit_code(invoke, sandbox, monkeypatch):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    monkeypatch.setattr(notify, "RETRY_PAUSE_S", 0.0)
    result = invoke("backfill-leads", IDENTIFIES, "--notify", f"http://127.0.0.1:{closed_port()}{HOOK_PATH}")
    assert result.exit_code == 3, result.output
    assert "the run's outcome is unchanged" in result.stderr
    assert HOOK_PATH not in result.output


def test_hung_webhook_times_out_without_raising(monkeypatch):
    monkeypatch.setattr(notify, "TIMEOUT_S", 0.2)
    monkeypatch.setattr(notify, "RETRY_PAUSE_S", 0.0)
    with SilentServer() as receiver:
        sent = send_alert(f"{receiver.url}/hook", RunOutcome(command="writeback", status="failed", exit_code=1,
                                                             profile="default"))
    assert sent is False
    assert receiver.accepted == 2


@pytest.mark.parametrize("status", ["ok", "interrupted"])
def test_no_alert_for_ok_or_interrupted(status):
    outcome = RunOutcome(command="writeback", status=status, exit_code=0, profile="default")
    assert send_alert(f"http://127.0.0.1:{closed_port()}/hook", outcome) is False


def test_payload_names_the_sync_and_skips_empty_counts():
    outcome = RunOutcome(command="sync-audience", status="refused", exit_code=4, profile="eu", run_id="R1",
                         counts={"added": 0, "removed": 1200}, sync="vip", started_at=0.0, finished_at=61.0)
    body = alert_payload(outcome)
    assert body["text"] == (f"segmarketo sync 'vip' (sync-audience) refused, exit 4: 1,200 removed. "
                            f"Profile eu on {socket.gethostname()}, run R1")
    assert body["started"] == "1970-01-01T00:00:00Z"
    assert body["finished"] == "1970-01-01T00:01:01Z"
    assert body["sync"] == "vip"


@pytest.mark.parametrize("url", ["http://hooks.example.com/x", "ftp://127.0.0.1/x", "https://user:pw@hooks.example.com/x"])
def test_unsafe_webhook_urls_are_config_errors(invoke, isolated_home, url):
    write_profile(isolated_home, f'notify = "{url}"\n')
    result = invoke("writeback", "--since", "1d")
    assert result.exit_code == 2
    assert "'notify'" in result.stderr
    assert "/x" not in result.stderr
    assert "pw" not in result.stderr


def test_the_webhook_path_is_redacted_wherever_it_is_logged():
    from segmarketo_cli.http import redact

    notify.check_webhook_url(f"https://hooks.example.com{HOOK_PATH}", where="test")
    assert redact(f"POST {HOOK_PATH} HTTP/1.1") == "POST *** HTTP/1.1"
