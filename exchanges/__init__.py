"""The exchange adapter layer: one interface over ccxt for placing, cancelling and fetching orders,
fetching balances and fetching candles (paged). It sits below `trading` (live orders) and
`marketdata` (candle downloads), so neither app imports the other; it has no models.

Broker keys are decrypted here only, in memory, for the life of one client; the trade permission
of the key is checked before any order leaves; ccxt's errors come out as the few exception types
of `exchanges.errors`, with every credential scrubbed from their text. See docs/exchanges.md.
"""
