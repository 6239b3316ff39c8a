"""On a terminal (a pty) the run names the wait it is in; under cron (a pipe) nothing but the report."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

from tests.support.sandbox_env import subprocess_env

SLOW_WINDOW = {"SEGMARKETO_RATE_LIMIT_CALLS": "1", "SEGMARKETO_RATE_LIMIT_WINDOW_S": "2.5"}


def two_identifies(tmp_path):
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps({"type": "identify", "userId": f"u{i}", "messageId": f"m{i}",
                                        "traits": {"email": f"p{i}@example.com"}}) + "\n" for i in (1, 2)))
    return str(path)


def run_on_pty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stderr on a 100-column pty; its exit code and everything it drew there."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    proc = subprocess.Popen([sys.executable, "-m", "segmarketo_cli", *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    return proc.wait(timeout=120), drawn.decode(errors="replace")


def test_terminal_names_the_rate_window_wait(sandbox, tmp_path):
    env = {**subprocess_env(sandbox.url, tmp_path / "home"), **SLOW_WINDOW}
    code, drawn = run_on_pty(["backfill-leads", two_identifies(tmp_path)], env)
    assert code == 0
    assert "waiting for Marketo's rate window 0:0" in drawn
    assert re.search(r"upserting: +\d+%\|", drawn)  # tqdm's bar, with its percentage
    assert "leads created" in drawn


def test_quiet_terminal_and_cron_show_no_progress(sandbox, tmp_path):
    env = {**subprocess_env(sandbox.url, tmp_path / "home"), **SLOW_WINDOW}
    code, drawn = run_on_pty(["--quiet", "backfill-leads", two_identifies(tmp_path)], env)
    assert code == 0
    assert drawn.startswith("backfill-leads finished: ok — ")
    assert drawn.count("\n") == 1
    cron = subprocess.run([sys.executable, "-m", "segmarketo_cli", "backfill-leads", "--full",
                           two_identifies(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert cron.returncode == 0
    assert "waiting for" not in cron.stderr
    assert "\r" not in cron.stderr
