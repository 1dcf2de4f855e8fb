"""The built-in exchange strategies; importing this package registers them."""

from strategies.cex.core import hold, leadlag

__all__ = ["hold", "leadlag"]
