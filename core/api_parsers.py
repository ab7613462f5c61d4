"""The API's JSON parser: DRF's, with documents nested too deep refused as a 400 ParseError
instead of reaching code that recurses into them and failing with a RecursionError (a 500), and
likewise strings holding an unpaired surrogate escape, which no UTF-8 column or log can take."""

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.json_depth import MAX_JSON_DEPTH, nesting_exceeds

TOO_DEEP_MESSAGE = f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels"
SURROGATE_MESSAGE = "JSON parse error - a string holds an unpaired surrogate (\\ud800-\\udfff)"


class DepthLimitedJSONParser(JSONParser):
    """application/json, at most MAX_JSON_DEPTH levels of objects and arrays."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            # The decoder itself ran out of stack: deeper still than the limit.
            raise ParseError(TOO_DEEP_MESSAGE) from error
        if nesting_exceeds(data):
            raise ParseError(TOO_DEEP_MESSAGE)
        try:
            # "\ud800" is valid JSON but no character: it cannot be stored or logged as UTF-8.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as error:
            raise ParseError(SURROGATE_MESSAGE) from error
        return data
