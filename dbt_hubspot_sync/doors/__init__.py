"""The ways to run: the CLI (`cli.py`, `progress.py`), `sync` and `sync --pending` (`runner.py`), `run -- <dbt
args>` (`dbt_run.py`) and the DuckDB post-hook and on-run-end (`duckdb_plugin.py`). Each only builds plans and
hands them to pipeline.py."""
