"""Texts and keyboards of the Telegram admin panel, one module per section (handlers stay thin)."""
