"""The model fingerprint behind the steady mark (macros/_internal/_model_fingerprint.sql, engine/steady.py), through
real dbt on DuckDB, PostgreSQL and Spark: every change a run must see changes it, and what a run cannot tell apart
(the rows' order) does not. A fingerprint equal to the mark's means a run reads nothing, so a change it missed would
never be sent: each case below is one a careless hash misses (NULL vs '', a value moved between columns or rows, a
row repeated, a type changed to the same digits)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.dbt

COLUMNS = ["email", "firstname", "lastname", "score"]
BASE = [
    ("ann@example.com", "Ann", "Lee", 10),
    ("bob@example.com", None, "Bo", 20),
    ("cat@example.com", "", "Cy", 30),
    ("dan@example.com", "Dan", "Dan", None),
]


def _with(rows, i, **changes):
    out = list(rows)
    row = dict(zip(COLUMNS, out[i], strict=True))
    row.update(changes)
    out[i] = tuple(row[c] for c in COLUMNS)
    return out


# variant -> (rows, the score column as text, same fingerprint as BASE)
VARIANTS = {
    "base": (BASE, False, True),
    "reordered": (BASE[::-1], False, True),
    "one_char": (_with(BASE, 0, firstname="Anm"), False, False),
    "null_to_empty": (_with(BASE, 1, firstname=""), False, False),
    "empty_to_null": (_with(BASE, 2, firstname=None), False, False),
    "null_moved": (_with(_with(BASE, 1, firstname="Bo", lastname=None), 1), False, False),
    "columns_swapped": (_with(BASE, 0, firstname="Lee", lastname="Ann"), False, False),
    "rows_swapped": (_with(_with(BASE, 0, firstname="Dan"), 3, firstname="Ann"), False, False),
    "row_repeated": (BASE + [BASE[0]], False, False),
    "row_removed": (BASE[:-1], False, False),
    "score_as_text": ([(*r[:3], None if r[3] is None else str(r[3])) for r in BASE], True, False),
}


@pytest.fixture(scope="module")
def fingerprints(dbt_project_with_spark) -> dict[str, tuple]:
    project = dbt_project_with_spark
    schema, p = project.schema, project.placeholder
    text = "string" if project.adapter == "spark" else "varchar(100)"
    using = " using parquet" if project.adapter == "spark" else ""
    for name, (rows, score_text, _) in VARIANTS.items():
        score = text if score_text else "integer"
        project.execute(
            f"create table {schema}.fp_{name} (email {text}, firstname {text}, lastname {text}, score {score}){using}"
        )
        project.execute(f"insert into {schema}.fp_{name} values ({p}, {p}, {p}, {p})", many=rows)
    selects = [
        f"select '{name}' as variant, fp.* from ({{{{ dbt_hubspot_sync._model_fingerprint("
        f"target.schema ~ '.fp_{name}', {COLUMNS!r}) }}}}) as fp"
        for name in VARIANTS
    ]
    project.write_model("fingerprints", "\nunion all\n".join(selects) + "\n")
    project.dbt("run", "--select", "fingerprints")
    got = {r[0]: tuple(r[1:]) for r in project.query(f"select * from {schema}.fingerprints")}
    assert set(got) == set(VARIANTS)
    return got


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "base"])
def test_the_fingerprint_changes_with_every_change_a_run_must_see(fingerprints, variant: str) -> None:
    same = VARIANTS[variant][2]
    assert (fingerprints[variant] == fingerprints["base"]) is same, (variant, fingerprints[variant])


def test_no_two_changes_share_a_fingerprint(fingerprints) -> None:
    changed = [fp for name, fp in fingerprints.items() if not VARIANTS[name][2]]
    assert len(set(changed)) == len(changed)
    assert fingerprints["base"][0] == str(len(BASE))  # the row count is part of it, as text
