"""The strategies REST API: strategies, their rule language's JSON Schema, backtests and trades."""
