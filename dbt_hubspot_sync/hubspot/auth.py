"""Credentials and where they may go: Bearer auth, the token from the environment, redaction, the base URL check.

The access token is only ever placed in the Authorization header, by `BearerAuth` set as the session's auth; it
is never logged, and every message the client builds passes through `scrub` first. `checked_base_url` refuses
any base URL that would send the token across a network in clear (plain http is allowed to loopback only, for the
sandbox). `settings_from_env` reads HUBSPOT_ACCESS_TOKEN and HUBSPOT_BASE_URL: the token is never read from a
flag or YAML.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import requests

from dbt_hubspot_sync.errors import SettingError
from dbt_hubspot_sync.hubspot.errors import MissingTokenError

__all__ = ["DEFAULT_BASE_URL", "LOOPBACK_HOSTS"]

DEFAULT_BASE_URL = "https://api.hubapi.com"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"


def settings_from_env() -> tuple[str, str]:
    """(token, base URL): HUBSPOT_ACCESS_TOKEN (required), HUBSPOT_BASE_URL (optional, else HubSpot's)."""
    token = os.environ.get("HUBSPOT_ACCESS_TOKEN", "").strip()
    if not token:
        raise MissingTokenError(
            "HUBSPOT_ACCESS_TOKEN is not set: export a HubSpot private app or service key token in that "
            "environment variable (it is never read from a flag or YAML)",
            call="env HUBSPOT_ACCESS_TOKEN",
        )
    base_url = os.environ.get("HUBSPOT_BASE_URL", "").strip() or DEFAULT_BASE_URL
    return token, base_url


def scrub(text: str, secret: str) -> str:
    """Replace the secret (in any letter case: URLs lower-case hosts) with ***."""
    if not secret or secret.lower() not in text.lower():
        return text
    return re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)


def checked_base_url(base_url: str) -> str:
    """HTTPS only, except to a loopback host (the sandbox): the token must not cross a network in clear."""
    parts = urlsplit(base_url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return base_url.strip().rstrip("/")
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return base_url.strip().rstrip("/")
    raise SettingError(
        f"HUBSPOT_BASE_URL {parts.scheme}://{parts.hostname or ''} refused: it must be an https:// URL "
        "(plain http is only allowed to a loopback host: 127.0.0.1, ::1 or localhost)"
    )
