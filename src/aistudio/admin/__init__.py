"""Admin tools' domain: audit log, users, generations, model overrides, smoke tests (no Telegram, no HTTP).

`stats.py` (dashboard figures and per-day series) is shared by the Telegram panel and the web dashboard.
"""
