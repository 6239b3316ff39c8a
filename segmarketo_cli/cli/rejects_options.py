"""--strict and --retry-rejects RUN: the job options about rejects, kept in the click context for run_job."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from segmarketo_cli import paths
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.jobs.retry_rejects import prepare_retry

F = Callable[..., Any]
STRICT = "segmarketo.strict"  # ctx.meta keys read by cli/jobrun.py: run_job
RENAMED_ORIGINS = "segmarketo.renamed_origins"
_RETRY_RUN = "segmarketo.retry_run"


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value:
            ctx.meta[key] = value
    return callback


def strict_option(f: F) -> F:
    """--strict: rejects an earlier run already reported end the run partial (exit 3) too."""
    return click.option(
        "--strict", is_flag=True, expose_value=False, callback=_remember(STRICT),
        help="Exit 3 for known rejects too (rejects an earlier run of this command already reported; without "
             "--strict they are still written, marked known, but exit 0).",
    )(f)


def retry_rejects_option(f: F) -> F:
    """--retry-rejects RUN: read exactly the records run RUN rejected, from their origin files."""
    return click.option(
        "--retry-rejects", metavar="RUN", expose_value=False, callback=_remember(_RETRY_RUN),
        help="Instead of FILE..., re-read exactly the records run RUN rejected, from their origin files (file:line), "
             "e.g. after fixing the mapping. An origin file changed since is refused. See 'segmarketo rejects list'.",
    )(f)


def one_input_file(app: AppContext, command: str, file: str | None, *, strict: bool) -> str:
    """sync-audience's FILE, or the one copy --retry-rejects makes; its own --strict covers known rejects too."""
    if strict:
        click.get_current_context().meta[STRICT] = True
    files = input_files(app, command, (file,) if file else ())
    if len(files) != 1:
        raise click.UsageError(f"--retry-rejects: the rejects come from {len(files)} files; {command} reads one.")
    return files[0]


def input_files(app: AppContext, command: str, files: tuple[str, ...]) -> tuple[str, ...]:
    """FILE... as given, or with --retry-rejects RUN the copies holding exactly RUN's rejected records (one
    warning line per origin file that cannot be re-read). Usage error for both or neither."""
    ctx = click.get_current_context()
    run_ref = ctx.meta.get(_RETRY_RUN)
    if run_ref is None:
        if not files:
            raise click.UsageError("Missing argument 'FILE...' (or --retry-rejects RUN).")
        return files
    if files:
        raise click.UsageError("--retry-rejects RUN reads the rejected records' own files: give no FILE.")
    root = paths.state_dir() / "retry"
    paths.ensure_private_dir(root)
    folder = tempfile.mkdtemp(prefix=f"{command}-", dir=root)
    ctx.call_on_close(lambda: shutil.rmtree(folder, ignore_errors=True))
    retry = prepare_retry(app.store.reject_history, command, str(run_ref), Path(folder))
    for line in retry.refused:
        click.echo(f"segmarketo: warning: {line}", err=True)
    if retry.without_origin:
        click.echo(f"segmarketo: warning: {retry.without_origin:,} rejected record(s) of run {retry.run_id} name no "
                   "file:line origin and are not retried", err=True)
    click.echo(f"Retrying {retry.records:,} rejected record(s) of run {retry.run_id}", err=True)
    ctx.meta[RENAMED_ORIGINS] = retry.renamed_origins
    return tuple(retry.files)
