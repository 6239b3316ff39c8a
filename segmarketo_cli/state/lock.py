"""One lock per profile: a second job on the same profile fails at once with exit 75."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LockHeld
from ..paths import ensure_private_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class ProfileLock:
    """An advisory, non-blocking file lock released when the process ends, even on SIGKILL."""

    def __init__(self, state_dir: Path, profile: str) -> None:
        self.path = ensure_private_dir(state_dir) / f"{profile}.lock"
        self.profile = profile
        self._fd: int | None = None

    def acquire(self) -> ProfileLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another segmarketo job"
            os.close(fd)
            raise LockHeld(
                f"profile '{self.profile}' is busy: {holder} holds {self.path}; try again when it finishes"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ProfileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
