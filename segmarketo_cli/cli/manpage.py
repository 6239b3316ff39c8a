"""Roff man pages generated from the Click command tree: `python -m segmarketo_cli.cli.manpage man/`."""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from segmarketo_cli import __version__
from segmarketo_cli.cli import helptext
from segmarketo_cli.cli.main import cli
from segmarketo_cli.config import environment_settings
from segmarketo_cli.errors import ExitCode

PROG = "segmarketo"
REGENERATE = "python -m segmarketo_cli.cli.manpage man/"

EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "Success.",
    ExitCode.ERROR: "Error: unreadable input, refused credentials, or a fatal Marketo or Segment error.",
    ExitCode.USAGE: "Usage or configuration error (bad flag, config file, profile, rules file or missing "
                    "secret); nothing was written.",
    ExitCode.PARTIAL: "Partial: some records were rejected and written to the rejects file; the rest was applied.",
    ExitCode.REFUSED: "Refused by a safety guard (for example a mass removal); nothing was written.",
    ExitCode.TEMPFAIL: "Temporary failure, safe to retry later: Marketo daily quota spent, profile lock held, "
                       "or a service unreachable. A re-run resumes from the checkpoint.",
    ExitCode.INTERRUPTED: "Interrupted (Ctrl-C, SIGINT): the run stopped early, its report shows what was done.",
    ExitCode.TERMINATED: "Terminated (SIGTERM): the run stopped early, its report shows what was done.",
}

FILES = [
    ("config.toml", "Profiles as [profiles.NAME] tables. In $SEGMARKETO_HOME when set, else the platform's user "
                    "config folder (~/.config/segmarketo on Linux, ~/Library/Application Support/segmarketo on "
                    "macOS)."),
    ("state directory", "$SEGMARKETO_HOME/state, else the platform's user state folder "
                        "(~/.local/state/segmarketo on Linux); mode 0700. Holds PROFILE.sqlite (runs, cursors, "
                        "caches; mode 0600), PROFILE.lock (one job per profile), and per Marketo instance "
                        "instances/KEY.sqlite (the ledger every profile on the instance shares: processed events, "
                        "pending writes, lead ids, daily calls) and instances/KEY.lock (one writing job per "
                        "instance)."),
    ("instance registry", "instance-registry.sqlite in the platform's user state folder, or $SEGMARKETO_REGISTRY: "
                          "which ledger owns each Marketo instance; a second SEGMARKETO_HOME on an instance is "
                          "refused (exit 4)."),
    ("rejects", "STATE/rejects/COMMAND-RUN_ID.jsonl: one JSON line per rejected record with its reason (mode "
                "0600), unless --rejects names another file."),
]

@dataclass(frozen=True)
class Page:
    filename: str
    text: str


def escape(text: str) -> str:
    """Roff-escape text: backslashes, hyphens, and a leading '.' or "'" on any line."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in text.split("\n"))


def bold(text: str) -> str:
    return f"\\fB{escape(text)}\\fR"


def italic(text: str) -> str:
    return f"\\fI{escape(text)}\\fR"


def help_roff(help_text: str | None) -> list[str]:
    """Click help text as roff: paragraphs become .PP, Click's \\b blocks stay unfilled (.nf/.fi)."""
    text = inspect.cleandoc((help_text or "").split("\f")[0])
    lines: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        block = block.strip("\n")
        if not block.strip():
            continue
        if block.lstrip().startswith("\b"):
            body = block.lstrip()[1:].strip("\n")
            lines += [".PP", ".nf", *(escape(line) for line in body.split("\n")), ".fi"]
        else:
            lines += [".PP", escape(" ".join(line.strip() for line in block.split("\n")))]
    return lines


def _short_help(command: click.Command) -> str:
    return command.get_short_help_str(limit=200).rstrip(".")


def _opts_roff(spec: str) -> str:
    """'-p, --profile NAME' -> bold option names, italic metavars."""
    parts = []
    for token in spec.split(" "):
        core, comma = (token[:-1], ",") if token.endswith(",") else (token, "")
        if core.startswith("-"):
            parts.append(bold(core) + comma)
        elif core == "/":
            parts.append("/")
        else:
            parts.append(italic(core) + comma)
    return " ".join(parts)


@dataclass(frozen=True)
class Node:
    path: tuple[str, ...]  # e.g. ("auth", "set"); () is the root
    command: click.Command
    ctx: click.Context

    @property
    def name(self) -> str:
        return "-".join((PROG, *self.path))

    @property
    def filename(self) -> str:
        return f"{self.name}.1"

    def subcommands(self) -> list[Node]:
        if not isinstance(self.command, click.Group):
            return []
        nodes = []
        for name in self.command.list_commands(self.ctx):
            sub = self.command.get_command(self.ctx, name)
            if sub is None or sub.hidden:
                continue
            ctx = click.Context(sub, info_name=name, parent=self.ctx, **sub.context_settings)
            nodes.append(Node((*self.path, name), sub, ctx))
        return nodes


def walk(node: Node) -> Iterator[Node]:
    yield node
    for sub in node.subcommands():
        yield from walk(sub)


def _header(node: Node) -> list[str]:
    title = node.name.upper()
    return [
        f'.TH "{escape(title)}" "1" "{PROG} {__version__}" "{PROG} {__version__}" "{PROG} manual"',
        ".nh",  # no hyphenation: option and variable names must stay copyable
        ".SH NAME",
        f"{escape(node.name)} \\- {escape(_short_help(node.command))}",
    ]


