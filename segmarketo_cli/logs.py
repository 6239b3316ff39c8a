"""Logging set-up for people and cron: stderr and an optional file, text or JSON lines, secrets redacted."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.http import redact

ROOT = "segmarketo"


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and any `extra={'data': {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
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


def setup_logging(verbose: int, log_file: str | None, log_format: str) -> None:
    """Configure the 'segmarketo' logger once per process (safe to call again in tests)."""
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    text = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter = JsonLineFormatter() if log_format == "json" else text
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(formatter)
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
        logger.addHandler(handler)
