"""The bot's web server: Telegram webhook, Kie callbacks, health, metrics, admin."""
