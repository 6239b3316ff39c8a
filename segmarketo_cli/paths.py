"""Where config and state live: SEGMARKETO_HOME, else the platformdirs user folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, TextIO

import platformdirs

from segmarketo_cli.errors import OutputError

APP_NAME = "segmarketo"


def home_override() -> Path | None:
    value = os.environ.get("SEGMARKETO_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = home_override()
    return home if home else Path(platformdirs.user_config_dir(APP_NAME))


def config_file() -> Path:
    return config_dir() / "config.toml"


def state_dir() -> Path:
    home = home_override()
    return home / "state" if home else Path(platformdirs.user_state_dir(APP_NAME))


def engine_dir(state: Path, profile: str) -> Path:
    """Where a profile's planning engine spills (state folder/engine/<profile>); private, it can hold e-mails."""
    return state / "engine" / profile


def people_dir(state: Path) -> Path:
    """Where backfill-leads keeps each profile's people store (state folder/people); private, it holds e-mails."""
    return state / "people"


def registry_file() -> Path:
    """The per-user instance registry (which home's ledger owns each Marketo instance).

    SEGMARKETO_REGISTRY, else the platform's user state folder: deliberately not under SEGMARKETO_HOME, so
    homes kept per environment still see each other's claims.
    """
    value = os.environ.get("SEGMARKETO_REGISTRY")
    if value:
        return Path(value).expanduser()
    return Path(platformdirs.user_state_dir(APP_NAME)) / "instance-registry.sqlite"


def sample_data_dir() -> Path:
    """The sample inputs and sandbox seed: inside the installed package, else the source tree's sample_data/."""
    installed = Path(__file__).resolve().parent / "sample_data"
    if (installed / "sandbox").is_dir():
        return installed
    return Path(__file__).resolve().parents[1] / "sample_data"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 and tighten it if it already exists; OutputError if it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
    except OSError as exc:
        home = os.environ.get("SEGMARKETO_HOME")
        hint = f"SEGMARKETO_HOME is {home}: point it at a folder you can write" if home else \
            "set SEGMARKETO_HOME to a folder you can write"
        raise OutputError(f"{path}: folder cannot be created: {why_unwritable(path, exc, folder=True)}",
                          hint=hint) from None
    return path


def why_unwritable(path: Path, exc: OSError, *, folder: bool = False) -> str:
    """Why `path` (a file, or a folder with folder=True) cannot be created, naming a file that is in the way."""
    blocker = path
    while not blocker.exists() and blocker != blocker.parent:
        blocker = blocker.parent
    if blocker != path and not blocker.is_dir():
        return f"{blocker} is a file, not a folder"
    if blocker == path and path.is_dir() != folder:
        return "it is a folder, not a file" if path.is_dir() else "it is a file, not a folder"
    return exc.strerror or str(exc)


def check_writable(path: Path, what: str) -> None:
    """Refuse now, before any write, a file that could not be created later (`what` names it, e.g. '--rejects')."""
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor == path and path.is_dir():
        raise OutputError(f"{what} {path}: is a folder, not a file")
    if ancestor != path and not ancestor.is_dir():
        raise OutputError(f"{what} {path}: cannot be written: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise OutputError(f"{what} {path}: cannot be written: permission denied on {ancestor}")


def open_private(path: Path, what: str, *, newline: str | None = None) -> TextIO:
    """`path` opened for writing text, mode 0600 (a new folder 0700): it may hold e-mail addresses.

    An existing regular file is emptied and tightened to 0600; a device such as /dev/stdout is left as it is."""
    fd = _private_fd(path, what)
    try:
        return os.fdopen(fd, "w", encoding="utf-8", newline=newline)
    except BaseException:
        os.close(fd)
        raise


def open_private_bytes(path: Path, what: str) -> BinaryIO:
    """`path` opened for writing bytes, private as `open_private` makes it (Parquet and .xlsx plan files)."""
    fd = _private_fd(path, what)
    try:
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def _private_fd(path: Path, what: str) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise OutputError(f"{what} {path}: cannot be written: {why_unwritable(path, exc)}") from None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_failed(what: str, path: Path, exc: OSError) -> OutputError:
    """The error for a write to an open output file that failed (disk full, I/O error)."""
    return OutputError(f"{what} {path}: cannot be written: {exc.strerror or exc}")
