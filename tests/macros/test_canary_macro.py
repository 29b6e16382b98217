"""The canary on real warehouses, through real dbt: the package's own cleanup passes on DuckDB and PostgreSQL, and
a project macro that overrides `clean_email` (or `hubspot_property_name`) through dbt's dispatch with anything
else is refused, naming the adapter and the first wrong output. (Spark: tests/spark/.)"""

from __future__ import annotations

import json

import pytest

from dbt_hubspot_sync.checks.canary import CanaryError, canary_problem, check_canary
from dbt_hubspot_sync.dbt_bridge import open_session

pytestmark = pytest.mark.dbt


def _override(dbt_project, macros: str | None) -> None:
    """Project macros that win dbt_hubspot_sync's dispatch (none: back to the package's own)."""
    path = dbt_project.project_dir / "dbt_project.yml"
    project = json.loads(path.read_text(encoding="utf-8"))
    (dbt_project.project_dir / "macros").mkdir(exist_ok=True)
    override = dbt_project.project_dir / "macros" / "override.sql"
    if macros is None:
        project.pop("dispatch", None)
        override.unlink(missing_ok=True)
    else:
        project["dispatch"] = [
            {"macro_namespace": "dbt_hubspot_sync", "search_order": ["macro_test", "dbt_hubspot_sync"]}
        ]
        override.write_text(macros, encoding="utf-8")
    path.write_text(json.dumps(project), encoding="utf-8")


def _session(dbt_project):
    return open_session(str(dbt_project.project_dir), str(dbt_project.project_dir))


def test_the_package_cleanup_passes_and_an_override_that_differs_is_refused(dbt_project) -> None:
    a = dbt_project.adapter
    try:
        with _session(dbt_project) as session:
            check_canary(session.warehouse)
            assert canary_problem(session.warehouse) is None

        # Only lower-cased: looks plausible, and would send 'jane doe <jane.doe@example.com>' to validation.
        _override(
            dbt_project,
            f"{{% macro {a}__clean_email(expr) %}}{{{{ return('lower(' ~ expr ~ ')') }}}}{{% endmacro %}}\n",
        )
        with _session(dbt_project) as session, pytest.raises(CanaryError) as err:
            check_canary(session.warehouse)
        text = str(err.value)
        assert f"warehouse ({a}," in text and f"on adapter '{a}'" in text
        assert (
            "clean_email('  jane@example.com \\t\\n') gave '  jane@example.com \\t\\n', expected 'jane@example.com'"
            in text
        )

        _override(
            dbt_project,
            f"{{% macro {a}__hubspot_property_name(name) %}}{{{{ return(name | lower) }}}}{{% endmacro %}}\n",
        )
        with _session(dbt_project) as session:
            problem = canary_problem(session.warehouse) or ""
        assert "hubspot_property_name macro on adapter" in problem and "'Amperity ID'" in problem
    finally:
        _override(dbt_project, None)
