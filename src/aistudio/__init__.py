"""AI Studio: a Telegram bot that sells generative AI models from a prepaid rouble wallet."""

__version__ = "0.1.0"
