"""Wire-level access to a sandbox for its own tests: a token and a small JSON call helper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from segmarketo_cli.sandbox import Sandbox


def make_api(box: Sandbox) -> Callable[..., Any]:
    """call(method, path, raw=False, **requests_kwargs) -> parsed JSON (or the Response with raw=True)."""
    tok = requests.get(f"{box.url}/identity/oauth/token", params={
        "grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "sandbox-secret"},
    ).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {tok}"

    def _call(method: str, path: str, raw: bool = False, **kwargs: Any) -> Any:
        reply = session.request(method, box.url + path, timeout=10, **kwargs)
        return reply if raw else reply.json()

    return _call
