"""Image analysis: bytes per layer, wasted bytes, size budgets."""
