"""The Telegram adapter: bot, dispatcher, middlewares, one router per feature, delivery of results."""
