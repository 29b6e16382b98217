"""The product's warehouse tables, one owner each: the runs and record log (`run_log.py`), the sync state
(`state.py`), pending builds (`pending.py`), the writer queue (`writer.py`), and the guarded log target every
run writes through (`log_target.py`)."""
