"""Test isolation: no real config, keychain or network. A sandbox fixture on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import keyring
import pytest
from click.testing import CliRunner
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from segmarketo_cli.cli.main import cli
from segmarketo_cli.sandbox import Sandbox
from tests.support.sandbox_api import make_api
from tests.support.sandbox_env import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, point_cli_at

# segmarketo honours these like requests does; a developer's proxy must not carry the sandbox tests' traffic.
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring so tests never touch the real keychain."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.values:
            raise PasswordDeleteError("not found")
        del self.values[(service, username)]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Iterator[os.PathLike]:
    """Point SEGMARKETO_HOME at tmp_path, clear SEGMARKETO_* and proxy variables, use an in-memory keyring,
    umask 022."""
    for name in list(os.environ):
        if name.startswith("SEGMARKETO_") or name.lower() in PROXY_VARIABLES:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("SEGMARKETO_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "userhome"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))  # the instance registry lives there
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    umask = os.umask(0o022)  # config files the tests write are not group-writable whatever the developer's umask
    yield home
    os.umask(umask)
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    return keyring.get_keyring()  # the autouse fixture installed it


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def invoke():
    """Run the CLI in-process: invoke('backfill-leads', 'x.jsonl', input=None) -> CliResult."""

    def _invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return _invoke


@pytest.fixture
def box():
    """A bare sandbox (default credentials, no seed) for wire-level tests of the emulator itself."""
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def api(box):
    """call(method, path, raw=False, **kwargs) against `box` with a valid token (see sandbox_api.py)."""
    return make_api(box)


@pytest.fixture
def sandbox(monkeypatch):
    """A fresh Marketo + Segment sandbox on 127.0.0.1 (ephemeral port), wired into the environment."""
    box = Sandbox(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET)
    box.start(host="127.0.0.1", port=0)
    point_cli_at(monkeypatch, box.url)
    yield box
    box.stop()
