"""Secrets: environment variables first, then the OS keyring (service 'segmarketo', per profile).

Values are never logged, never written to disk by segmarketo and never put in exception messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .config import SECRET_ENV
from .errors import ConfigError

SERVICE = "segmarketo"
SECRET_NAMES = tuple(SECRET_ENV)


@dataclass(frozen=True)
class SecretStatus:
    name: str
    source: str  # "env", "keyring" or "missing"
    detail: str = ""


class KeyringUnavailable(ConfigError):
    """No keyring backend works on this machine (typical for headless cron)."""


def _keyring():
    import keyring  # lazy: importing keyring probes backends

    return keyring


def _username(profile: str, name: str) -> str:
    return f"{profile}:{name}"


def _keyring_error_text() -> str:
    return (
        "no working keyring backend on this machine (headless?); set "
        + " and ".join(SECRET_ENV.values())
        + " in the environment instead"
    )


def keyring_get(profile: str, name: str) -> str | None:
    """Read one secret from the keyring; None when absent or when no backend works."""
    try:
        return _keyring().get_password(SERVICE, _username(profile, name))
    except Exception:  # noqa: BLE001 - any backend failure means "not available here"
        return None


def get_secret(profile: str, name: str) -> str | None:
    """The secret's value: environment variable wins over the keyring."""
    env_value = os.environ.get(SECRET_ENV[name])
    if env_value:
        return env_value
    return keyring_get(profile, name)


def set_secret(profile: str, name: str, value: str) -> None:
    try:
        _keyring().set_password(SERVICE, _username(profile, name), value)
    except Exception as exc:  # noqa: BLE001
        raise KeyringUnavailable(_keyring_error_text()) from type(exc)(type(exc).__name__)


def clear_secret(profile: str, name: str) -> bool:
    """Delete one secret from the keyring; True when something was deleted."""
    keyring = _keyring()
    try:
        keyring.delete_password(SERVICE, _username(profile, name))
        return True
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as exc:  # noqa: BLE001
        raise KeyringUnavailable(_keyring_error_text()) from type(exc)(type(exc).__name__)


def secret_status(profile: str) -> list[SecretStatus]:
    """Where each secret comes from, never its value."""
    result = []
    for name, env in SECRET_ENV.items():
        if os.environ.get(env):
            result.append(SecretStatus(name, "env", env))
        elif keyring_get(profile, name):
            result.append(SecretStatus(name, "keyring", f"service '{SERVICE}', user '{_username(profile, name)}'"))
        else:
            result.append(SecretStatus(name, "missing", f"set {env} or run 'segmarketo auth set'"))
    return result


def keyring_backend_name() -> str:
    try:
        backend = _keyring().get_keyring()
    except Exception:  # noqa: BLE001
        return "none"
    return f"{type(backend).__module__}.{type(backend).__name__}"


def require_secret(profile: str, name: str) -> str:
    value = get_secret(profile, name)
    if not value:
        raise ConfigError(f"{name.replace('_', ' ')} is not set: set {SECRET_ENV[name]} or run 'segmarketo auth set'")
    return value
