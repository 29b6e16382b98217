"""The one table of HubSpot paths (`hubspot.paths`): every call, in every version, is an operation of that
version's official spec with the same method; and the version is resolved config > env > default."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest

from dbt_hubspot_sync.hubspot.paths import (
    DEFAULT_VERSION,
    OPERATIONS,
    SPEC_FILES,
    VERSION_ENV,
    VERSIONS,
    Paths,
    resolve_version,
)

from ..sandbox.helpers import SPEC_DIR


@cache
def _spec(name: str) -> dict[str, Any]:
    if not SPEC_DIR.is_dir():
        pytest.skip(
            f"HubSpot OpenAPI specs not found at {SPEC_DIR} (the shared folder beside the repository)"
        )
    return json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_operation_is_in_its_versions_spec_with_its_method(name: str, version: str) -> None:
    op = OPERATIONS[name]
    spec = _spec(SPEC_FILES[op.family][version])
    template = op.templates[version]
    assert template in spec["paths"], (
        f"{name} {version}: {template} is not a path of {SPEC_FILES[op.family][version]}"
    )
    assert op.method.lower() in spec["paths"][template], f"{name} {version}: no {op.method} on {template}"


@pytest.mark.parametrize("version", VERSIONS)
def test_filled_paths_carry_their_version_and_no_placeholder(version: str) -> None:
    paths = Paths(version)  # type: ignore[arg-type]
    filled = [
        paths.batch_read(),
        paths.batch_update(),
        paths.search(),
        paths.properties(),
        paths.get_list("12"),
        paths.memberships("12"),
        paths.memberships_add("12"),
        paths.memberships_remove("12"),
        paths.memberships_add_and_remove("12"),
        paths.memberships_add_from("12", "34"),
        paths.imports(),
        paths.import_get("9"),
        paths.import_errors("9"),
        paths.import_cancel("9"),
    ]
    marker = "/v3/" if version == "v3" else f"/{version}"
    for path in filled:
        assert marker in path and "{" not in path, path
        # No path of one version leaks into another.
        others = [v for v in VERSIONS if v != version]
        assert not any(re.search(rf"/{re.escape(o)}(/|$)", path) for o in others), path
    assert paths.batch_update().endswith("/contacts/batch/update")


def test_path_parameters_are_percent_encoded() -> None:
    assert Paths("v3").memberships_add("a/b c") == "/crm/v3/lists/a%2Fb%20c/memberships/add"
    assert (
        Paths("2026-09").call("memberships_remove", listId="7")
        == "PUT /crm/lists/2026-09/7/memberships/remove"
    )


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="2025-01"):
        Paths("2025-01")  # type: ignore[arg-type]


def test_resolve_version_config_wins_over_env_which_wins_over_the_default() -> None:
    assert resolve_version(None, {}) == DEFAULT_VERSION == "v3"
    assert resolve_version(None, {VERSION_ENV: "2026-09"}) == "2026-09"
    assert resolve_version("2026-03", {VERSION_ENV: "2026-09"}) == "2026-03"
    assert resolve_version("", {VERSION_ENV: " 2026-03 "}) == "2026-03"
    with pytest.raises(ValueError, match=VERSION_ENV):
        resolve_version(None, {VERSION_ENV: "v4"})
    with pytest.raises(ValueError, match="api_version"):
        resolve_version("latest", {})


def test_the_config_key_takes_exactly_the_versions_paths_knows() -> None:
    from typing import get_args

    from dbt_hubspot_sync.config.sync_config import SyncConfig

    annotation = SyncConfig.model_fields["api_version"].annotation
    literal = next(a for a in get_args(annotation) if a is not type(None))
    assert set(get_args(literal)) == set(VERSIONS)
    assert (
        SyncConfig.model_fields["api_version"].default is None
    )  # unset: HUBSPOT_API_VERSION, else the default
