"""Local state: the profile store, the per-instance ledger and registry, and the profile and instance locks."""

from segmarketo_cli.state.lock import InstanceLock, ProfileLock
from segmarketo_cli.state.store import StateStore

__all__ = ["InstanceLock", "ProfileLock", "StateStore"]
