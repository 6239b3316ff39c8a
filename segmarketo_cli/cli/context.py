"""AppContext: what every command shares (profile, settings, state store, streams), built lazily."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from segmarketo_cli import paths
from segmarketo_cli.config import ScalarValue, Settings, load_settings
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.logs import setup_logging
from segmarketo_cli.state import StateStore


@dataclass
class AppContext:
    profile: str | None = None
    verbose: int = 0
    log_file: str | None = None
    log_format: str = "text"
    quiet: bool = False
    overrides: dict[str, ScalarValue] = field(default_factory=dict)
    _settings: Settings | None = None
    _store: StateStore | None = None

    def setup_logging(self) -> None:
        setup_logging(self.verbose, self.log_file, self.log_format, self.quiet)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.profile, self.overrides)
        return self._settings

    def override(self, **values: ScalarValue | None) -> None:
        """Flag values for settings (None means 'not given'); must run before `settings` is read."""
        self.overrides.update({k: v for k, v in values.items() if v is not None})
        self._settings = None

    @property
    def profile_name(self) -> str:
        return self.settings.profile

    @property
    def store(self) -> StateStore:
        if self._store is None:
            self._store = StateStore(paths.state_dir(), self.profile_name)
        return self._store

    def services(self) -> Services:
        """The store and (lazily built) clients for the current settings."""
        return Services(self.settings, self.store)

    @property
    def stderr_is_tty(self) -> bool:
        return sys.stderr.isatty()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
