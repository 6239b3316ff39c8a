"""Run locks: one job per profile and one per Marketo instance; a held lock fails at once with exit 75."""

from __future__ import annotations

import os
from pathlib import Path

from segmarketo_cli.errors import LockHeld
from segmarketo_cli.paths import ensure_private_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class FileLock:
    """An advisory, non-blocking file lock released when the process ends, even on SIGKILL."""

    def __init__(self, path: Path, what: str, holder: str) -> None:
        self.path = path
        self.what = what  # "profile 'x'" / "Marketo instance https://..."
        self.holder = holder  # written into the file, shown to whoever finds the lock held
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another segmarketo job"
            os.close(fd)
            raise LockHeld(f"{self.what} is busy: {holder} holds {self.path}; try again when it finishes") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, self.holder.encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class ProfileLock(FileLock):
    """One job per profile (it guards the profile's run records)."""

    def __init__(self, state_dir: Path, profile: str) -> None:
        super().__init__(state_dir / f"{profile}.lock", f"profile '{profile}'", f"pid {os.getpid()}")
        self.profile = profile


class InstanceLock(FileLock):
    """One writing job per Marketo instance in a home, whichever profile runs it (it guards the ledger)."""

    def __init__(self, ledger: Path, instance: str, profile: str) -> None:
        super().__init__(ledger.with_suffix(".lock"), f"Marketo instance {instance}",
                         f"pid {os.getpid()} (profile '{profile}')")
