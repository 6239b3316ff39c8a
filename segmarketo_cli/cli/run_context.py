"""What a run was started with (arguments with secrets redacted, inputs, profile, version), kept for `runs show`."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import click

from segmarketo_cli import __version__
from segmarketo_cli.http import redact

ARGUMENTS_KEY = "segmarketo.arguments"  # in click's Context.meta, which every nested context shares
# Options whose value is a credential, or a URL that carries one (a webhook URL is its own secret).
_SECRET_OPTION = re.compile(r"secret|password|token|key|notify|webhook", re.IGNORECASE)
_HIDDEN = "***"


def remember_arguments(ctx: click.Context, args: Sequence[str]) -> None:
    """Keep the command line as given (called before parsing), for `run_context`."""
    ctx.meta.setdefault(ARGUMENTS_KEY, list(args))


def redact_arguments(args: Sequence[str]) -> list[str]:
    """`args` with the value of every credential-like option replaced by ***, and known secrets removed."""
    shown: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            shown.append(_HIDDEN)
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        secret = arg.startswith("--") and bool(_SECRET_OPTION.search(name))
        if secret and eq:
            shown.append(f"{name}={_HIDDEN}")
            continue
        hide_next = secret
        shown.append(redact(arg))
    return shown


def inputs(ctx: click.Context) -> list[str]:
    """Absolute paths of what the command reads: its arguments and its non-writable path options."""
    found: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        is_input = isinstance(param, click.Argument) or (
            isinstance(param.type, click.Path) and not param.type.writable)
        if not is_input or value in (None, "", ()):
            continue
        values = value if isinstance(value, (tuple, list)) else (value,)
        found += [os.path.abspath(os.fspath(item)) for item in values]
    return found


def run_context(ctx: click.Context, profile: str) -> dict[str, Any]:
    """The context `StateStore.start_run` records for the job command running in `ctx`."""
    return {
        "arguments": redact_arguments(ctx.meta.get(ARGUMENTS_KEY, [])),
        "inputs": inputs(ctx),
        "profile": profile,
        "version": __version__,
    }
