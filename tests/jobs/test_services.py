"""Services: the state store is opened on first use when the caller passes none (doctor's checks open none)."""

from __future__ import annotations

from segmarketo_cli import paths
from segmarketo_cli.config import Settings, load_settings
from segmarketo_cli.jobs.services import Services


def test_services_without_a_store_open_the_profiles_store_only_when_it_is_used():
    services = Services(Settings(profile="default"))
    store_file = paths.state_dir() / "default.sqlite"
    assert not store_file.exists()
    store = services.store
    assert store.path == store_file
    assert store_file.exists()
    assert services.store is store
    store.close()


def test_a_previous_limiter_carries_its_window_into_the_next_runs_client(sandbox):
    """listen runs flush after flush in one process: each flush's client starts inside the last one's window."""
    settings = load_settings()
    first = Services(settings)
    first.marketo().describe_leads()
    previous = first.limiter
    assert previous is not None
    made = previous.used
    assert made >= 1
    carried = Services(settings, previous_limiter=previous).marketo().limiter
    fresh = Services(settings).marketo().limiter
    assert carried.recent_calls() == made
    assert fresh.recent_calls() == 0
    first.store.close()
