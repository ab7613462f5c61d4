from urllib.parse import urlencode

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketdata import selectors
from marketdata.api.serializers import (
    CandlePageSerializer,
    CandleSerializer,
    CandlesQuerySerializer,
    SymbolSerializer,
    TickerSerializer,
    iso,
)


class CandlesView(APIView):
    @extend_schema(
        summary="OHLCV candles of a symbol",
        description=(
            "Candles whose bucket starts in [start, end), oldest first. 1m candles come from "
            "ohlcv, 1h and 1d from the continuous aggregates (the not yet materialized tail from "
            "raw candles), any other timeframe is rolled up on the fly. At most `limit` buckets "
            "per page; follow `next` for the rest of the range."
        ),
        parameters=[CandlesQuerySerializer],
        responses={200: CandlePageSerializer, 400: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        query = CandlesQuerySerializer(data=request.query_params, context={"now": timezone.now()})
        query.is_valid(raise_exception=True)
        params = query.validated_data
        page = selectors.candles(
            symbol=params["symbol"],
            timeframe=params["timeframe"],
            start=params["start"],
            end=params["end"],
            limit=params["limit"],
        )
        next_url = None
        if page.next_start is not None:
            next_url = request.build_absolute_uri(
                request.path
                + "?"
                + urlencode(
                    {
                        "symbol": params["symbol"],
                        "timeframe": params["timeframe"],
                        "start": iso(page.next_start),
                        "end": iso(params["end"]),
                        "limit": params["limit"],
                    }
                )
            )
        return Response(
            {
                "symbol": params["symbol"],
                "timeframe": params["timeframe"],
                "start": iso(params["start"]),
                "end": iso(params["end"]),
                "count": len(page.candles),
                "next": next_url,
                "candles": CandleSerializer(page.candles, many=True).data,
            }
        )


class TickerView(APIView):
    @extend_schema(
        summary="Latest price of a symbol",
        description="Served from Redis `cache:ticker:{symbol}`, kept fresh by candle and tick "
        "writes; falls back to the newest stored tick or 1m candle.",
        parameters=[OpenApiParameter("symbol", str, OpenApiParameter.PATH, description="BTC/USDT")],
        responses={200: TickerSerializer, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, symbol: str) -> Response:
        query = SymbolSerializer(data={"symbol": symbol})
        query.is_valid(raise_exception=True)
        symbol = query.validated_data["symbol"]  # trimmed
        ticker = selectors.ticker(symbol=symbol)
        if ticker is None:
            return Response(
                {"detail": f"No price is known for {symbol}."}, status=status.HTTP_404_NOT_FOUND
            )
        return Response(ticker)
