"""Console pages for deals: extensions (being written)."""
