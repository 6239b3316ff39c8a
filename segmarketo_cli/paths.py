"""Where config and state live: SEGMARKETO_HOME, else the platformdirs user folders."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "segmarketo"


def home_override() -> Path | None:
    value = os.environ.get("SEGMARKETO_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = home_override()
    return home if home else Path(platformdirs.user_config_dir(APP_NAME))


def config_file() -> Path:
    return config_dir() / "config.toml"


def state_dir() -> Path:
    home = home_override()
    return home / "state" if home else Path(platformdirs.user_state_dir(APP_NAME))


def registry_file() -> Path:
    """The per-user instance registry (which home's ledger owns each Marketo instance).

    SEGMARKETO_REGISTRY, else the platform's user state folder: deliberately not under SEGMARKETO_HOME, so
    homes kept per environment still see each other's claims.
    """
    value = os.environ.get("SEGMARKETO_REGISTRY")
    if value:
        return Path(value).expanduser()
    return Path(platformdirs.user_state_dir(APP_NAME)) / "instance-registry.sqlite"


def sample_data_dir() -> Path:
    """The sample inputs and sandbox seed: inside the installed package, else the source tree's sample_data/."""
    installed = Path(__file__).resolve().parent / "sample_data"
    if (installed / "sandbox").is_dir():
        return installed
    return Path(__file__).resolve().parents[1] / "sample_data"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 and tighten it if it already exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path
