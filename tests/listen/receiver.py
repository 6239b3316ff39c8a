"""A `segmarketo listen` child process on 127.0.0.1 against a sandbox, and signed requests to it."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import requests

from segmarketo_cli.sandbox import Sandbox
from tests.support.sandbox_env import subprocess_env

SHARED_SECRET = "listen-shared-secret-0123456789"
TOKEN = "listen-token-0123456789"
PROFILE = """
[profiles.default.listen]
flush_seconds = {flush_seconds}
flush_events = {flush_events}
max_body_bytes = {max_body_bytes}
max_spool_bytes = {max_spool_bytes}

[profiles.default.listen.audiences]
high_value_users = "High Value Users"
"""
SEATS_RULE = """
[[profiles.default.rules]]
name = "seats"
event = "Seats Added"
action = "score"
field = "leadScore"
points = { property = "seats" }
"""


def write_profile(home: Path, *, flush_seconds: float = 0.5, flush_events: int = 1000, max_body_bytes: int = 65536,
                  max_spool_bytes: int = 10_000_000, rules: str = "") -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(PROFILE.format(flush_seconds=flush_seconds, flush_events=flush_events,
                                                     max_body_bytes=max_body_bytes, max_spool_bytes=max_spool_bytes)
                                      + rules)


def sign(body: bytes, secret: str = SHARED_SECRET) -> str:
    """Segment's X-Signature: the hex HMAC-SHA1 of the raw body with the shared secret."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def identify(n: int, *, message_id: str | None = None) -> dict[str, Any]:
    return {"type": "identify", "messageId": message_id or f"listen-id-{n}", "userId": f"listen-user-{n}",
            "traits": {"email": f"listener{n}@example.com", "firstName": f"L{n}"},
            "timestamp": "2026-12-06T10:00:00.000Z"}


def seats_added(n: int, email: str, seats: int = 1) -> dict[str, Any]:
    return {"type": "track", "event": "Seats Added", "messageId": f"seats-{n}", "properties": {"seats": seats},
            "context": {"traits": {"email": email}}, "timestamp": "2026-12-06T10:00:00.000Z"}


def audience(n: int, email: str, *, entered: bool, key: str = "high_value_users") -> dict[str, Any]:
    return {"type": "track", "event": "Audience Entered" if entered else "Audience Exited",
            "messageId": f"aud-{n}", "properties": {"audience_key": key, key: entered},
            "context": {"traits": {"email": email}, "personas": {"computation_key": key}},
            "timestamp": "2026-12-06T10:00:00.000Z"}


def lead_scores(box: Sandbox) -> dict[str, int]:
    with box.marketo.lock:
        return {str(lead.get("email")): int(lead.get("leadScore") or 0) for lead in box.marketo.leads}


def list_members(box: Sandbox, name: str) -> set[str]:
    m = box.marketo
    with m.lock:
        email = {lead["id"]: lead.get("email") for lead in m.leads}
        wanted = next(lid for lid, lst in m.assets.lists.items() if lst.name == name)
        return {str(email[i]) for i in m.list_members(wanted)}


def metric(receiver: Receiver, name: str) -> float:
    """One sample of /metrics ('flushes_total{outcome="deferred"}'), 0 when absent."""
    text = receiver.session.get(receiver.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(f"segmarketo_listen_{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Receiver:
    """One `python -m segmarketo_cli listen --port 0` child; `url` once it says where it listens."""

    def __init__(self, box: Sandbox, home: Path, extra_env: dict[str, str] | None = None) -> None:
        env = {**subprocess_env(box.url, home), "SEGMARKETO_LISTEN_SHARED_SECRET": SHARED_SECRET,
               "SEGMARKETO_LISTEN_TOKEN": TOKEN, "SEGMARKETO_RATE_LIMIT_WINDOW_S": "0.5", **(extra_env or {})}
        self.home = home
        self.log = home / "listen-stderr.txt"
        self._err = self.log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "segmarketo_cli", "listen", "--port", "0"], env=env,
                                     stdout=subprocess.PIPE, stderr=self._err, text=True)
        self.url = self._wait_for_url()
        self.session = requests.Session()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"on (http://127\.0\.0\.1:\d+)/", self.log.read_text())
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"listen exited {self.proc.returncode}: {self.log.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"listen did not start: {self.log.read_text()}")

    def post(self, payload: Any, *, signed: bool = True, headers: dict[str, str] | None = None,
             path: str = "/") -> requests.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", **({"X-Signature": sign(body)} if signed else {}),
                **(headers or {})}
        return self.session.post(self.url + path, data=body, headers=sent, timeout=30)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=120)
        self._err.close()
        return code

    def stderr(self) -> str:
        return self.log.read_text()


def spool_rows(home: Path, *, pending_only: bool = False) -> list[tuple[str, str]]:
    """(messageId, type) of the spool's events, oldest first."""
    path = home / "state" / "listen" / "default" / "spool.sqlite"
    if not path.exists():
        return []
    where = " WHERE done_at IS NULL" if pending_only else ""
    with closing(sqlite3.connect(path, timeout=10)) as db:
        return [(row[0], row[1]) for row in db.execute(f"SELECT message_id, type FROM events{where} ORDER BY seq")]


def wait_until(condition: Any, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
