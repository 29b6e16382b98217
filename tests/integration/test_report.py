"""`dbt-hubspot-sync report` on real warehouses: the example project built with dbt on DuckDB
and PostgreSQL, two syncs through `main(["sync", ...])` against the sandbox, then `main(["report", ...])`; the
file is opened in headless Chromium (Debian's `chromium`, which `.ci/run` installs), with the network mapped
away: the screenshot must be a real page (not blank, not an error page) and the console must stay silent.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.report import REPORT_FILE
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .helpers import ADAPTERS, CONTACTS_CSV, Example, assert_invariant, dbt_without_push, make_example

pytestmark = pytest.mark.dbt

SYNCS = ("hubspot_customers", "hubspot_vip_names")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
NO_CHROMIUM = "headless Chromium is not installed (Debian: apt-get install -y chromium; .ci/run installs it)"


@pytest.fixture(scope="module", params=ADAPTERS)
def reported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Example, Path, str]]:
    """(example, report path, what `report` printed) after two syncs of each exposure on one adapter."""
    mp = pytest.MonkeyPatch()
    try:
        with Sandbox(SandboxConfig(port=0, contacts_csv=CONTACTS_CSV)) as sandbox:
            tmp = tmp_path_factory.mktemp(f"report_{request.param}")
            ex = make_example(request.param, tmp, mp)
            # The post-hook cannot push without a token: on PostgreSQL it leaves a pending sync, shown as such.
            dbt_without_push(ex, "run")
            mp.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
            mp.setenv("HUBSPOT_BASE_URL", sandbox.url)
            for _ in range(2):  # a history: the second run finds every row unchanged
                assert main(["sync", "--select", *SYNCS, *ex.cli_args()]) == 0
            assert len(assert_invariant(ex)) == 4
            out = tmp / "out" / "report.html"  # a directory that does not exist yet
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                code = main(["report", "--output", str(out), *ex.cli_args()])
            assert code == 0, buf.getvalue()
            yield ex, out, buf.getvalue()
    finally:
        mp.undo()


def test_report_writes_one_self_contained_file(reported: tuple[Example, Path, str]) -> None:
    ex, path, printed = reported
    assert f"Report written to {path.resolve()}" in printed
    html = path.read_text(encoding="utf-8")
    for name in SYNCS:
        assert f'data-exposure="{name}"' in html
    customers = html.split('data-exposure="hubspot_customers"')[1].split("</article>")[0]
    for section in ("runs", "throughput", "rejections", "lists", "pending"):
        assert f'data-section="{section}"' in customers
    assert customers.count('<g class="bar">') >= 2  # the run history chart: one bar per run
    [(not_found,)] = ex.query(
        "select count(*) from {schema}.hubspot_sync_record_log where exposure_name = 'hubspot_customers'"
        " and reason_code = 'OBJECT_NOT_FOUND'"
    )
    assert not_found > 0 and "OBJECT_NOT_FOUND" in customers
    pending = customers.split('data-section="pending"')[1].split("</section>")[0]
    if ex.adapter == "postgres":  # the post-hook's pending sync of the build
        assert "model.customer360.hubspot_contacts" in pending
    else:
        assert "Nothing pending" in pending
    assert "http://" not in html and "https://" not in html


def test_report_defaults_to_the_project_target_dir(reported: tuple[Example, Path, str], capsys) -> None:
    ex, _, _ = reported
    assert main(["report", "--select", "hubspot_vip_names", "--limit", "1", *ex.cli_args()]) == 0
    default = ex.project_dir / "target" / REPORT_FILE
    assert str(default.resolve()) in capsys.readouterr().out
    html = default.read_text(encoding="utf-8")
    assert 'data-exposure="hubspot_vip_names"' in html and 'data-exposure="hubspot_customers"' not in html
    assert "2 runs logged, the newest 1 shown" in html


def test_report_without_a_run_log_says_so(reported: tuple[Example, Path, str], capsys) -> None:
    ex, _, _ = reported
    code = main(["report", "--vars", "{hubspot_sync: {log_schema: no_log_here}}", *ex.cli_args()])
    err = capsys.readouterr().err
    assert code == 2 and "no run log in schema 'no_log_here' yet" in err, err


def png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit RGB/RGBA PNG (as Chromium writes them)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, bpp = 8, [], 0, 0, 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
    raw, stride = zlib.decompress(b"".join(idat)), width * bpp
    prev, rows = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind_, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind_ == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind_ == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind_ == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif kind_ == 4:
            for i in range(stride):
                a, b, c = (line[i - bpp] if i >= bpp else 0), prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # any fetch the page tried would fail, and be logged
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


def console_lines(stderr: str) -> list[str]:
    """What the page wrote to the console (errors, CSP violations, failed loads): Chromium logs them as CONSOLE."""
    return [ln for ln in stderr.splitlines() if re.search(r":CONSOLE[:(]", ln)]


def test_report_renders_in_headless_chromium(reported: tuple[Example, Path, str], tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    _, path, _ = reported
    url = path.resolve().as_uri()
    shot = tmp_path / "report.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1280,2000", url, profile=tmp_path / "p1")
    assert shot.exists(), done.stderr[-2000:]
    assert console_lines(done.stderr) == [], console_lines(done.stderr)
    data = shot.read_bytes()
    assert len(data) > 20_000, f"a {len(data)}-byte screenshot is too small to be the report"
    width, height, bpp, rows = png_pixels(data)
    assert (width, height) == (1280, 2000)
    colours = {row[i : i + bpp] for row in rows[::8] for i in range(0, len(row), bpp * 8)}
    assert len(colours) > 20, f"{len(colours)} colours: blank or nearly so"
    # Its charts are drawn: the outcome colours (updated green, not_found amber) are on screen.
    assert any(c[:3] == bytes.fromhex("2e9e5b") for c in colours) and any(
        c[:3] == bytes.fromhex("e0a526") for c in colours
    )

    dom = chromium("--dump-dom", url, profile=tmp_path / "p2")
    assert console_lines(dom.stderr) == [], console_lines(dom.stderr)
    assert "dbt-hubspot-sync report" in dom.stdout and 'data-exposure="hubspot_customers"' in dom.stdout
