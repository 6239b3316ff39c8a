"""--help teaches: every command has Examples, names its environment variables, and hides only old option names."""

from __future__ import annotations

import shlex

import click
import pytest

from segmarketo_cli.cli import helptext
from segmarketo_cli.cli.main import cli
from segmarketo_cli.paths import sample_data_dir


def _paths() -> list[tuple[str, ...]]:
    ctx = click.Context(cli, info_name="segmarketo")
    found: list[tuple[str, ...]] = [()]
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        found.append((name,))
        if isinstance(command, click.Group):
            found += [(name, sub) for sub in command.list_commands(ctx)]
    return found


PATHS = _paths()


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "segmarketo")
def test_every_help_has_examples_and_its_environment_variables(invoke, path):
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    assert "\n  Examples:\n" in result.stdout
    for example in helptext.EXAMPLES[" ".join(path)]:
        assert f"$ {example.line}\n" in result.stdout
    for variable in helptext.variables(" ".join(path)):
        assert variable in result.stdout


def test_every_command_has_examples_and_every_example_names_a_real_command():
    assert {" ".join(path) for path in PATHS} == set(helptext.EXAMPLES)
    for path, examples in helptext.EXAMPLES.items():
        assert examples
        for example in examples:
            assert example.line.startswith("segmarketo " + path)


def test_examples_use_the_shipped_samples_and_current_option_names():
    lines = [example.line for examples in helptext.EXAMPLES.values() for example in examples]
    assert any("sample_data/identifies.jsonl.gz" in line for line in lines)
    assert any("sample_data/rules.toml" in line for line in lines)
    for old in ("--extract-threshold", "--bulk-after", "--out ", "--segment-region"):
        assert not any(old in line for line in lines)


def test_options_read_from_the_environment_show_their_variable(invoke):
    root = invoke("--help").stdout
    assert "[env" in root
    assert "SEGMARKETO_PROFILE]" in root
    assert "SEGMARKETO_LOG_FILE]" in root
    backfill = " ".join(invoke("backfill-leads", "--help").stdout.split())
    for variable in ("SEGMARKETO_LOOKUP_FIELD", "SEGMARKETO_USER_ID_FIELD", "SEGMARKETO_PARTITION",
                     "SEGMARKETO_MEMORY_LIMIT"):
        assert f"[env var: {variable}]" in backfill
    assert "[env var: SEGMARKETO_SANDBOX_URL;" in " ".join(invoke("sandbox", "state", "--help").stdout.split())


RENAMED = [
    (("sync-audience", "a.csv"), "--extract-threshold", "--bulk-threshold", "7", "bulk_threshold", 7),
    (("writeback",), "--bulk-after", "--bulk-threshold", "3", "bulk_threshold", 3.0),
    (("writeback",), "--out", "--plan-out", "batches.jsonl", "plan_out", "batches.jsonl"),
    (("init",), "--segment-region", "--segment-endpoint", "eu", "segment_region", "eu"),
]


@pytest.mark.parametrize(("argv", "old", "new", "value", "dest", "parsed"), RENAMED,
                         ids=[old for _, old, *_ in RENAMED])
def test_old_option_names_still_parse_to_the_new_option(argv, old, new, value, dest, parsed):
    # Under the program's own context, as a real run: click caches a command's help option (`-h`, `--help`) the
    # first time it is asked for, so a context without the program's help names would leave `--help` alone on it
    # for every later test of this process (the man pages among them).
    root = click.Context(cli, info_name="segmarketo", **cli.context_settings)
    command = cli.get_command(root, argv[0])
    for spelling in (old, new):
        ctx = command.make_context(argv[0], [*argv[1:], spelling, value], parent=root)
        assert str(ctx.params[dest]) == str(parsed)


@pytest.mark.parametrize(("argv", "old", "new", "value", "dest", "parsed"), RENAMED,
                         ids=[old for _, old, *_ in RENAMED])
def test_old_option_names_are_hidden_from_help_and_errors(invoke, argv, old, new, value, dest, parsed):
    shown = invoke(argv[0], "--help").stdout
    assert new in shown
    assert old + " " not in shown
    assert old + "," not in shown
    assert f"{old}\n" not in shown
    if dest == "bulk_threshold":
        refused = invoke(*argv, old, "many")
        assert refused.exit_code == 2
        assert f"'{new}'" in refused.stderr
        assert old not in refused.stderr


def test_one_bulk_option_name_across_jobs(invoke):
    for command in ("backfill-leads", "sync-audience", "writeback"):
        assert "--bulk-threshold" in invoke(command, "--help").stdout


SAMPLE_EXAMPLES = [(path, example.line) for path, examples in helptext.EXAMPLES.items() for example in examples
                   if "sample_data/" in example.line]


@pytest.mark.parametrize(("path", "line"), SAMPLE_EXAMPLES, ids=[line for _, line in SAMPLE_EXAMPLES])
def test_examples_on_the_samples_run_against_the_sandbox(sandbox, invoke, tmp_path, monkeypatch, path, line):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    monkeypatch.chdir(tmp_path)
    argv = [arg.replace("sample_data/", f"{sample_data_dir()}/") for arg in shlex.split(line)[1:]]
    result = invoke(*argv)
    assert result.exit_code in (0, 3), result.output  # 3: the samples hold deliberately bad records
    assert "Traceback" not in result.output


def test_every_man_page_has_its_examples_and_environment():
    from segmarketo_cli.cli import manpage

    pages = {page.filename: page.text for page in manpage.generate()}
    for path in PATHS:
        text = pages["-".join(("segmarketo", *path)) + ".1"]
        assert "\n.SH EXAMPLES\n" in text
        for example in helptext.EXAMPLES[" ".join(path)]:
            assert manpage.bold(example.line) in text
        variables = helptext.variables(" ".join(path))
        assert ("\n.SH ENVIRONMENT\n" in text) == bool(variables)
        for variable in variables:
            assert manpage.bold(variable) in text


def test_checking_a_sync_keeps_its_job_s_short_help_option(invoke):
    """`run` and `schedule` parse a sync's arguments with the job's own command first; click keeps the help option
    a command is first asked for, so that parse must not leave the job with `--help` alone."""
    from segmarketo_cli.cli.sync_argv import check_sync
    from segmarketo_cli.config.syncs import SyncDefinition

    job = cli.get_command(click.Context(cli), "apply-events")
    assert job is not None
    job._help_option = None  # click's cache, empty as in a new process whatever ran before in this one
    check_sync(SyncDefinition("nightly", "apply-events", ("events.jsonl",), {"rules": "rules.toml"}, "[syncs.nightly]"),
               job)
    result = invoke("apply-events", "-h")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
