"""The one check of a refusal before the lock: the exit code, one `segmarketo: error:` line, nothing on stdout,
and no run recorded in the profile's state store."""

from __future__ import annotations

from typing import Any

from segmarketo_cli import paths
from segmarketo_cli.state import StateStore


def assert_refused(result: Any, exit_code: int, message: str, *, profile: str = "default") -> None:
    assert result.exit_code == exit_code, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("segmarketo: error: ")
    assert message in line
    assert result.stdout == ""
    assert StateStore(paths.state_dir(), profile).list_runs() == []  # refused before the run was recorded
