"""Secrets: no client secret, access token or write key in any output, log, rejects file or the state database;
private state files; plain http only to loopback."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from pathlib import Path

import pytest

from segmarketo_cli.cli.main import cli  # noqa: F401  (the invoke fixture drives it)
from tests.support.reliability_world import JOBS, build, new_box, pointed_at, private_mode, secrets_of, speed_up
from tests.support.sandbox_env import SANDBOX_CLIENT_SECRET, SANDBOX_WRITE_KEY


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [secret[:6] + "..." for secret in secrets if secret and secret in text]


def database_text(path: Path) -> str:
    """Every value of every row of every table, as text."""
    db = sqlite3.connect(path)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert tables
        parts = []
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names come from sqlite_master
                parts.extend(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row)
        return "\n".join(parts)
    finally:
        db.close()


@pytest.mark.slow  # every command of every job, against its own sandbox
def test_no_secret_anywhere_across_every_command(invoke, monkeypatch, tmp_path, memory_keyring):
    speed_up(monkeypatch)
    home = tmp_path / "home"
    outputs: list[str] = []
    secrets: list[str] = []
    log_text = tmp_path / "run.log"
    log_json = tmp_path / "run.jsonl"
    basic = base64.b64encode(f"{SANDBOX_WRITE_KEY}:".encode()).decode()

    def call(*args: str, input: str | None = None) -> str:
        result = invoke(*args, input=input)
        assert "Traceback" not in result.output
        outputs.extend([result.stdout, result.stderr])
        return result.stdout

    for n, job in enumerate(JOBS):  # one sandbox per job, one state directory for all
        box = new_box()
        try:
            scenario = build(job, box, tmp_path / f"input-{job}")
            rejects = tmp_path / f"rejects-{job}.jsonl"
            with pointed_at(monkeypatch, box, home, scenario.env):
                report = json.loads(call("-v", "--log-file", str(log_text), *scenario.args, "--json", "--rejects",
                                         str(rejects)))
                box.faults.add("601", 1)  # a token refused mid-run, renewed
                box.faults.add(500, 1, "/v1/batch")
                box.expire_token()
                call("-vv", "--log-format", "json", "--log-file", str(log_json), *scenario.args, "--dry-run",
                     "--json")
                call("-vv", "--log-file", str(log_text), *scenario.args)
                call("-v", "runs", "list")
                call("runs", "show", report["run_id"])
                call("runs", "show", "--json", report["run_id"])
                call("-v", "auth", "status")
                call("-vv", "doctor", "--json")
                if n == 0:  # secrets into the (in-memory) keyring and back out: status names sources only
                    call("auth", "set", "--from-env")
                    call("auth", "status")
                    call("init", "--endpoint", box.url, "--client-id", "sandbox-client", "--force")
            with pointed_at(monkeypatch, box, home, {**scenario.env, "SEGMARKETO_MARKETO_CLIENT_SECRET": "wrong-"
                                                     + SANDBOX_CLIENT_SECRET}):
                call("-vv", "--log-file", str(log_text), *scenario.args, "--json")  # refused credentials
            secrets += secrets_of(box)
        finally:
            box.stop()
    secrets += [basic, "wrong-" + SANDBOX_CLIENT_SECRET]
    assert len(secrets) > 6  # the suite's secrets plus the tokens the sandboxes issued

    texts = {"stdout/stderr": "\n".join(outputs), "log": log_text.read_text(), "json log": log_json.read_text()}
    # -vv logged the client's identity, Marketo and Segment calls, so the leak check below read real traffic
    logged = set(re.findall(r" DEBUG segmarketo\.http: (?:GET|POST) (/identity/|/rest/|/v1/batch)", texts["log"]))
    assert logged == {"/identity/", "/rest/", "/v1/batch"}
    assert (home / "config.toml").exists()
    for path in sorted(tmp_path.glob("rejects-*.jsonl")) + sorted(p for p in home.rglob("*") if p.is_file()):
        texts[str(path)] = path.read_bytes().decode("utf-8", "replace")  # config, state files, rejects, lock
    databases = sorted((home / "state").glob("*.db")) + sorted((home / "state").glob("*.sqlite*"))
    assert databases
    for db in databases:
        if db.suffix in (".db", ".sqlite", ".sqlite3"):
            texts[str(db)] = database_text(db)
    for name, text in texts.items():
        assert not leaks(text, secrets), f"a secret appears in {name}"
    assert memory_keyring.values  # `auth set` stored them in the keyring (the only place a secret may live)


def test_state_dir_is_private(invoke, sandbox, tmp_path, isolated_home):
    box_input = build("backfill", sandbox, tmp_path / "input")
    (tmp_path / "input" / "bad.jsonl").write_text('{"type": "identify", "userId": "x", "traits": {"email": 7}}\n')
    assert invoke(*box_input.args, str(tmp_path / "input" / "bad.jsonl")).exit_code == 3  # writes a rejects file
    state = Path(isolated_home) / "state"
    assert private_mode(state) == 0o700
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in files)
    assert len(files) >= 2
    for path in files:
        assert private_mode(path) == 0o600, path
    for path in (p for p in state.rglob("*") if p.is_dir()):
        assert private_mode(path) == 0o700, path


@pytest.mark.parametrize("variable, url", [
    ("SEGMARKETO_MARKETO_ENDPOINT", "http://123-ABC-456.mktorest.com"),
    ("SEGMARKETO_MARKETO_ENDPOINT", "http://10.0.0.8:8080/rest"),
    ("SEGMARKETO_SEGMENT_ENDPOINT", "http://api.segment.io"),
])
def test_plain_http_to_a_remote_host_is_refused_before_any_call(invoke, sandbox, tmp_path, monkeypatch, variable,
                                                                 url):
    scenario = build("backfill", sandbox, tmp_path / "input")
    monkeypatch.setenv(variable, url)
    args = scenario.args if variable.startswith("SEGMARKETO_MARKETO") else ["writeback", "--since", "1d"]
    result = invoke(*args)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("segmarketo: error: ")
    assert "plain http" in line
    assert sandbox.marketo.calls == 0
    assert sandbox.segment.requests == 0
    assert sandbox.identity.issued == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}", "http://localhost:{port}"])
def test_plain_http_to_loopback_is_allowed(invoke, sandbox, tmp_path, monkeypatch, url):
    scenario = build("backfill", sandbox, tmp_path / "input")
    monkeypatch.setenv("SEGMARKETO_MARKETO_ENDPOINT", url.format(port=sandbox.url.rsplit(":", 1)[1]))
    assert invoke(*scenario.args).exit_code == 0
    assert len(sandbox.marketo.leads) == 320
