"""The API's JSON parser refuses documents nested too deep with a 400, never a RecursionError."""

import io
import json

import pytest
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings

from apextrade.api_parsers import DepthLimitedJSONParser
from apextrade.json_depth import MAX_JSON_DEPTH, nesting_exceeds


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
