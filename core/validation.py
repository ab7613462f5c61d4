"""Validators that mirror the schema's CHECK constraints, shared by several tables, so the admin
and the API report a bad value as a field error before the database would reject it."""

from django.core.validators import RegexValidator

CURRENCY_PATTERN = r"^[A-Z]{3}$"
SYMBOL_PATTERN = r"^[A-Z]{2,10}/[A-Z]{2,10}$"
TIMEFRAME_PATTERN = r"^[1-9][0-9]?[mhdwM]$"

currency_validator = RegexValidator(CURRENCY_PATTERN, "Enter a three-letter upper-case ISO code.")
symbol_validator = RegexValidator(
    SYMBOL_PATTERN, "Enter a symbol as BASE/QUOTE in capitals, e.g. BTC/USDT."
)
timeframe_validator = RegexValidator(
    TIMEFRAME_PATTERN, "Enter a timeframe such as 1m, 15m, 4h, 1d, 1w or 1M."
)
