"""`segmarketo auth set|status|clear`: keep the Marketo client secret and Segment write key in the OS keyring."""

from __future__ import annotations

import json
import os

import click

from segmarketo_cli import secrets
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.errors import ConfigError

ONLY = {"marketo": "marketo_client_secret", "segment": "segment_write_key",
        "listen-secret": "listen_shared_secret", "listen-token": "listen_token"}

only_option = click.option(
    "--only",
    type=click.Choice(sorted(ONLY)),
    default=None,
    help="Act on one secret: 'marketo' (client secret), 'segment' (write key), or the receiver's "
         "'listen-secret' (Segment's shared secret) or 'listen-token' (bearer token) for `segmarketo listen`.",
)


def _selected(only: str | None) -> list[str]:
    return [ONLY[only]] if only else list(secrets.SECRET_NAMES)


@click.group("auth", epilog=epilog("auth"))
def auth() -> None:
    """Store, inspect or remove secrets in the OS keyring (per profile).

    Environment variables SEGMARKETO_MARKETO_CLIENT_SECRET and SEGMARKETO_SEGMENT_WRITE_KEY always win
    over the keyring; on headless machines without a keyring, use them instead.
    """


@auth.command("set", epilog=epilog("auth set"))
@click.option("--from-env", is_flag=True,
              help="Copy SEGMARKETO_MARKETO_CLIENT_SECRET / SEGMARKETO_SEGMENT_WRITE_KEY into the keyring.")
@only_option
@click.pass_obj
def auth_set(app: AppContext, from_env: bool, only: str | None) -> None:
    """Store secrets in the keyring: hidden prompts (Enter skips one), or --from-env."""
    profile = app.profile_name
    secrets.require_keyring()
    stored = 0
    for name in _selected(only):
        label, env = secrets.SECRET_LABELS[name], secrets.ALL_SECRET_ENV[name]
        if from_env:
            value = os.environ.get(env, "")
            if not value:
                click.echo(f"skipped {label}: {env} is not set", err=True)
                continue
        else:
            value = click.prompt(f"{label} (Enter to skip)", default="", hide_input=True, show_default=False)
            value = value.strip()
            if not value:
                click.echo(f"skipped {label}", err=True)
                continue
        secrets.set_secret(profile, name, value)
        stored += 1
        click.echo(f"stored {label} for profile '{profile}' in the keyring", err=True)
        if not from_env and os.environ.get(env):
            click.echo(f"note: {env} is set in this environment and wins over the keyring", err=True)
    if from_env and not stored:
        wanted = " or ".join(secrets.ALL_SECRET_ENV[name] for name in _selected(only))
        raise ConfigError(f"nothing to copy: {wanted} is not set in the environment")


@auth.command("status", epilog=epilog("auth status"))
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout.")
@click.pass_obj
def auth_status(app: AppContext, as_json: bool) -> None:
    """Say which secrets are set and where they come from (env, keyring or missing); never their values."""
    profile = app.profile_name
    statuses = secrets.secret_status(profile)
    backend, usable = secrets.keyring_backend_name(), secrets.keyring_available()
    if as_json:
        data = {
            "profile": profile,
            "keyring_backend": backend,
            "keyring_available": usable,
            "secrets": [{"name": s.name, "source": s.source, "detail": s.detail} for s in statuses],
        }
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"profile: {profile}")
    click.echo(f"keyring backend: {backend}" + ("" if usable else " (not usable: use environment variables)"))
    width = max(len(secrets.SECRET_LABELS[s.name]) for s in statuses)
    for status in statuses:
        click.echo(f"{secrets.SECRET_LABELS[status.name]:<{width}}  {status.source:<8} {status.detail}")


@auth.command("clear", epilog=epilog("auth clear"))
@only_option
@click.pass_obj
def auth_clear(app: AppContext, only: str | None) -> None:
    """Remove secrets of this profile from the keyring (environment variables are not touched)."""
    profile = app.profile_name
    for name in _selected(only):
        label = secrets.SECRET_LABELS[name]
        removed = secrets.clear_secret(profile, name)
        click.echo(f"{'removed' if removed else 'not in the keyring:'} {label} (profile '{profile}')", err=True)
        if os.environ.get(secrets.ALL_SECRET_ENV[name]):
            click.echo(f"note: {secrets.ALL_SECRET_ENV[name]} is still set in this environment", err=True)
