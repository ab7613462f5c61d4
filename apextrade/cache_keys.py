"""Cache keys exactly as the schema spec names them (`cache:ticker:{symbol}`), without Django's
`:version:` decoration, so other services can read them."""


def spec_key(key: str, key_prefix: str, version: int) -> str:
    return f"{key_prefix}{key}" if key_prefix else key
