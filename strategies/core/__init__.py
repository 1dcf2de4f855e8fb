"""The strategy engine's pure parts (protocol, accounting, risk, metrics): no Django import."""
