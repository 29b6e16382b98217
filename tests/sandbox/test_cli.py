"""`dbt-hubspot-sync sandbox` as a process: prints its URL (never the token), serves, stops on a signal."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from dbt_hubspot_sync.sandbox.cli import main


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbt_hubspot_sync.sandbox.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_csv_contacts_and_stops_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    csv_path = tmp_path / "contacts.csv"
    csv_path.write_text(
        "email,firstname,hs_object_id,score\nada@example.com,Ada,,7\nbob@example.com,Bob,5,\n"
    )
    proc, line = _start(
        "--port", "0", "--token", "s3cret-token-value", "--contacts", str(csv_path), "--rate-max", "7"
    )
    try:
        assert line.startswith("HubSpot sandbox listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[-1]
        contacts = requests.get(url + "/__sandbox__/contacts", timeout=5).json()["results"]
        assert [(c["id"], c["properties"]["email"]) for c in contacts] == [
            ("1", "ada@example.com"),
            ("5", "bob@example.com"),
        ]
        assert contacts[0]["properties"]["score"] == "7" and "score" not in contacts[1]["properties"]
        r = requests.get(
            url + "/crm/v3/properties/contacts",
            headers={"Authorization": "Bearer s3cret-token-value"},
            timeout=5,
        )
        assert r.status_code == 200 and r.headers["X-HubSpot-RateLimit-Max"] == "7"
        assert "score" in {p["name"] for p in r.json()["results"]}
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "s3cret-token-value" not in line + out + err


def test_cli_bad_usage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--faults", "teapot:0.5"])
    assert exc.value.code == 2
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("firstname\nAda\n")
    assert main(["--port", "0", "--contacts", str(bad_csv)]) == 2
    assert main(["--port", "0", "--contacts", str(tmp_path / "missing.csv")]) == 2
