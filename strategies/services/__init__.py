"""Every write of strategies, one module per flow (``paper``: paper runs started, stepped, stopped; ``sweeps``:
parameter sweeps and walk-forward studies fanned out over workers)."""
