"""Keeping credentials out of text: exception messages and ccxt's own request logs.

ccxt logs every request at DEBUG with its headers (Binance sends the API key in one) and puts
URLs and response bodies in its exception messages. Whatever ccxt writes goes through `scrub`
with the client's credentials first.
"""

import logging
import re
from collections.abc import Iterable

MASK = "***"
# Query parameters some exchanges use to carry credentials or a signature of them.
_CREDENTIAL_PARAMETERS = re.compile(
    r"(?i)\b(signature|api_?key|apikey|secret|passphrase|password|token)=([^&\s\"']+)"
)


def scrub(text: object, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of a secret, and every credential-like query parameter,
    replaced by ***."""
    result = str(text)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        result = result.replace(secret, MASK)
    return _CREDENTIAL_PARAMETERS.sub(lambda m: f"{m.group(1)}={MASK}", result)


class ScrubbingLogger:
    """Stands in for the logger of one ccxt exchange object: formats each record, scrubs the
    client's secrets out of it, and passes it on to `exchanges.ccxt`."""

    def __init__(self, secrets: Iterable[str], name: str = "exchanges.ccxt") -> None:
        self._secrets = tuple(s for s in secrets if s)
        self._logger = logging.getLogger(name)

    def __repr__(self) -> str:
        return f"ScrubbingLogger({self._logger.name})"

    def isEnabledFor(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: object, **_kwargs: object) -> None:
        if not self._logger.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(str(part) for part in (msg, *args))
        self._logger.log(level, "%s", scrub(text, self._secrets))

    def debug(self, msg: object, *args: object, **kwargs: object) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: object) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: object) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: object) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)
