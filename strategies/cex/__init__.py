"""Exchange strategies: the benchmark hold and the cross-venue lead-lag (pure, in ``core/``)."""
