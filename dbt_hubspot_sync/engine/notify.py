"""Run-end notifications: a JSON summary POSTed to a webhook, as orchestrators notify on failed jobs.

`notify: {webhook_env: HUBSPOT_SYNC_WEBHOOK_URL, when: problems|always}` in an exposure (or vars.hubspot_sync).
The body has a Slack-compatible `text` line plus the run's fields, so a Slack or Teams incoming webhook shows it
as is and any other receiver can parse it. The URL is read from the named environment variable at send time and
never logged (webhook URLs carry their credential in the path); a failing webhook is a logged warning, never a
failed sync.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit

import requests

from dbt_hubspot_sync import __version__
from dbt_hubspot_sync.config.sync_config import NotifyConfig
from dbt_hubspot_sync.errors import SettingError
from dbt_hubspot_sync.tables.run_log import RunRow

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
PROBLEM_STATUSES = frozenset({"completed_with_errors", "failed"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class WebhookConfigError(SettingError):
    """The webhook's environment variable is unset or holds an unusable URL (the message never holds the URL)."""


def webhook_url(config: NotifyConfig) -> str:
    """The URL from the environment: https, or plain http to a loopback host only."""
    url = os.environ.get(config.webhook_env, "").strip()
    if not url:
        raise WebhookConfigError(f"environment variable {config.webhook_env} (notify.webhook_env) is not set")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not (parts.scheme == "https" and host) and not (parts.scheme == "http" and host in LOOPBACK_HOSTS):
        raise WebhookConfigError(
            f"the URL in {config.webhook_env} is refused: a webhook must be https:// "
            "(plain http only to a loopback host)"
        )
    return url


def wanted(config: NotifyConfig | None, status: str) -> bool:
    return config is not None and (config.when == "always" or status in PROBLEM_STATUSES)


def summary_text(run: RunRow, status: str, counts: dict[str, int], error: str | None) -> str:
    parts = [f"{counts['rows_read']:,} read", f"{counts['rows_updated']:,} updated"]
    for key, label in (
        ("rows_unchanged", "unchanged"),
        ("rows_not_found", "not found"),
        ("rows_invalid", "invalid"),
        ("rows_duplicate", "duplicate"),
        ("rows_failed", "failed"),
    ):
        if counts.get(key):
            parts.append(f"{counts[key]:,} {label}")
    mark = {"completed": "✅", "completed_with_errors": "⚠️", "failed": "❌"}.get(status, "")
    text = (
        f"{mark} dbt-hubspot-sync: {run.exposure_name} {status} ({run.trigger}, run {run.run_id[:8]}): "
        + ", ".join(parts)
    )
    return f"{text}\n{error}" if error else text


def payload(run: RunRow, status: str, counts: dict[str, int], error: str | None) -> dict[str, Any]:
    """The JSON body: Slack's `text`, then the run as the hubspot_sync_runs row has it."""
    return {
        "text": summary_text(run, status, counts, error),
        "tool": "dbt-hubspot-sync",
        "tool_version": __version__,
        "run_id": run.run_id,
        "invocation_id": run.invocation_id,
        "exposure_name": run.exposure_name,
        "relation": run.relation,
        "trigger": run.trigger,
        "status": status,
        "started_at": run.started_at.isoformat() + "Z" if run.started_at else None,
        "error": error,
        **counts,
    }


def post(url: str, body: dict[str, Any]) -> int:
    """POST the body; the HTTP status. Raises requests' errors (whose text may hold the URL: never show it)."""
    resp = requests.post(
        url, json=body, timeout=TIMEOUT_S, headers={"User-Agent": f"dbt-hubspot-sync/{__version__}"}
    )
    return resp.status_code


def notify_run_end(
    config: NotifyConfig | None, run: RunRow, status: str, counts: dict[str, int], error: str | None
) -> bool:
    """Send the summary if `config` asks for this status. True when a webhook accepted it; never raises."""
    if not wanted(config, status):
        return False
    assert config is not None
    try:
        url = webhook_url(config)
        code = post(url, payload(run, status, counts, error))
    except WebhookConfigError as exc:
        log.warning("notification for %s not sent: %s", run.exposure_name, exc)
        return False
    except Exception as exc:  # a broken webhook never fails the sync; its URL stays out of the message
        log.warning(
            "notification for %s not sent: the webhook in %s failed (%s)",
            run.exposure_name,
            config.webhook_env,
            type(exc).__name__,
        )
        return False
    if not 200 <= code < 300:
        log.warning(
            "notification for %s not accepted: the webhook in %s answered HTTP %d",
            run.exposure_name,
            config.webhook_env,
            code,
        )
        return False
    return True
