"""Writes of the strategies domain: `strategies.py` (definitions and their lifecycle) and
`backtests.py` (runs)."""
