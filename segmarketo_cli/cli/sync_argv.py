"""A declared sync as the command line of its job: argv built from the job's own Click options, checked by them."""

from __future__ import annotations

import difflib
import os

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import HELP_OPTION_NAMES
from segmarketo_cli.config.syncs import OptionValue, SyncDefinition
from segmarketo_cli.errors import ConfigError


def option_keys(command: click.Command) -> dict[str, click.Option]:
    """The keys a sync table may use for `command`: each option's long name with '_' for '-' (`dry_run`)."""
    keys: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                if opt.startswith("--"):
                    keys[opt[2:].replace("-", "_")] = param
    return keys


def sync_argv(sync: SyncDefinition, command: click.Command) -> list[str]:
    """The job's argv for `sync`: options in declaration order, then `--` and the inputs. Unknown keys and
    values of the wrong kind are ConfigErrors naming the table and key; the values themselves are checked by
    `check_sync` (the job's own option types)."""
    keys = option_keys(command)
    argv: list[str] = []
    for key, value in sync.options.items():
        param = keys.get(key)
        if param is None:
            raise ConfigError(f"{sync.where}: unknown option '{key}' for {sync.job}{_did_you_mean(key, keys)}",
                              hint=f"options of {sync.job}: {', '.join(sorted(keys))}")
        argv.extend(_option_argv(sync, key, param, value))
    argument = next((param for param in command.params if isinstance(param, click.Argument)), None)
    if sync.inputs and argument is None:
        raise ConfigError(f"{sync.where}: 'inputs': {sync.job} reads no input files")
    if argument is not None and argument.nargs == 1 and len(sync.inputs) > 1:
        raise ConfigError(f"{sync.where}: 'inputs': {sync.job} reads one file, got {len(sync.inputs)}")
    # A job that reads files needs them declared (its FILE is optional on the command line only for
    # --retry-rejects, which names a past run and has no place in a recurring sync).
    if argument is not None and not sync.inputs and "retry_rejects" not in sync.options:
        raise ConfigError(f"{sync.where}: 'inputs' is required for {sync.job} (a file, folder or glob)")
    return argv + ["--", *(os.path.expanduser(item) for item in sync.inputs)] if sync.inputs else argv


def check_sync(sync: SyncDefinition, command: click.Command) -> list[str]:
    """`sync_argv`, parsed by the job's own command (types, choices, ranges) without running it."""
    argv = sync_argv(sync, command)
    try:
        # the program's help names: click keeps the help option a command is first asked for (its --help, man page)
        command.make_context(sync.job, list(argv), obj=AppContext(), help_option_names=HELP_OPTION_NAMES).close()
    except click.BadParameter as exc:
        key = _key_of(exc.param, command)
        raise ConfigError(f"{sync.where}: '{key}': {exc.message}") from None
    except click.UsageError as exc:
        raise ConfigError(f"{sync.where}: {exc.format_message()}") from None
    return argv


def _option_argv(sync: SyncDefinition, key: str, param: click.Option, value: OptionValue) -> list[str]:
    if param.is_flag:
        if not isinstance(value, bool):
            raise ConfigError(f"{sync.where}: '{key}' must be true or false, got {value!r}")
        if value:
            return [param.opts[0]]
        return [param.secondary_opts[0]] if param.secondary_opts else []
    if isinstance(value, bool):
        raise ConfigError(f"{sync.where}: '{key}' takes a value ({param.metavar or param.type.name}), "
                          f"not true/false")
    if isinstance(value, tuple):
        if not param.multiple:
            raise ConfigError(f"{sync.where}: '{key}' takes one value, got a list")
        return [token for item in value for token in (param.opts[0], str(item))]
    return [param.opts[0], str(value)]


def _key_of(param: click.Parameter | None, command: click.Command) -> str:
    if isinstance(param, click.Argument) or param is None:
        return "inputs"
    return next((key for key, option in option_keys(command).items() if option is param), param.name or "?")


def _did_you_mean(key: str, keys: dict[str, click.Option]) -> str:
    close = difflib.get_close_matches(key, list(keys), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
