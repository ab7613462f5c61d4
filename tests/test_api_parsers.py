"""The API's JSON parser refuses documents nested too deep with a 400, never a RecursionError."""

import io
import json

import pytest
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from core.api_parsers import DepthLimitedJSONParser
from core.json_depth import MAX_JSON_DEPTH, nesting_exceeds
from tests.factories import UserFactory


def parse(text: str):
    return DepthLimitedJSONParser().parse(io.BytesIO(text.encode()))


def nested(depth: int) -> str:
    """`depth` levels: arrays and objects alternating, a number innermost."""
    text = "1"
    for level in range(depth):
        text = f"[{text}]" if level % 2 else f'{{"a": {text}}}'
    return text


def test_the_api_parses_json_with_the_depth_limited_parser():
    assert api_settings.DEFAULT_PARSER_CLASSES[0] is DepthLimitedJSONParser


def test_documents_up_to_the_limit_are_parsed():
    assert parse('{"name": "x", "rules": {"all": [{"left": "close"}]}}')["name"] == "x"
    assert parse(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 950, 100_000])
def test_deeper_documents_are_a_parse_error(depth):
    with pytest.raises(ParseError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
        parse(nested(depth))


def test_malformed_json_is_still_a_parse_error():
    with pytest.raises(ParseError, match="JSON parse error"):
        parse('{"a": ')


@pytest.mark.parametrize(
    ("value", "limit", "exceeds"),
    [
        (1, 0, False),
        ("text", 0, False),
        ({}, 1, False),
        ({}, 0, True),
        ({"a": [1, {"b": []}]}, 4, False),
        ({"a": [1, {"b": []}]}, 3, True),
        ([[], [[[]]], []], 3, True),
    ],
)
def test_nesting_depth_counts_objects_and_arrays(value, limit, exceeds):
    assert nesting_exceeds(value, limit) is exceeds


@pytest.mark.parametrize(
    "text", ['{"name": "\\ud800"}', '{"\\udc00": 1}', '["ok", {"x": ["a\\udfffb"]}]']
)
def test_an_unpaired_surrogate_is_a_parse_error(text):
    with pytest.raises(ParseError, match="unpaired surrogate"):
        parse(text)


def test_a_surrogate_pair_is_a_character():
    assert parse('{"name": "\\ud83d\\ude00"}')["name"] == "\U0001f600"


@pytest.mark.django_db
def test_a_strategy_named_with_an_unpaired_surrogate_is_a_400_not_a_500():
    client = APIClient()
    client.force_authenticate(UserFactory())

    response = client.post(
        "/api/v1/strategies",
        data=b'{"name": "\\ud800", "symbol": "BTC/USDT", "timeframe": "1h"}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "unpaired surrogate" in response.json()["detail"]
