"""Factories for market data tests."""

from __future__ import annotations

import factory

from marketdata.models import Instrument


class InstrumentFactory(factory.django.DjangoModelFactory):
    """A Binance spot market with eight-decimal steps, as Binance writes them."""

    class Meta:
        model = Instrument

    exchange = "binance"
    market_type = "spot"
    base = factory.Sequence(lambda n: f"COIN{n}")
    quote = "USDT"
    symbol = factory.LazyAttribute(lambda o: f"{o.base}/{o.quote}")
    venue_symbol = factory.LazyAttribute(lambda o: f"{o.base}{o.quote}")
    tick_size = "0.01000000"
    lot_size = "0.00001000"
