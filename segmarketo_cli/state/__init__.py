"""Local state: SQLite store (runs, cursors, caches, hashes, processed events) and the per-profile lock."""

from .lock import ProfileLock
from .store import StateStore

__all__ = ["ProfileLock", "StateStore"]
