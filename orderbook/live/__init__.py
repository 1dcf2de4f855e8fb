"""Live order books: websocket connectors driving the pure sync cores of :mod:`orderbook.l2`, and the snapshots
they publish."""
