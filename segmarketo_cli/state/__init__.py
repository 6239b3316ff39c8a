"""Local state: the profile store, the per-instance ledger and registry, and the profile and instance locks."""

from .lock import InstanceLock, ProfileLock
from .store import StateStore

__all__ = ["InstanceLock", "ProfileLock", "StateStore"]
