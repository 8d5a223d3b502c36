"""Query helpers, one module per table group."""
