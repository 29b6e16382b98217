"""`dbt-hubspot-sync report` from fixed data: the log tables on an in-memory DuckDB (through the same SqlTarget
surface as the adapter), read by report.queries and rendered by report.render. Every section is present, every
value is escaped (an email `<script>` is shown as text), nothing refers to a network resource, and what is stale
or pending is told apart from what is in progress."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from html.parser import HTMLParser

import duckdb
import pytest

from dbt_hubspot_sync.errors import SyncError
from dbt_hubspot_sync.report import ReportData, read_report, render_report
from dbt_hubspot_sync.report.charts import Bar, bar_chart, nice_max
from dbt_hubspot_sync.report.queries import EXAMPLES_PER_REASON
from dbt_hubspot_sync.tables.run_log import runner_id, utcnow
from tests.helpers import SCHEMA, DuckTarget, create_log_tables

SECTIONS = ("runs", "throughput", "rejections", "lists", "pending")
XSS_EMAIL = '<script>alert("pwned")</script>@evil.com'
XSS_ERROR = "HubSpot said <img src=x onerror=alert(1)> & gave up"
ODD_NAME = "odd<b>name</b>&co"
PENDING_DDL = f"""
create table {SCHEMA}.hubspot_sync_pending (
    pending_id varchar, exposure_name varchar, model_unique_id varchar, relation varchar, invocation_id varchar,
    created_at timestamp, claimed_by varchar, claimed_at timestamp, gate_tests varchar, gate_results varchar
)"""


def dead_runner() -> str:
    """`host:pid` of a process of this host that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return runner_id().rsplit(":", 1)[0] + f":{proc.pid}"


def insert_run(
    conn: duckdb.DuckDBPyConnection, run_id: str, exposure: str, status: str, **kw: object
) -> None:
    started = kw.pop("started_at", utcnow() - timedelta(hours=1))
    values = {
        "run_id": run_id,
        "exposure_name": exposure,
        "relation": '"db"."main"."contacts"',
        "trigger": "cli",
        "status": status,
        "started_at": started,
        "finished_at": None if status in ("running", "waiting") else started + timedelta(seconds=12),
        "runner": runner_id(),
        **kw,
    }
    cols = ", ".join(values)
    conn.execute(
        f"insert into {SCHEMA}.hubspot_sync_runs ({cols}) values ({', '.join('?' * len(values))})",
        list(values.values()),
    )


def insert_record(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    exposure: str,
    email: str | None,
    outcome: str,
    reason: str | None,
    detail: str | None = None,
    http_status: int | None = None,
) -> None:
    conn.execute(
        f"insert into {SCHEMA}.hubspot_sync_record_log values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            exposure,
            email,
            email and email.strip().lower(),
            outcome,
            reason,
            detail,
            http_status,
            utcnow(),
        ],
    )


@pytest.fixture
def target() -> DuckTarget:
    conn = duckdb.connect(":memory:")
    create_log_tables(conn)
    conn.execute(PENDING_DDL)
    now = utcnow()
    counts = {
        "rows_read": 612,
        "rows_updated": 400,
        "rows_unchanged": 100,
        "rows_not_found": 90,
        "rows_invalid": 20,
        "rows_duplicate": 2,
        "rows_failed": 0,
        "requests": 14,
        "retries": 1,
        "rate_limited": 0,
        "list_added": 0,
        "list_missing": 0,
    }
    insert_run(
        conn, "run-aaaa-1", "hubspot_customers", "completed", started_at=now - timedelta(days=2), **counts
    )
    insert_run(
        conn,
        "run-bbbb-2",
        "hubspot_customers",
        "completed_with_errors",
        started_at=now - timedelta(days=1),
        **{**counts, "rows_updated": 395, "rows_failed": 5, "list_added": 395, "list_missing": 3},
    )
    insert_run(
        conn,
        "run-cccc-3",
        "hubspot_customers",
        "failed",
        started_at=now - timedelta(hours=3),
        error=XSS_ERROR,
        **{
            **counts,
            "rows_read": 0,
            "rows_updated": 0,
            "rows_unchanged": 0,
            "rows_not_found": 0,
            "rows_invalid": 0,
            "rows_duplicate": 0,
        },
    )
    # Open runs: one too old, one whose process is gone, one in progress (this process).
    insert_run(
        conn,
        "run-old-4",
        "hubspot_customers",
        "running",
        started_at=now - timedelta(hours=7),
        runner="elsewhere:1",
    )
    insert_run(
        conn,
        "run-dead-5",
        "hubspot_customers",
        "waiting",
        started_at=now - timedelta(minutes=5),
        runner=dead_runner(),
    )
    insert_run(conn, "run-live-6", "hubspot_customers", "running", started_at=now - timedelta(minutes=1))
    for i in range(5):
        insert_record(
            conn,
            "run-bbbb-2",
            "hubspot_customers",
            f"nobody{i}@example.com",
            "not_found",
            "OBJECT_NOT_FOUND",
            http_status=207,
        )
    insert_record(
        conn,
        "run-bbbb-2",
        "hubspot_customers",
        XSS_EMAIL,
        "invalid",
        "INVALID_SYNTAX",
        detail="<b>not</b> an address",
    )
    insert_record(conn, "run-bbbb-2", "hubspot_customers", None, "invalid", "NULL_EMAIL")
    insert_record(
        conn, "run-bbbb-2", "hubspot_customers", "ok@example.com", "updated", None
    )  # log_records: all
    insert_record(
        conn, "run-other", "hubspot_customers", "gone@example.com", "failed", "HTTP_5XX"
    )  # not shown
    insert_run(conn, "run-odd-7", ODD_NAME, "completed", **counts)
    conn.execute(
        f"insert into {SCHEMA}.hubspot_sync_pending (pending_id, exposure_name, model_unique_id, relation,"
        " invocation_id, created_at) values (?, ?, ?, ?, ?, ?)",
        [
            "p-1",
            "hubspot_customers",
            "model.customer360.hubspot_contacts",
            '"db"."main"."hubspot_contacts"',
            "inv-123",
            now - timedelta(minutes=10),
        ],
    )
    return DuckTarget(conn)


