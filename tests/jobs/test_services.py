"""Services: the state store is opened on first use when the caller passes none (doctor's checks open none)."""

from __future__ import annotations

from segmarketo_cli import paths
from segmarketo_cli.config import Settings
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
