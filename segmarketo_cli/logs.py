"""Logging set-up for people and cron: stderr and an optional file, text or JSON lines, secrets redacted."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.http import redact
from segmarketo_cli.timeparse import iso_utc

ROOT = "segmarketo"
RUN_FIELDS = ("run_id", "profile", "command")

# The job this process is running. One job per process, its worker threads included, so a plain global (a
# contextvar would not reach the threads of a batch pool).
_run: dict[str, str] = {}


@contextmanager
def run_fields(run_id: str, profile: str, command: str) -> Iterator[None]:
    """Every log line written inside the block carries run_id, profile and command."""
    _run.update(run_id=run_id, profile=profile, command=command)
    try:
        yield
    finally:
        _run.clear()


class RunFieldsFilter(logging.Filter):
    """Puts the running job's fields on each record (as attributes; None outside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in RUN_FIELDS:
            setattr(record, name, _run.get(name))
        return True


def _run_fields_of(record: logging.LogRecord) -> dict[str, str]:
    return {name: value for name in RUN_FIELDS if (value := getattr(record, name, None))}


class RedactingFormatter(logging.Formatter):
    """Text lines; inside a job they end with `[run=… profile=… command=…]`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _run_fields_of(record)
        if fields:
            line += " [" + " ".join(f"{'run' if k == 'run_id' else k}={v}" for k, v in fields.items()) + "]"
        return redact(line)


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, inside a job run_id, profile and command, and any
    `extra={'data': {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": iso_utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_run_fields_of(record),
        }
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            payload.update(data)
        return redact(json.dumps(payload, default=str, ensure_ascii=False))


class LogFileHandler(logging.FileHandler):
    """The --log-file handler: when the file cannot be written (disk full), one warning on stderr, then silence.

    The log file is a copy of what the run reports; losing it must not print a traceback per line or stop a run
    whose writes to Marketo and Segment are going well."""

    failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        if self.failed:
            return
        self.failed = True
        exc = sys.exc_info()[1]
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        sys.stderr.write(f"segmarketo: warning: log file {self.baseFilename}: cannot be written ({reason}); "
                         "no further lines go to it\n")


def setup_logging(verbose: int, log_file: str | None, log_format: str, quiet: bool = False) -> None:
    """Configure the 'segmarketo' logger once per process (safe to call again in tests). `quiet`: only errors
    reach stderr, whatever `verbose` says (the log file is not affected)."""
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    text = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter = JsonLineFormatter() if log_format == "json" else text
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(formatter)
    stderr.addFilter(RunFieldsFilter())
    logger.addHandler(stderr)
    if log_file:
        path = Path(log_file).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():  # log lines may carry e-mail addresses: keep a new file private
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            handler = LogFileHandler(path, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"log file {path}: cannot be opened: {exc.strerror or exc}") from None
        handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        handler.setFormatter(formatter)
        handler.addFilter(RunFieldsFilter())
        logger.addHandler(handler)
