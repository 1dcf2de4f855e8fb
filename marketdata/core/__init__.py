"""The pure core of market data: venues, intervals, candles, payload parsing, archives, gaps. No Django import."""