def report(target: DuckTarget, **kw: object) -> ReportData:
    args = {
        "project": "customer360",
        "adapter": "duckdb",
        "limit": 50,
        "tool_version": "0.1.0",
        "declared": {"hubspot_customers": "123", "hubspot_never_run": None},
    }
    return read_report(target, SCHEMA, **{**args, **kw})  # type: ignore[arg-type]


class Sections(HTMLParser):
    """data-section values inside each exposure article, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.exposure: str | None = None
        self.sections: dict[str, list[str]] = {}
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        if tag == "article":
            self.exposure = a["data-exposure"]
            self.sections[self.exposure or ""] = []
        elif tag == "section" and self.exposure is not None:
            self.sections[self.exposure].append(a["data-section"] or "")


def test_every_exposure_has_every_section(target: DuckTarget) -> None:
    html = render_report(report(target))
    parser = Sections()
    parser.feed(html)
    assert set(parser.sections) == {"hubspot_customers", "hubspot_never_run", ODD_NAME}
    for name, sections in parser.sections.items():
        assert tuple(sections) == SECTIONS, name
    assert 'data-section="summary"' in html
    assert "No runs logged yet." in html  # hubspot_never_run


def test_user_data_is_escaped(target: DuckTarget) -> None:
    html = render_report(report(target))
    assert "<script" not in html and "<img" not in html and "<b>not</b>" not in html and "<b>name" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;@evil.com" in html  # shown, as text
    assert "HubSpot said &lt;img src=x onerror=alert(1)&gt; &amp; gave up" in html
    assert "odd&lt;b&gt;name&lt;/b&gt;&amp;co" in html
    assert 'id="exposure-odd-b-name--b--co"' in html  # an id from the name, without its markup


def test_the_file_refers_to_no_network_resource(target: DuckTarget) -> None:
    html = render_report(report(target))
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html)
    assert not re.search(r"@import|url\(", html)
    assert "default-src 'none'" in html  # the CSP: nothing may be fetched, whatever slipped in


def test_run_history_newest_first_with_a_bar_per_run(target: DuckTarget) -> None:
    data = report(target)
    customers = next(x for x in data.exposures if x.name == "hubspot_customers")
    assert [r.run_id for r in customers.runs][:3] == ["run-live-6", "run-dead-5", "run-cccc-3"]
    assert customers.total_runs == 6
    html = render_report(data)
    article = html.split('data-exposure="hubspot_customers"')[1].split("</article>")[0]
    chart = article.split('data-section="runs"')[1].split("</svg>")[0]
    assert chart.count('<g class="bar">') == 6
    assert chart.count('data-status="completed_with_errors"') == 1
    assert 'data-segment="not_found"' in chart and 'data-segment="updated"' in chart


def test_limit_keeps_the_newest_runs(target: DuckTarget) -> None:
    customers = next(x for x in report(target, limit=2).exposures if x.name == "hubspot_customers")
    assert [r.run_id for r in customers.runs] == ["run-live-6", "run-dead-5"]
    # Rejections are of the runs shown: none of these two logged any.
    assert customers.rejections == []


def test_top_rejection_reasons_with_examples(target: DuckTarget) -> None:
    customers = next(x for x in report(target).exposures if x.name == "hubspot_customers")
    got = [(j.outcome, j.reason_code, j.count) for j in customers.rejections]
    # Most frequent first; `updated` (log_records: all) is no rejection; run-other is not among the runs shown.
    assert got == [
        ("not_found", "OBJECT_NOT_FOUND", 5),
        ("invalid", "INVALID_SYNTAX", 1),
        ("invalid", "NULL_EMAIL", 1),
    ]
    assert len(customers.rejections[0].examples) == EXAMPLES_PER_REASON
    assert customers.rejections[0].examples[0].http_status == 207
    assert customers.rejections[2].examples[0].email_raw is None  # a NULL reason_code-less group still works
    html = render_report(report(target))
    assert "OBJECT_NOT_FOUND" in html and "HTTP 207" in html and "NULL</span>" in html


def test_list_changes_and_throughput(target: DuckTarget) -> None:
    data = report(target)
    customers = next(x for x in data.exposures if x.name == "hubspot_customers")
    assert [(r.run_id, r.list_added, r.list_missing) for r in customers.list_changes] == [
        ("run-bbbb-2", 395, 3)
    ]
    assert customers.list_id == "123"
    done = next(r for r in customers.runs if r.run_id == "run-aaaa-1")
    assert done.duration_s == 12 and done.rows_per_s == 51 and done.requests_per_s == pytest.approx(14 / 12)
    html = render_report(data)
    lists = html.split('data-exposure="hubspot_customers"')[1].split('data-section="lists"')[1]
    assert ">395<" in lists.split("</section>")[0]
    throughput = html.split('data-exposure="hubspot_customers"')[1].split('data-section="throughput"')[1]
    assert "median rows/s" in throughput and "51" in throughput.split("</dl>")[0]


def test_pending_and_stale_are_told_from_runs_in_progress(target: DuckTarget) -> None:
    customers = next(x for x in report(target).exposures if x.name == "hubspot_customers")
    stale = {r.run_id: r.stale for r in customers.open_runs}
    assert set(stale) == {"run-old-4", "run-dead-5", "run-live-6"}
    assert stale["run-old-4"] == "running for more than 6 h"
    assert stale["run-dead-5"] is not None and "is gone" in stale["run-dead-5"]
    assert stale["run-live-6"] is None  # this process: alive, and young
    assert [p.pending_id for p in customers.pending] == ["p-1"]
    html = render_report(report(target))
    pending = html.split('data-exposure="hubspot_customers"')[1].split('data-section="pending"')[1]
    pending = pending.split("</section>")[0]
    assert pending.count("<b>stale</b>") == 2 and pending.count("in progress") == 1
    assert "model.customer360.hubspot_contacts" in pending and "inv-123" in pending


def test_select_keeps_only_those_and_an_unknown_name_is_an_error(target: DuckTarget) -> None:
    assert [x.name for x in report(target, select=[ODD_NAME]).exposures] == [ODD_NAME]
    with pytest.raises(SyncError, match="hubspot_nope"):
        report(target, select=["hubspot_nope"])


def test_an_empty_log_renders_a_report_that_says_so() -> None:
    conn = duckdb.connect(":memory:")
    create_log_tables(conn)
    conn.execute(PENDING_DDL)
    html = render_report(report(DuckTarget(conn), declared={}))
    assert "No exposure to report" in html


def test_bar_chart_scales_and_escapes() -> None:
    assert [nice_max(v) for v in (0, 7, 10, 11, 180, 612)] == [1, 10, 10, 20, 200, 1000]
    svg = bar_chart(
        [Bar(None, [("a", 5.0), ("b", 0.0)], 'tip <x> & "y"', "failed")], {"a": "#000"}, title="t<1>"
    )
    assert "tip &lt;x&gt; &amp; &quot;y&quot;" in svg and "t&lt;1&gt;" in svg
    assert svg.count("<rect") == 2  # the 5-high segment and the status strip; a zero segment draws nothing
    assert "No runs to chart" in bar_chart([], {}, title="x")


def test_on_append_only_targets_a_pushed_pending_row_is_not_pending(target: DuckTarget) -> None:
    # Spark/Databricks keep the post-hook's row and record it `done` in hubspot_sync_pending_events.
    target.conn.execute(
        f"create table {SCHEMA}.hubspot_sync_pending_events (pending_id varchar, event varchar)"
    )
    target.conn.execute(f"insert into {SCHEMA}.hubspot_sync_pending_events values ('p-1', 'claimed')")
    target.append_only = True  # type: ignore[attr-defined]
    customers = next(x for x in report(target).exposures if x.name == "hubspot_customers")
    assert [p.pending_id for p in customers.pending] == ["p-1"]  # claimed, not pushed yet
    target.conn.execute(f"insert into {SCHEMA}.hubspot_sync_pending_events values ('p-1', 'done')")
    customers = next(x for x in report(target).exposures if x.name == "hubspot_customers")
    assert customers.pending == []
