"""Global options given after the command (`segmarketo doctor --profile prod`) moved in front of it."""

from __future__ import annotations

from collections.abc import Sequence

import click

# True: the option takes a value (the next argument unless given as --name=value or -xVALUE).
OptionTable = dict[str, bool]


def option_table(command: click.Command, ctx: click.Context) -> OptionTable:
    """Every option spelling of `command`, hidden aliases and --help included, and whether it takes a value."""
    table: OptionTable = {}
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            takes_value = not (param.is_flag or param.count)
            for name in (*param.opts, *param.secondary_opts):
                table[name] = takes_value
    return table


def _match(token: str, table: OptionTable) -> tuple[str, bool] | None:
    """The option `token` starts, and whether its value is the next argument; None when it is not in `table`."""
    if token.startswith("--"):
        name, eq, _value = token.partition("=")
        return (name, table[name] and not eq) if name in table else None
    if token.startswith("-") and len(token) > 1:
        name = token[:2]
        return (name, table[name] and len(token) == 2) if name in table else None
    return None


def hoist(group: click.Group, ctx: click.Context, args: Sequence[str]) -> list[str]:
    """`args` with the group's own options that follow the (nested) subcommand moved before its name.

    An option the subcommand defines under the same name stays the subcommand's; a value that belongs to a
    subcommand option is never taken for an option; nothing after `--` moves.
    """
    globals_table = option_table(group, ctx)
    globals_table.pop("--help", None)
    globals_table.pop("-h", None)
    head: list[str] = []
    index = 0
    while index < len(args):  # the group's options before the subcommand's name
        found = _match(args[index], globals_table)
        if args[index] == "--" or found is None:
            break
        width = 2 if found[1] else 1
        head += args[index:index + width]
        index += width
    if index >= len(args) or args[index].startswith("-"):
        return list(args)
    command = group.get_command(ctx, args[index])
    if command is None:
        return list(args)
    moved, kept = _split(command, ctx, globals_table, args[index + 1:])
    return [*head, *moved, args[index], *kept]


def _split(command: click.Command, ctx: click.Context, globals_table: OptionTable,
           rest: Sequence[str]) -> tuple[list[str], list[str]]:
    """(global options found in `rest`, everything else in order), following nested groups."""
    table = option_table(command, ctx)
    moved: list[str] = []
    kept: list[str] = []
    index = 0
    while index < len(rest):
        token = rest[index]
        if token == "--":
            kept += rest[index:]
            break
        own = _match(token, table)
        found = None if own else _match(token, globals_table)
        width = 2 if (own or found or ("", False))[1] else 1
        if found is not None:
            moved += rest[index:index + width]
        else:
            kept += rest[index:index + width]
            if own is None and not token.startswith("-") and isinstance(command, click.Group):
                sub = command.get_command(ctx, token)
                if sub is None:
                    kept += rest[index + 1:]
                    break
                command, table = sub, option_table(sub, ctx)
        index += width
    return moved, kept
