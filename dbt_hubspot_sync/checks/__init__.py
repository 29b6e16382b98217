"""What is checked before a row is sent: the SQL cleanup canary (`canary.py`), the property and list preflight
(`preflight.py`, `lists.py`), the test gate (`gate.py`), the budget guards (`guards.py`) and which remembered
misses to look up again (`rechecks.py`)."""
