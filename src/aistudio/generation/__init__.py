"""Generations: the durable state machine that turns Launch into a delivered result or a refund."""
