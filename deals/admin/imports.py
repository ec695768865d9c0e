"""Console pages for deals: imports (being written)."""
