"""Secrets: environment variables first, then the OS keyring (service 'segmarketo', per profile).

Values are never logged, never written to disk by segmarketo and never put in exception messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

from segmarketo_cli.config import LISTEN_SECRET_ENV, SECRET_ENV
from segmarketo_cli.errors import ConfigError

SERVICE = "segmarketo"
SECRET_NAMES = tuple(SECRET_ENV)
SECRET_LABELS = {"marketo_client_secret": "Marketo client secret", "segment_write_key": "Segment write key",
                 "listen_shared_secret": "listen shared secret (X-Signature)", "listen_token": "listen bearer token"}
ALL_SECRET_ENV = {**SECRET_ENV, **LISTEN_SECRET_ENV}


@dataclass(frozen=True)
class SecretStatus:
    """Where one secret comes from; never its value."""

    name: str
    source: str  # "env", "keyring" or "missing"
    detail: str = ""


class KeyringUnavailable(ConfigError):
    """No keyring backend works on this machine (typical for headless cron)."""


def _keyring() -> ModuleType:
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


def keyring_available() -> bool:
    """True when the selected keyring backend can store secrets (not keyring's fail or null backend)."""
    try:
        from keyring.backends import fail, null

        backend = _keyring().get_keyring()
    except Exception:  # noqa: BLE001 - a broken keyring install is "not available" too
        return False
    return not isinstance(backend, (fail.Keyring, null.Keyring)) and getattr(backend, "priority", 1) > 0


def require_keyring() -> None:
    """Raise KeyringUnavailable (one line naming the environment variables) when no backend works."""
    if not keyring_available():
        raise KeyringUnavailable(_keyring_error_text())


def keyring_get(profile: str, name: str) -> str | None:
    """Read one secret from the keyring; None when absent or when no backend works."""
    try:
        value: str | None = _keyring().get_password(SERVICE, _username(profile, name))
    except Exception:  # noqa: BLE001 - any backend failure means "not available here"
        return None
    return value


def get_secret(profile: str, name: str) -> str | None:
    """The secret's value: environment variable wins over the keyring."""
    env_value = os.environ.get(ALL_SECRET_ENV[name])
    if env_value:
        return env_value
    return keyring_get(profile, name)


def set_secret(profile: str, name: str, value: str) -> None:
    """Store one secret in the keyring; KeyringUnavailable when no backend can take it."""
    if name not in ALL_SECRET_ENV:
        raise ValueError(f"unknown secret {name!r}")
    require_keyring()
    try:
        _keyring().set_password(SERVICE, _username(profile, name), value)
    except Exception:  # noqa: BLE001 - the backend's message may echo the value; never chain it
        raise KeyringUnavailable(_keyring_error_text()) from None


def clear_secret(profile: str, name: str) -> bool:
    """Delete one secret from the keyring; True when something was deleted."""
    from keyring.errors import PasswordDeleteError

    require_keyring()
    try:
        _keyring().delete_password(SERVICE, _username(profile, name))
        return True
    except PasswordDeleteError:
        return False
    except Exception:  # noqa: BLE001
        raise KeyringUnavailable(_keyring_error_text()) from None


def secret_status(profile: str) -> list[SecretStatus]:
    """Where each secret comes from, never its value."""
    result = []
    usable = keyring_available()
    for name, env in SECRET_ENV.items():
        if os.environ.get(env):
            result.append(SecretStatus(name, "env", env))
        elif usable and keyring_get(profile, name):
            result.append(SecretStatus(name, "keyring", f"service '{SERVICE}', user '{_username(profile, name)}'"))
        elif usable:
            result.append(SecretStatus(name, "missing", f"set {env} or run 'segmarketo auth set'"))
        else:
            result.append(SecretStatus(name, "missing", f"set {env} (no keyring backend works here)"))
    return result


def keyring_backend_name() -> str:
    """Module-qualified class name of the selected keyring backend, or 'none'."""
    try:
        backend = _keyring().get_keyring()
    except Exception:  # noqa: BLE001
        return "none"
    return f"{type(backend).__module__}.{type(backend).__name__}"


def require_secret(profile: str, name: str) -> str:
    """The secret's value, or a ConfigError saying how to set it."""
    value = get_secret(profile, name)
    if not value:
        raise ConfigError(f"{name.replace('_', ' ')} is not set: set {ALL_SECRET_ENV[name]} "
                          "or run 'segmarketo auth set'")
    return value