def _synopsis(node: Node) -> list[str]:
    pieces = node.command.collect_usage_pieces(node.ctx)
    line = [bold(PROG)]
    if node.path:
        line.append(f"[{italic('GLOBAL OPTIONS')}]")
        line.extend(bold(part) for part in node.path)
    for piece in pieces:  # e.g. "[OPTIONS]", "FILE...": metavars in italics, brackets plain
        segments = re.split(r"([A-Z][A-Z0-9_]*)", piece)
        line.append("".join(italic(seg) if i % 2 else escape(seg) for i, seg in enumerate(segments)))
    return [".SH SYNOPSIS", ".ad l", " ".join(line), ".ad"]


def _options(node: Node) -> list[str]:
    lines = []
    for param in node.command.get_params(node.ctx):
        record = param.get_help_record(node.ctx)
        if record is None:
            continue
        spec, help_text = record
        lines += [".TP", _opts_roff(spec), escape(help_text) if help_text else "\\&"]
    return [".SH OPTIONS", *lines] if lines else []


def _commands(node: Node, subs: list[Node]) -> list[str]:
    if not subs:
        return []
    lines = [".SH COMMANDS"]
    for sub in subs:
        lines += [".TP", bold(sub.path[-1]), escape(_short_help(sub.command)) + ".",
                  f"See {bold(sub.name)}(1)."]
    return lines


def _exit_status() -> list[str]:
    lines = [".SH EXIT STATUS"]
    for code in ExitCode:
        lines += [".TP", bold(str(int(code))), escape(EXIT_MEANINGS[code])]
    return lines


def _environment(node: Node) -> list[str]:
    """Every variable the command reads; the program's page also says what each one does and its default."""
    path = " ".join(node.path)
    names = helptext.variables(path)
    if not names:
        return []
    defaults: dict[str, object] = {env: default for _name, env, default in environment_settings()}
    lines = [".SH ENVIRONMENT"]
    for env in names:
        text = helptext.describe(env)
        if defaults.get(env) is not None:
            text += f" Default: {defaults[env]}."
        lines += [".TP", bold(env), escape(text)]
    lines += [".PP", escape("Precedence: command-line flag, then environment, then the profile in config.toml, "
                            "then the default.")]
    return lines


def _files() -> list[str]:
    lines = [".SH FILES"]
    for name, text in FILES:
        lines += [".TP", italic(name), escape(text)]
    return lines


def _examples(node: Node) -> list[str]:
    lines = [".SH EXAMPLES"]
    for example in helptext.EXAMPLES.get(" ".join(node.path), ()):
        lines += [".PP", escape(example.what + ":"), ".PP", ".RS 4", bold(example.line), ".RE"]
    return lines if len(lines) > 1 else []


def _see_also(node: Node, all_nodes: list[Node]) -> list[str]:
    if node.path:
        related = [n for n in all_nodes if not n.path or n.path == node.path[:-1] or n.path[:-1] == node.path]
    else:
        related = [n for n in all_nodes if n.path]
    refs = [f"{bold(n.name)}(1)" for n in related]
    return [".SH SEE ALSO", ",\n".join(refs)] if refs else []


def render(node: Node, all_nodes: list[Node]) -> str:
    subs = node.subcommands()
    lines = [*_header(node), *_synopsis(node), ".SH DESCRIPTION", *help_roff(node.command.help)]
    lines += _options(node) + _commands(node, subs)
    if not node.path:
        lines += _exit_status() + _environment(node) + _files()
    else:
        lines += [".SH EXIT STATUS", escape("0 on success; see ") + f"{bold(PROG)}(1) for every exit code "
                  f"({escape(', '.join(str(int(code)) for code in ExitCode))})."]
        lines += _environment(node)
    lines += _examples(node)
    lines += _see_also(node, all_nodes)
    return "\n".join(lines) + "\n"


def generate(root: click.Command | None = None) -> list[Page]:
    """One page for the program and one per (nested) subcommand, in a stable order."""
    if root is None:
        root = cli
    ctx = click.Context(root, info_name=PROG, **root.context_settings)
    nodes = list(walk(Node((), root, ctx)))
    return [Page(node.filename, render(node, nodes)) for node in nodes]


def write_pages(directory: Path, pages: list[Page]) -> list[str]:
    """Write `pages` into `directory`, deleting stale segmarketo*.1 files; returns the names changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    wanted = {page.filename for page in pages}
    for stale in sorted(directory.glob(f"{PROG}*.1")):
        if stale.name not in wanted:
            stale.unlink()
            changed.append(stale.name)
    for page in pages:
        target = directory / page.filename
        if not target.exists() or target.read_text(encoding="utf-8") != page.text:
            target.write_text(page.text, encoding="utf-8")
            changed.append(page.filename)
    return changed


def differences(directory: Path, pages: list[Page]) -> list[str]:
    """Names of pages that are missing, stale or different in `directory`."""
    wanted = {page.filename: page.text for page in pages}
    present = {path.name for path in directory.glob(f"{PROG}*.1")} if directory.is_dir() else set()
    diff = sorted(present - set(wanted))
    for name, text in wanted.items():
        path = directory / name
        if name not in present or path.read_text(encoding="utf-8") != text:
            diff.append(name)
    return diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segmarketo_cli.cli.manpage", description=__doc__)
    parser.add_argument("directory", type=Path, help="where to write the pages (normally man/)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the pages differ")
    args = parser.parse_args(argv)
    pages = generate()
    if args.check:
        diff = differences(args.directory, pages)
        if diff:
            print(f"{args.directory} is out of date ({', '.join(diff)}): run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    changed = write_pages(args.directory, pages)
    print(f"{len(pages)} man pages in {args.directory}, {len(changed)} changed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
