"""The environment that points the CLI at a sandbox: one endpoint for Marketo and Segment, the suite's credentials."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret-0123456789"
SANDBOX_WRITE_KEY = "sandbox-write-key-0123456789"


def sandbox_env(url: str, home: Path | None = None) -> dict[str, str]:
    """The SEGMARKETO_* variables for a sandbox at `url`, with SEGMARKETO_HOME when `home` is given."""
    env = {
        "SEGMARKETO_MARKETO_ENDPOINT": url,
        "SEGMARKETO_MARKETO_CLIENT_ID": SANDBOX_CLIENT_ID,
        "SEGMARKETO_MARKETO_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "SEGMARKETO_SEGMENT_WRITE_KEY": SANDBOX_WRITE_KEY,
        "SEGMARKETO_SEGMENT_ENDPOINT": url,
    }
    if home is not None:
        env["SEGMARKETO_HOME"] = str(home)
    return env


def point_cli_at(monkeypatch: pytest.MonkeyPatch, url: str, home: Path | None = None,
                 extra: dict[str, str] | None = None) -> None:
    """Set the sandbox environment (plus `extra`) for in-process CLI calls until `monkeypatch` undoes it."""
    for name, value in {**sandbox_env(url, home), **(extra or {})}.items():
        monkeypatch.setenv(name, value)


def subprocess_env(url: str, home: Path) -> dict[str, str]:
    """The environment of a `python -m segmarketo_cli` child: this process's, with only the sandbox's SEGMARKETO_*."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SEGMARKETO_")}
    env.update(sandbox_env(url, home))
    return env
