"""Typed sync configuration: `config.meta.hubspot_sync` of an exposure, deep-merged over `vars.hubspot_sync`.

The Python home of the configuration rules the dbt macros repeat in Jinja: the merge of the layers
(`resolve_layers`; macro `_sync_config`, pinned by tests/macros/test_sync_config_pinned.py), the `workflow` and
`gate` defaults (SyncConfig's fields, `DEFAULT_WORKFLOW`/`DEFAULT_GATE`; macro `_automatic_syncs_for`) and the log
schema (`log_schema_for`; macro `log_schema`), each held equal to its Jinja copy by tests/macros/. Doors read an
exposure's configuration through `Project.sync_config` (dbt_bridge/project.py), which parses it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from dbt_hubspot_sync.errors import ConfigError

META_KEY = "hubspot_sync"
# vars.hubspot_sync.templates: {name: exposure keys}, the data templates an exposure selects (`template: NAME`).
TEMPLATES_KEY = "templates"
# Keys of vars.hubspot_sync that are project settings, not per-sync defaults.
PROJECT_KEYS = {"log_schema", TEMPLATES_KEY}
# Exposure keys a template may not set: `template` (templates do not nest). (`workflow` and `gate` may: the
# post-hook's Jinja, macro `_automatic_syncs_for`, reads the selected template too.)
NOT_IN_TEMPLATES = {"template"}

Workflow = Literal["manual", "automatic"]
Gate = Literal["none", "tests", "strict"]
# The defaults of a sync that sets neither key (nor vars.hubspot_sync): SyncConfig's field defaults.
DEFAULT_WORKFLOW: Final[Workflow] = "manual"
DEFAULT_GATE: Final[Gate] = "tests"


class NotifyConfig(BaseModel):
    """`notify:` where to send a run-end summary. The webhook URL is a secret: only its variable is configured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # name of the env var holding the URL
    when: Literal["problems", "always"] = "problems"  # problems: completed_with_errors or failed


