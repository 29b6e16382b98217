"""Which row of a duplicate email is sent: the same row on DuckDB, PostgreSQL and Spark, through real dbt.

README "What happens to each row": the first row ordered by the raw email, then the property columns in send
order, each ascending, text by code point, NULLs last (macros/_internal/_duplicate_order.sql). Each pair below
is one the warehouses' own defaults would settle differently: Spark puts NULLs first; a PostgreSQL column with a
linguistic collation puts 'a' before 'A' (the test gives its text columns one when the server has ICU).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.dbt

# (email, firstname, lastname, score, wins): in every pair the winner comes second in the table.
ROWS = [
    ("mailto:ann@example.com", "Aaron", "Zimmer", 1, False),
    ("ann@example.com", "Zed", "Abbott", 1, True),  # the raw email decides: 'a' before 'm'
    ("cat@example.com", "Cx", "Xu", 1, False),
    ("Cat@Example.com ", "Cy", "Young", 1, True),  # code point: 'C' before 'c'
    ("eve@example.com", None, "Abe", 1, False),
    ("eve@example.com", "Eve", "Zulu", 1, True),  # NULLs last
    ("fay@example.com", "fay", "Abe", 1, False),
    ("fay@example.com", "Fay", "Zulu", 1, True),  # a property's text by code point too
    ("gus@example.com", "Gus", "Abe", 10, False),
    ("gus@example.com", "Gus", "Abe", 9, True),  # numbers by value, not as text
    ("hal@example.com", "Hal", None, 1, False),
    ("hal@example.com", "Hal", "Zulu", 1, True),  # every property column: NULLs last
]


def _collation(dbt_project) -> str:
    """A linguistic collation for PostgreSQL's text columns ('' where there is none, or elsewhere)."""
    if dbt_project.adapter != "postgres":
        return ""
    found = dbt_project.query("select collname from pg_collation where collname = 'und-x-icu'")
    return ' collate "und-x-icu"' if found else ""


def test_the_documented_row_of_each_duplicate_email_is_ranked_first_on_every_adapter(dbt_project_with_spark):
    project = dbt_project_with_spark
    schema, p = project.schema, project.placeholder
    text = "string" if project.adapter == "spark" else "varchar(200)"
    collate = _collation(project)
    columns = ", ".join(f"{c} {text}{collate}" for c in ("email", "firstname", "lastname"))
    using = " using parquet" if project.adapter == "spark" else ""
    project.execute(f"create table {schema}.dup_contacts ({columns}, score integer){using}")
    project.execute(
        f"insert into {schema}.dup_contacts values ({p}, {p}, {p}, {p})", many=[r[:4] for r in ROWS]
    )
    project.write_model(
        "dup_winners",
        "select hubspot_sync__email_raw as email, firstname, lastname, score\n"
        "from ({{ dbt_hubspot_sync.sync_rows_query(target.schema ~ '.dup_contacts', 'email',"
        " ['firstname', 'lastname', 'score']) }}) as r\n"
        "where hubspot_sync__rank = 1\n",
    )
    project.dbt("run", "--select", "dup_winners")
    got = sorted(project.query(f"select email, firstname, lastname, score from {schema}.dup_winners"))
    assert got == sorted(r[:4] for r in ROWS if r[4])
