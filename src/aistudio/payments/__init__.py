"""Payments and top-ups: Stars, YooKassa, manual transfers; crediting each exactly once."""