class ImportLimits(BaseModel):
    """`import_limits:` the HubSpot account's import limits (HubSpot's paid tiers by default; free tools: file_bytes
    20971520, daily_imports 50, daily_rows 500000). A run splits its files at the per-file ones and checks the day's
    before it starts an import (engine/imports.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file_rows: int = Field(default=1_048_576, ge=1, le=1_048_576)
    file_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    daily_imports: int = Field(default=500, ge=0)
    daily_rows: int = Field(default=80_000_000, ge=0)


class SyncConfig(BaseModel):
    """What one exposure asks for. Unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email_column: str = Field(min_length=1)
    # A list of columns (property names derived from them) or {column: property}; None = every column but email.
    properties: list[str] | dict[str, str] | None = None
    list_id: str | None = None
    # With list_id: add the updated contacts (add), or also remove the contacts that left the audience (mirror):
    # those the sync added, or with mirror_all every member not in the audience (list_mirror.py).
    list_mode: Literal["add", "mirror"] = "add"
    mirror_all: bool = False
    workflow: Workflow = DEFAULT_WORKFLOW
    log_records: Literal["rejected", "all"] = "rejected"
    # Send SQL NULL as "" (clears the HubSpot property); default: leave the property untouched.
    null_as_empty: bool = False
    # Post-hook only: what a failed push does to the model's node (warn keeps the DAG going).
    on_push_error: Literal["warn", "fail"] = "warn"
    # A webhook (Slack-compatible) told when a run ends with problems, or always.
    notify: NotifyConfig | None = None
    # When the dbt invocation that built the model also runs its tests (`dbt build`), the push waits for them:
    # tests = pass or warn lets it through; strict = pass only; none = push right after the build.
    gate: Gate = DEFAULT_GATE
    # One writer per exposure: how long a second pusher waits for one already sending (then it refuses,
    # exit 1, naming the running run). 0: refuse at once.
    writer_wait_seconds: float = Field(default=600.0, ge=0)
    # Misses are remembered and rechecked through HubSpot's search for new contacts; every this many hours all
    # of them are looked up again (an existing contact's email may have changed to one of them). 0: every run.
    not_found_recheck_hours: float = Field(default=24.0, ge=0)
    # Guards (guards.py), checked before a run sends anything; `--force` overrides them for one run.
    max_daily_share: float | None = Field(default=0.5, gt=0, le=1)
    max_change_share: float | None = Field(default=None, gt=0, le=1)
    # A data template of vars.hubspot_sync.templates merged between the vars defaults and the exposure's keys.
    template: str | None = None
    # HubSpot's API version to call (hubspot/paths.py): wins over HUBSPOT_API_VERSION; neither: v3.
    api_version: Literal["v3", "2026-03", "2026-09"] | None = None
    # How rows reach HubSpot: batch calls, HubSpot's imports API (update-only CSV imports, for audiences of
    # millions), or auto: imports when a run has at least import_threshold_rows rows to send (engine/imports.py).
    push: Literal["batch", "import", "auto"] = "auto"
    import_threshold_rows: int = Field(default=50_000, ge=1)
    import_limits: ImportLimits = Field(default_factory=ImportLimits)

    @field_validator("list_id", mode="before")
    @classmethod
    def _list_id_as_text(cls, v: Any) -> Any:
        # YAML turns `list_id: 123` into an int; HubSpot ids are strings.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("mirror_all")
    @classmethod
    def _mirror_all_needs_mirror(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("list_mode", "add") != "mirror":
            raise ValueError("mirror_all: true removes members only with list_mode: mirror (set it)")
        return v


def log_schema_for(hubspot_vars: Mapping[str, Any] | None, target_schema: str) -> str:
    """The schema of the product's tables: vars.hubspot_sync.log_schema if set and non-empty, else the target
    schema. `hubspot_vars` is vars.hubspot_sync (None or a non-mapping counts as unset, as in the macro).

    The one Python home of the rule; the `log_schema` macro is its Jinja copy. A value that is not a schema name
    (a number, a list) is a config error.
    """
    value = (hubspot_vars.get("log_schema") if isinstance(hubspot_vars, Mapping) else None) or target_schema
    if not isinstance(value, str):
        raise ConfigError(None, f"vars.{META_KEY}.log_schema", f"expected a schema name, got {value!r}")
    return value


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` wins; nested dicts merge key by key (dbt's own meta merge is one level only)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_layers(
    exposure: str, meta_value: dict[str, Any], defaults: dict[str, Any] | None
) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """(template name, template keys, merged keys) of one exposure: vars defaults < template < exposure, deep-merged,
    not yet validated. The one merge of the layers; macro `_sync_config` is its Jinja copy (pinned equal by
    tests/macros/test_rules_pinned.py) for the few keys the post-hook's SQL must know."""
    if defaults is not None and not isinstance(defaults, dict):
        raise ConfigError(None, f"vars.{META_KEY}", f"expected a mapping, got {type(defaults).__name__}")
    base = {k: v for k, v in (defaults or {}).items() if k not in PROJECT_KEYS}
    name, template = _selected_template(exposure, deep_merge(base, meta_value), defaults or {})
    return name, template, deep_merge(deep_merge(base, template), meta_value)


def parse_sync_config(exposure: str, meta_value: Any, defaults: dict[str, Any] | None) -> SyncConfig:
    """Validate one exposure's `hubspot_sync` block; the error names the exposure, the key and the expectation."""
    if not isinstance(meta_value, dict):
        raise ConfigError(
            exposure, f"config.meta.{META_KEY}", f"expected a mapping, got {type(meta_value).__name__}"
        )
    name, template, merged = resolve_layers(exposure, meta_value, defaults)
    try:
        return SyncConfig.model_validate(merged)
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key also makes the real one "missing": name the misspelling.
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        # Drop pydantic's union-branch tags ("list[str]") from the location: users know keys, not types.
        key = ".".join(str(p) for p in err["loc"] if "[" not in str(p)) or META_KEY
        if err["type"] == "extra_forbidden":
            nested = {"notify": NotifyConfig, "import_limits": ImportLimits}
            model = nested.get(str(err["loc"][0]), SyncConfig) if len(err["loc"]) > 1 else SyncConfig
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
        path = [str(p) for p in err["loc"] if "[" not in str(p)]
        if name and _has_path(template, path) and not _has_path(meta_value, path):
            # The value came from the template: point there, not at the exposure.
            raise ConfigError(exposure, f"vars.{META_KEY}.{TEMPLATES_KEY}.{name}.{key}", problem) from None
        raise ConfigError(exposure, f"{META_KEY}.{key}", problem) from None


def _has_path(data: Any, path: list[str]) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return bool(path)


def _selected_template(
    exposure: str, merged: dict[str, Any], hubspot_vars: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """(name, keys) of the data template `template:` selects ((None, {}) without one). Unknown names, a template
    that is not a mapping, selects another template or has an unknown key: a config error naming it."""
    name = merged.get("template")
    if name is None:
        return None, {}
    templates_key = f"vars.{META_KEY}.{TEMPLATES_KEY}"
    if not isinstance(name, str) or not name:
        raise ConfigError(
            exposure,
            f"{META_KEY}.template",
            f"expected the name of a template of {templates_key}, got {name!r}",
        )
    templates = hubspot_vars.get(TEMPLATES_KEY)
    if templates is not None and not isinstance(templates, dict):
        raise ConfigError(
            None, templates_key, f"expected a mapping of template names to exposure keys, got {templates!r}"
        )
    if name not in (templates or {}):
        defined = ", ".join(sorted(str(t) for t in templates or {})) or "none"
        raise ConfigError(
            exposure, f"{META_KEY}.template", f"unknown template '{name}'; {templates_key} defines: {defined}"
        )
    body = templates[name]
    where = f"{templates_key}.{name}"
    if not isinstance(body, dict):
        raise ConfigError(exposure, where, f"expected a mapping of exposure keys, got {body!r}")
    allowed = [k for k in SyncConfig.model_fields if k not in NOT_IN_TEMPLATES]
    for key in body:
        if key == "template":
            raise ConfigError(
                exposure,
                f"{where}.template",
                "a template cannot select another template (templates do not nest)",
            )
        if key in NOT_IN_TEMPLATES:
            raise ConfigError(
                exposure,
                f"{where}.{key}",
                f"'{key}' cannot come from a template: set it on the exposure or in the vars defaults "
                "(the post-hook decides what to push from those)",
            )
        if key not in allowed:
            raise ConfigError(
                exposure, f"{where}.{key}", f"unknown key; expected one of: {', '.join(allowed)}"
            )
    return name, body
