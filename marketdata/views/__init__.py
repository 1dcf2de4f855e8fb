"""Public market pages (server-rendered): the market list and candle charts (:mod:`.markets`), the lead-lag page
(:mod:`.leadlag`); routed by :mod:`.urls` under ``/markets/``."""
