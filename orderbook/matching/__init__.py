"""Price-time-priority matching with QuantCup 1 semantics: a compiled engine and a pure-Python reference.

Both engines have the same interface (:class:`orderbook.matching.reference.ReferenceEngine` documents it):
``limit(trader, side, price, size) -> order id``, ``cancel(order_id)``, ``take_executions()`` and ``book()``.
"""
