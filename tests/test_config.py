"""Settings: defaults, parsing, and one clear line per wrong variable."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aistudio.config import SettingsError, load_settings


def test_defaults_match_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)

    s = load_settings(_env_file=None)

    assert s.database_url.startswith("sqlite+aiosqlite:///./var/")
    assert (s.markup, s.free_tier_size, s.free_per_model_per_day, s.free_per_model_per_hour) == (
        Decimal("2.0"),
        5,
        5,
        2,
    )
    assert (s.start_bonus_rub, s.max_concurrent_generations, s.usd_per_credit) == (0, 2, Decimal("0.005"))


def test_admin_ids_and_secrets_are_parsed_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "1, 22,333")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:s3cr3t-token")

    s = load_settings(_env_file=None)

    assert s.admin_ids == (1, 22, 333)
    assert "s3cr3t" not in repr(s) and s.telegram_bot_token.get_secret_value() == "123:s3cr3t-token"


def test_every_wrong_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://localhost/x")
    monkeypatch.setenv("MARKUP", "lots")
    monkeypatch.setenv("FX_FALLBACK_RUB_PER_USD", "10")

    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)

    message = str(info.value)
    assert "\n" not in message
    assert all(name in message for name in ("DATABASE_URL", "MARKUP", "FX_FALLBACK_RUB_PER_USD"))


def test_env_example_loads_and_names_every_setting(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from aistudio.config import Settings

    example = Path(__file__).resolve().parent.parent / ".env.example"
    (tmp_path / ".env").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    s = load_settings()

    names = {
        line.split("=", 1)[0] for line in example.read_text().splitlines() if "=" in line and line[0] != "#"
    }
    assert names == {name.upper() for name in Settings.model_fields}
    assert s.redis_url is None and s.telegram_bot_token is None and s.admin_ids == ()
