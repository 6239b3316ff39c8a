"""One private SQLite file: versioned schema, a write that notices the file was swapped, errors as one clear line."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from segmarketo_cli.errors import SegmarketoError, StateError, TemporaryFailure
from segmarketo_cli.paths import ensure_private_dir
from segmarketo_cli.state.schema import Migration


def unusable(path: Path, exc: BaseException) -> SegmarketoError:
    """The one line for a SQLite or OS error on `path`: what is wrong and what to do."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    lowered = reason.lower()
    if "locked" in lowered or "busy" in lowered:
        return TemporaryFailure(f"state store {path} is busy ({reason}); try again when the other process finishes")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return StateError(
            f"state store {path} is not a usable SQLite database ({reason}): move it aside "
            f"(mv '{path}' '{path}.broken') and run again; a new store starts empty, so read "
            "'A state store that is lost' in docs/reliability.md first"
        )
    return StateError(f"state store {path} cannot be used ({reason}): check that it is a file this user can read "
                      "and write, in a folder with free space")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


class StoreFile:
    """A thread-safe connection to one SQLite file (folder 0700, file 0600, WAL).

    `migrations` are (version, function) pairs in ascending order: opening the file applies, in one transaction,
    every one above the file's `PRAGMA user_version` and records the last; a file newer than the last is refused.
    Every write transaction first checks that the path still names the file that was opened.
    """

    def __init__(self, path: Path, migrations: Sequence[Migration]) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            ensure_private_dir(path.parent)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            os.chmod(path, 0o600)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise unusable(path, exc) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate(migrations)
            for suffix in ("-wal", "-shm"):
                side = Path(str(path) + suffix)
                if side.exists():
                    os.chmod(side, 0o600)
        except (OSError, sqlite3.Error) as exc:
            self._db.close()
            raise unusable(path, exc) from None
        except BaseException:
            self._db.close()
            raise
        self._identity = _identity(path)

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _check_not_newer(self, version: int, latest: int) -> None:
        if version > latest:
            raise StateError(f"state store {self.path} has schema version {version}, newer than this segmarketo "
                             f"knows ({latest}): upgrade segmarketo")

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        latest = migrations[-1][0]
        version = self._version()
        self._check_not_newer(version, latest)
        if version == latest:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._version()  # another process may have migrated the file meanwhile
            self._check_not_newer(version, latest)
            for target, migrate in migrations:
                if target > version:
                    migrate(self._db)
                    self._db.execute(f"PRAGMA user_version = {int(target)}")
        except BaseException:
            self._rollback()
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def check_identity(self) -> None:
        """Raise StateError when the path no longer names the file this connection writes to."""
        if _identity(self.path) != self._identity:
            raise StateError(
                f"state store {self.path} was deleted or replaced while this run was using it; stopped before "
                "writing to it again. Put the original file back before the next run, or that run may repeat "
                "what this one did (see docs/reliability.md)"
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on the file that was opened; SQLite errors become one clear line."""
        with self._lock:
            self.check_identity()
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise unusable(self.path, exc) from None
            try:
                yield self._db
            except sqlite3.Error as exc:
                self._rollback()
                raise unusable(self.path, exc) from None
            except BaseException:
                self._rollback()
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise unusable(self.path, exc) from None

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (e.g. after SQLITE_FULL); the original error is the one to report

    @contextmanager
    def attached(self, path: Path, alias: str) -> Iterator[None]:
        """Another SQLite file attached to this connection as `alias` (for moving rows between files)."""
        with self._lock:
            try:
                self._db.execute(f"ATTACH DATABASE ? AS {alias}", (str(path),))
            except sqlite3.Error as exc:
                raise unusable(path, exc) from None
            try:
                yield
            finally:
                self._db.execute(f"DETACH DATABASE {alias}")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise unusable(self.path, exc) from None
