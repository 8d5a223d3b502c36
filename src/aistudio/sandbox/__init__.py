"""Local emulators of external services (Telegram Bot API, Kie.ai) for demos and end-to-end tests."""
