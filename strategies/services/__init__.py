"""Every write of strategies, one module per flow (``paper``: paper runs started, stepped, stopped)."""
