from datetime import UTC, datetime
from decimal import Decimal

from rest_framework import serializers

from core.validation import symbol_validator, timeframe_validator
from marketdata.selectors import Candle
from marketdata.timeframes import Timeframe

MAX_LIMIT = 5000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
DEFAULT_LIMIT = 500


class CandlesQuerySerializer(serializers.Serializer):
    """Query of GET /api/v1/marketdata/candles. Without `start`, the last `limit` buckets before
    `end` (default: now) are asked for."""

    symbol = serializers.CharField(validators=[symbol_validator])
    timeframe = serializers.CharField(validators=[timeframe_validator])
    start = serializers.DateTimeField(required=False, help_text="inclusive, ISO 8601 (UTC)")
    end = serializers.DateTimeField(required=False, help_text="exclusive, ISO 8601; default now")
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT
    )

    def validate(self, attrs: dict) -> dict:
        frame = Timeframe.parse(attrs["timeframe"])
        for name in ("start", "end"):
            if name in attrs and not EARLIEST <= attrs[name] <= LATEST:
                raise serializers.ValidationError({name: [f"{name} must lie in 1970–9000."]})
        end = attrs.get("end") or self.context["now"]
        start = attrs.get("start")
        if start is None:
            # The last `limit` buckets, but never before 1970.
            start = frame.after_within(frame.ceil(end), -attrs["limit"], EARLIEST)
        if start >= end:
            raise serializers.ValidationError({"end": ["end must be later than start."]})
        attrs.update(start=start, end=end, end_given="end" in attrs)
        return attrs


def _decimal(value: Decimal) -> str:
    return format(value, "f")


class CandleSerializer(serializers.Serializer):
    """One candle; prices and volume as decimal strings. Written out by hand because a page may
    hold thousands of candles."""

    time = serializers.DateTimeField()
    open = serializers.DecimalField(max_digits=18, decimal_places=8)
    high = serializers.DecimalField(max_digits=18, decimal_places=8)
    low = serializers.DecimalField(max_digits=18, decimal_places=8)
    close = serializers.DecimalField(max_digits=18, decimal_places=8)
    volume = serializers.DecimalField(max_digits=24, decimal_places=8)
    candle_count = serializers.IntegerField(help_text="1m candles in this one")

    def to_representation(self, candle: Candle) -> dict:
        return {
            "time": candle.time.isoformat().replace("+00:00", "Z"),
            "open": _decimal(candle.open),
            "high": _decimal(candle.high),
            "low": _decimal(candle.low),
            "close": _decimal(candle.close),
            "volume": _decimal(candle.volume),
            "candle_count": candle.candle_count,
        }


class CandlePageSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True, help_text="the next page, null at the end")
    candles = CandleSerializer(many=True)


class TickerSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    price = serializers.CharField()
    time = serializers.DateTimeField()
    origin = serializers.ChoiceField(choices=["tick", "candle"])
    bid = serializers.CharField(allow_null=True)
    ask = serializers.CharField(allow_null=True)


class SymbolSerializer(serializers.Serializer):
    symbol = serializers.CharField(validators=[symbol_validator])


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
