"""Console pages for deals: leads (being written)."""
