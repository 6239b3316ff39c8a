"""Exception tree and the one ExitCode enum; every error maps to an exit code here."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README and man pages."""

    OK = 0
    ERROR = 1
    USAGE = 2
    PARTIAL = 3
    REFUSED = 4
    TEMPFAIL = 75
    INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2
    TERMINATED = 143  # SIGTERM: 128 + 15


class SegmarketoError(Exception):
    """Base of every error the tool raises on purpose; its message is safe to show a user."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(SegmarketoError):
    """Bad configuration, profile, flag combination or rules file: fix the invocation."""

    exit_code = ExitCode.USAGE


class EndpointError(ConfigError):
    """An endpoint that cannot be the right one: unknown host, refused or failed TLS before it ever answered,
    or a redirect to another host. Retrying later would not help."""


class InputError(SegmarketoError):
    """An input file cannot be read at all (missing, unreadable, wrong format)."""

    exit_code = ExitCode.ERROR


class StateError(SegmarketoError):
    """A state file is corrupt, unopenable, or was deleted or replaced while a run used it."""

    exit_code = ExitCode.ERROR


class OutputError(SegmarketoError):
    """A file or folder segmarketo writes (home, state, rejects, --out, --plan-out) cannot be written."""

    exit_code = ExitCode.ERROR


class AuthError(SegmarketoError):
    """Credentials are missing or refused."""

    exit_code = ExitCode.ERROR


class SafetyRefusal(SegmarketoError):
    """A safety guard refused the plan (mass removal, empty audience); nothing was written."""

    exit_code = ExitCode.REFUSED


class TemporaryFailure(SegmarketoError):
    """Safe to retry later: quota exhausted, lock held, service unreachable."""

    exit_code = ExitCode.TEMPFAIL


class LockHeld(TemporaryFailure):
    """Another job holds the profile's lock."""


class ServiceUnavailable(TemporaryFailure):
    """A remote service kept failing after every retry."""


class MarketoError(SegmarketoError):
    """A Marketo response-level error that is not retried (fatal for the job)."""

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"Marketo error {code}: {message}", hint=hint)
        self.code = code
        self.marketo_message = message


class MarketoQuotaExhausted(TemporaryFailure):
    """Marketo answered 607: the day's API quota is gone; resume after midnight America/Chicago."""

    def __init__(self, message: str, *, resume_at: str | None = None) -> None:
        super().__init__(message, hint=f"quota resets at {resume_at}" if resume_at else None)
        self.resume_at = resume_at


class DailyBudgetExhausted(MarketoQuotaExhausted):
    """segmarketo's own daily call budget (a setting) is spent."""


class SegmentError(SegmarketoError):
    """Segment refused a batch with a non-retryable status (bad write key, 4xx)."""
