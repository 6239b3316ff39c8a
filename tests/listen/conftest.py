"""Fixtures of the listen tests: a seeded sandbox with the suite's credentials, and a receiver against it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from segmarketo_cli.paths import sample_data_dir
from segmarketo_cli.sandbox import Sandbox
from tests.listen.receiver import Receiver, write_profile
from tests.support.reliability_world import new_box


@pytest.fixture
def box() -> Iterator[Sandbox]:
    sandbox = new_box()
    sandbox.load_seed(sample_data_dir() / "sandbox")
    yield sandbox
    sandbox.stop()


@pytest.fixture
def receiver(box, isolated_home) -> Iterator[Receiver]:
    """A listen child that flushes every half second."""
    write_profile(isolated_home)
    started = Receiver(box, isolated_home)
    yield started
    if started.proc.poll() is None:
        started.stop()
