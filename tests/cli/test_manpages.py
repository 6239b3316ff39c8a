"""Man pages: generated from the Click tree, deterministic, and man/ must match what the generator makes now."""

from __future__ import annotations

import difflib
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from segmarketo_cli.cli import manpage
from segmarketo_cli.config import environment_settings
from segmarketo_cli.errors import ExitCode

REPO_MAN = Path(__file__).resolve().parents[2] / "man"


def test_man_directory_is_up_to_date(tmp_path):
    assert manpage.main([str(tmp_path)]) == 0
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.1")}
    committed = {p.name: p.read_text() for p in REPO_MAN.glob("*.1")} if REPO_MAN.is_dir() else {}
    stale = sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))
    diff = "".join(difflib.unified_diff((committed.get(stale[0]) or "").splitlines(True),
                                        (fresh.get(stale[0]) or "").splitlines(True), "man/" + stale[0], "now")
                   ) if stale else ""
    assert not stale, f"man/ is out of date ({', '.join(stale)}): run `{manpage.REGENERATE}`\n{diff}"


def test_one_page_per_command_including_nested_groups():
    names = {page.filename for page in manpage.generate()}
    from segmarketo_cli.cli.main import cli

    ctx = click.Context(cli, info_name="segmarketo")
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert f"segmarketo-{name}.1" in names
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                assert f"segmarketo-{name}-{sub}.1" in names
    assert {"segmarketo.1", "segmarketo-auth-set.1", "segmarketo-runs-show.1"} <= names


def test_root_page_has_every_section_exit_code_and_variable():
    text = next(p.text for p in manpage.generate() if p.filename == "segmarketo.1")
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT",
                    "FILES", "EXAMPLES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in text
    for code in ExitCode:
        assert f".TP\n\\fB{int(code)}\\fR\n" in text
    wanted = ["SEGMARKETO_HOME", "SEGMARKETO_PROFILE", "SEGMARKETO_MARKETO_CLIENT_SECRET",
              "SEGMARKETO_SEGMENT_WRITE_KEY", "SEGMARKETO_LOG_FILE"] + [env for _, env, _ in environment_settings()]
    for env in wanted:
        assert f"\\fB{env}\\fR" in text
    assert '.TH "SEGMARKETO" "1" "segmarketo 0.1.0"' in text
    assert "config.toml" in text
    assert "rejects" in text


def test_output_is_deterministic_and_machine_independent(monkeypatch, tmp_path):
    first = manpage.generate()
    monkeypatch.setenv("SEGMARKETO_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("SEGMARKETO_PROFILE", "other")
    assert manpage.generate() == first
    assert all(str(tmp_path) not in page.text for page in first)


def test_roff_escaping():
    assert manpage.escape(".start\n'quote\n-a \\b") == "\\&.start\n\\&'quote\n\\-a \\eb"
    lines = manpage.help_roff("First line\nwraps.\n\n\b\n  keep\n.this\n\nEnd.\fhidden")
    assert lines == [".PP", "First line wraps.", ".PP", ".nf", "  keep", "\\&.this", ".fi", ".PP", "End."]


def test_generator_handles_any_click_tree():
    @click.group(help="Root.")
    @click.option("--flag/--no-flag", default=True, help="Toggle.")
    def root(flag):
        pass

    @root.group(help="Middle group.")
    def middle():
        pass

    @middle.command(help="Leaf does\nthings.")
    @click.argument("files", nargs=-1)
    @click.option("-n", "--count", type=int, default=3, show_default=True, help="How many.")
    def leaf(files, count):
        pass

    @root.command(hidden=True)
    def secret():
        pass

    pages = {p.filename: p.text for p in manpage.generate(root)}
    assert sorted(pages) == ["segmarketo-middle-leaf.1", "segmarketo-middle.1", "segmarketo.1"]
    leaf_page = pages["segmarketo-middle-leaf.1"]
    assert "\\fBmiddle\\fR \\fBleaf\\fR [\\fIOPTIONS\\fR] [\\fIFILES\\fR]..." in leaf_page
    assert "\\fB\\-n\\fR, \\fB\\-\\-count\\fR \\fIINTEGER\\fR\nHow many.  [default: 3]" in leaf_page
    assert "\\fBsegmarketo\\-middle\\fR(1)" in leaf_page
    assert "\\fB\\-\\-flag\\fR / \\fB\\-\\-no\\-flag\\fR" in pages["segmarketo.1"]


def test_check_mode_reports_stale_directory(tmp_path, capsys):
    manpage.main([str(tmp_path)])
    assert manpage.main([str(tmp_path), "--check"]) == 0
    (tmp_path / "segmarketo-removed.1").write_text("old\n")
    (tmp_path / "segmarketo.1").write_text("changed\n")
    assert manpage.main([str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "segmarketo-removed.1" in err
    assert "segmarketo.1" in err
    assert manpage.REGENERATE in err
    manpage.main([str(tmp_path)])
    assert not (tmp_path / "segmarketo-removed.1").exists()
    assert manpage.differences(tmp_path, manpage.generate()) == []


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not installed")
def test_pages_render_without_groff_warnings(tmp_path):
    manpage.main([str(tmp_path)])
    for page in sorted(tmp_path.glob("*.1")):
        done = subprocess.run(["groff", "-man", "-Tutf8", "-ww", str(page)], capture_output=True, text=True)
        assert done.returncode == 0, (page.name, done.stderr)
        assert done.stderr == "", (page.name, done.stderr)
        assert page.stem.upper() in done.stdout


def test_module_entry_point_rewrites_a_directory(tmp_path):
    import sys

    target = tmp_path / "man"
    done = subprocess.run([sys.executable, "-m", "segmarketo_cli.cli.manpage", str(target)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert "man pages in" in done.stderr
    assert sorted(p.name for p in target.glob("*.1")) == sorted(p.filename for p in manpage.generate())
