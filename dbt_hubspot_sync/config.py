"""Typed sync configuration: `config.meta.hubspot_sync` of an exposure, deep-merged over `vars.hubspot_sync`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

META_KEY = "hubspot_sync"
# Keys of vars.hubspot_sync that are project settings, not per-sync defaults.
PROJECT_KEYS = {"log_schema"}


class NotifyConfig(BaseModel):
    """`notify:` where to send a run-end summary. The webhook URL is a secret: only its variable is configured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # name of the env var holding the URL
    when: Literal["problems", "always"] = "problems"  # problems: completed_with_errors or failed


class SyncConfig(BaseModel):
    """What one exposure asks for. Unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email_column: str = Field(min_length=1)
    # A list of columns (property names derived from them) or {column: property}; None = every column but email.
    properties: list[str] | dict[str, str] | None = None
    list_id: str | None = None
    workflow: Literal["manual", "automatic"] = "manual"
    log_records: Literal["rejected", "all"] = "rejected"
    # Send SQL NULL as "" (clears the HubSpot property); default: leave the property untouched.
    null_as_empty: bool = False
    # Post-hook only: what a failed push does to the model's node (warn keeps the DAG going).
    on_push_error: Literal["warn", "fail"] = "warn"
    # A webhook (Slack-compatible) told when a run ends with problems, or always.
    notify: NotifyConfig | None = None
    # When the dbt invocation that built the model also runs its tests (`dbt build`), the push waits for them:
    # tests = pass or warn lets it through; strict = pass only; none = push right after the build.
    gate: Literal["none", "tests", "strict"] = "tests"

    @field_validator("list_id", mode="before")
    @classmethod
    def _list_id_as_text(cls, v: Any) -> Any:
        # YAML turns `list_id: 123` into an int; HubSpot ids are strings.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` wins; nested dicts merge key by key (dbt's own meta merge is one level only)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_sync_config(exposure: str, meta_value: Any, defaults: dict[str, Any] | None) -> SyncConfig:
    """Validate one exposure's `hubspot_sync` block; the error names the exposure, the key and the expectation."""
    if not isinstance(meta_value, dict):
        raise ConfigError(
            exposure, f"config.meta.{META_KEY}", f"expected a mapping, got {type(meta_value).__name__}"
        )
    if defaults is not None and not isinstance(defaults, dict):
        raise ConfigError(None, f"vars.{META_KEY}", f"expected a mapping, got {type(defaults).__name__}")
    merged = deep_merge({k: v for k, v in (defaults or {}).items() if k not in PROJECT_KEYS}, meta_value)
    try:
        return SyncConfig.model_validate(merged)
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key also makes the real one "missing": name the misspelling.
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        # Drop pydantic's union-branch tags ("list[str]") from the location: users know keys, not types.
        key = ".".join(str(p) for p in err["loc"] if "[" not in str(p)) or META_KEY
        if err["type"] == "extra_forbidden":
            model = NotifyConfig if err["loc"][0] == "notify" and len(err["loc"]) > 1 else SyncConfig
            allowed = ", ".join(model.model_fields)
            problem = f"unknown key; expected one of: {allowed}"
        elif err["loc"][0] == "properties" and not isinstance(merged.get("properties"), list):
            # Neither a list nor a mapping of strings: say both forms, not pydantic's first union branch.
            problem = (
                f"expected a list of columns or a {{column: property}} mapping of strings "
                f"(got {merged.get('properties')!r})"
            )
        elif err["loc"][:2] == ("notify", "webhook_env"):
            # Never echo the value: a webhook URL pasted here by mistake is a secret.
            problem = (
                "expected the name of an environment variable holding the webhook URL, e.g. "
                "HUBSPOT_SYNC_WEBHOOK_URL (the URL itself never goes in YAML)"
            )
        elif err["type"] == "missing":
            problem = "is required (the column holding the contact's email)"
        else:
            problem = f"{err['msg']} (got {err.get('input')!r})"
        raise ConfigError(exposure, f"{META_KEY}.{key}", problem) from None
