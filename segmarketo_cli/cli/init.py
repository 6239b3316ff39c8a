"""`segmarketo init`: write a commented config.toml profile (never secrets)."""

from __future__ import annotations

import os
import re
import sys

import click

from segmarketo_cli import paths
from segmarketo_cli.cli.aliases import aliased_option
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.config import normalize_segment_endpoint, read_config_file
from segmarketo_cli.config.template import render_profile
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.tomlfiles import tomllib

_SECTION = re.compile(r"^\[\[?profiles\.([A-Za-z0-9_-]+)[.\]]", re.M)


def _without_profile(text: str, profile: str) -> str:
    """Drop the profile's block: between init's markers, else its [profiles.<profile>...] sections."""
    marked = re.compile(rf"^# >>> profile {re.escape(profile)}\n.*?^# <<< profile {re.escape(profile)}\n?", re.M | re.S)
    if marked.search(text):
        return marked.sub("", text)
    out: list[str] = []
    pending: list[str] = []  # comments and blank lines not yet known to belong to a section
    skipping = False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#") or not line.strip():
            pending.append(line)
            continue
        if line.startswith("["):
            match = _SECTION.match(line)
            skipping = bool(match and match.group(1) == profile)
            if skipping:
                pending = []
        if not skipping:
            out.extend(pending)
            out.append(line)
        pending = []
    if not skipping:
        out.extend(pending)
    return "".join(out)


def _check_text(flag: str, value: str) -> None:
    """A value init can write into TOML and later commands can use: UTF-8 text without control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{flag}: not valid UTF-8 text") from None
    bad = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ConfigError(f"{flag}: contains a control character ({bad!r}); a pasted value often ends with a "
                          "newline: give the value on one line")


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _ask_endpoint() -> str:
    """The endpoint typed at the prompt; without a terminal (cron, a pipe) a usage error, never a placeholder."""
    if not _stdin_is_tty():
        raise ConfigError("init needs the Marketo REST endpoint: pass --endpoint URL",
                          hint="Admin > Integration > Web Services in Marketo shows it, "
                               "e.g. https://123-ABC-456.mktorest.com")
    return str(click.prompt("Marketo REST endpoint (Admin > Integration > Web Services)", err=True))


@click.command("init", epilog=epilog("init"))
@click.option("--endpoint", default=None, metavar="URL",
              help="Marketo REST endpoint (Admin > Integration > Web Services), e.g. "
                   "https://123-ABC-456.mktorest.com; asked for on a terminal when not given.")
@click.option("--client-id", default="", help="Marketo client id to put in the profile.")
@aliased_option("--segment-endpoint", "segment_region", hidden_aliases=["--segment-region"], default="us",
                show_default=True, metavar="URL|us|eu", help="Segment API host, or the region name 'us' or 'eu' "
                "(the profile's segment_endpoint).")
@click.option("--force", is_flag=True, help="Replace the profile if it already exists.")
@click.pass_obj
def init(app: AppContext, endpoint: str | None, client_id: str, segment_region: str, force: bool) -> None:
    """Write a commented config.toml profile (endpoint, mapping, field ownership,
    write-back events, limits, rules). Secrets are never written: use 'segmarketo auth set'."""
    profile = app.profile or os.environ.get("SEGMARKETO_PROFILE") or "default"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", profile):
        raise ConfigError(f"profile name '{profile}' may use letters, digits, '-' and '_' only")
    for flag, value in (("--client-id", client_id), ("--segment-endpoint", segment_region)):
        _check_text(flag, value)
    # What every later command would refuse is refused now, by the same checks.
    normalize_segment_endpoint(segment_region, what="--segment-endpoint: Segment endpoint")
    path = paths.config_file()
    document = read_config_file(path)  # also refuses a file that is not UTF-8 or that others can write
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if profile in document.get("profiles", {}) and not force:
        raise ConfigError(f"{path}: profile '{profile}' exists already; use --force to replace it")
    endpoint = endpoint if endpoint is not None else _ask_endpoint()
    _check_text("--endpoint", endpoint)
    endpoint = normalize_endpoint(endpoint, what="--endpoint: Marketo endpoint")
    block = render_profile(profile, endpoint=endpoint, client_id=client_id, segment_endpoint=segment_region)
    kept = _without_profile(existing, profile).strip()
    text = (kept + "\n\n" if kept else "") + block
    try:
        tomllib.loads(text)  # never write a file we could not read back
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: the new profile would not be valid TOML ({exc}); nothing was written") from None
    paths.ensure_private_dir(path.parent)
    with paths.open_private(path, "config file") as handle:
        handle.write(text)
    click.echo(f"Wrote profile '{profile}' to {path}", err=True)
    click.echo(f"Next: segmarketo --profile {profile} auth set && segmarketo --profile {profile} doctor", err=True)
    sys.stdout.flush()
