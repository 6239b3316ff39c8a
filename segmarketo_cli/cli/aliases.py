"""Options whose old spellings still parse but stay out of --help, man pages and error messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

F = Callable[..., Any]


class AliasedOption(click.Option):
    """A click.Option that also accepts `hidden_aliases` (old names) on the command line, and shows only its
    current names wherever it is described (docs/cli.md "Option names")."""

    def __init__(self, param_decls: Sequence[str], *, hidden_aliases: Sequence[str] = (), **attrs: Any) -> None:
        super().__init__([*param_decls, *hidden_aliases], **attrs)
        self.hidden_aliases = tuple(hidden_aliases)

    @contextmanager
    def _current_names_only(self) -> Iterator[None]:
        opts = self.opts
        self.opts = [name for name in opts if name not in self.hidden_aliases]
        try:
            yield
        finally:
            self.opts = opts

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        with self._current_names_only():
            return super().get_help_record(ctx)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        with self._current_names_only():
            return super().get_error_hint(ctx)


def aliased_option(*param_decls: str, hidden_aliases: Sequence[str], **attrs: Any) -> Callable[[F], F]:
    """click.option for an option renamed in a release: the old names in `hidden_aliases` keep working."""
    return click.option(*param_decls, cls=AliasedOption, hidden_aliases=hidden_aliases, **attrs)
