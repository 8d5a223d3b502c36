"""Settings: the one place that reads environment variables and `.env`.

Everything else receives a `Settings` instance from the composition root.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/aistudio.sqlite3"
TELEGRAM_DEFAULT_API_BASE = "https://api.telegram.org"
KIE_DEFAULT_API_BASE = "https://api.kie.ai"
KIE_DEFAULT_UPLOAD_BASE = "https://kieai.redpandaai.co"


class SettingsError(Exception):
    """Raised at start-up with one line per wrong or missing variable."""


class Settings(BaseSettings):
    """All configuration of AI Studio. Names match `.env.example` and README."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    # storage
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    db_pool_size: int = Field(default=20, ge=1, le=500)  # PostgreSQL connections kept open per process
    db_max_overflow: int = Field(default=5, ge=0, le=500)  # extra connections opened under a burst

    # telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = TELEGRAM_DEFAULT_API_BASE
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    webhook_base_url: str | None = None
    webhook_secret: SecretStr | None = None
    support_contact: str = "@aistudio_support"

    # kie
    kie_api_key: SecretStr | None = None
    kie_api_base: str = KIE_DEFAULT_API_BASE
    kie_upload_base: str = KIE_DEFAULT_UPLOAD_BASE
    kie_callback_hmac_key: SecretStr | None = None
    kie_tasks_per_10s: int = Field(default=20, ge=1, le=1000)

    # web server
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=1, le=65535)

    # operations (aistudio run)
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    metrics_token: SecretStr | None = None
    shutdown_timeout_seconds: float = Field(default=20.0, ge=1, le=600)
    polling_lock_retry_seconds: float = Field(default=2.0, ge=0.05, le=60)
    generation_lease_seconds: float = Field(default=120.0, ge=1, le=3600)

    # money
    markup: Decimal = Field(default=Decimal("2.0"), gt=0, le=100)
    usd_per_credit: Decimal = Field(default=Decimal("0.005"), gt=0)
    fx_fallback_rub_per_usd: Decimal = Field(default=Decimal("95.0"), ge=50, le=200)
    fx_source_url: str = "https://www.cbr.ru/scripts/XML_daily.asp"
    start_bonus_rub: Decimal = Field(default=Decimal("0"), ge=0)
    hold_ttl_seconds: int = Field(default=3 * 3600, ge=60)

    # payments: Telegram Stars (XTR), YooKassa through Telegram Payments, manual transfers
    stars_packs: Annotated[tuple[int, ...], NoDecode] = (50, 100, 250, 500, 1000)
    stars_rub_per_star: Decimal = Field(default=Decimal("1.3"), gt=0, le=100)
    stars_custom_min: int = Field(default=50, ge=1)
    stars_custom_max: int = Field(default=10000, ge=1)
    invoice_ttl_seconds: int = Field(default=3600, ge=60)
    yookassa_provider_token: SecretStr | None = None
    yookassa_packs_rub: Annotated[tuple[int, ...], NoDecode] = (100, 300, 500, 1000, 3000)
    yookassa_custom_min_rub: int = Field(default=100, ge=1)
    yookassa_custom_max_rub: int = Field(default=100000, ge=1)
    yookassa_receipt_required: bool = False  # send provider_data with a receipt (54-FZ) when the shop needs it
    yookassa_vat_code: int = Field(default=1, ge=1, le=6)
    paysupport_text: str | None = None  # None: the locale's default text
    terms_text: str | None = None
    manual_transfer_enabled: bool = False
    manual_transfer_details: str = ""  # card / account number and recipient, shown to the user as is
    manual_auto_approve_below_rub: Decimal = Field(default=Decimal("0"), ge=0)  # 0: never auto-approve
    manual_min_rub: Decimal = Field(default=Decimal("100"), ge=0)

    # growth
    referral_percent: Decimal = Field(default=Decimal("10"), ge=0, le=100)
    bot_username: str | None = None  # for referral links; asked from getMe when unset

    # admin and operator tools
    broadcast_rate_per_s: float = Field(default=25.0, gt=0, le=1000)
    kie_balance_poll_seconds: float = Field(default=300.0, ge=5)
    kie_balance_alert_credits: Decimal = Field(default=Decimal("1000"), ge=0)
    failure_alert_rate: float = Field(default=0.5, gt=0, le=1)
    failure_alert_min_count: int = Field(default=5, ge=1)
    admin_link_ttl_seconds: int = Field(default=600, ge=30)
    admin_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    admin_web_base_url: str | None = None  # where /web links point; defaults to WEBHOOK_BASE_URL or the local port

    # free tier and limits
    free_tier_size: int = Field(default=5, ge=0, le=50)
    free_per_model_per_day: int = Field(default=5, ge=0)
    free_per_model_per_hour: int = Field(default=2, ge=0)
    free_daily_credit_cap: Decimal = Field(default=Decimal("2000"), ge=0)
    max_concurrent_generations: int = Field(default=2, ge=1, le=50)

    # logging
    log_format: Literal["json", "text"] = "text"
    log_level: str = "INFO"

    @field_validator(
        "redis_url", "telegram_bot_token", "webhook_base_url", "webhook_secret", "kie_api_key",
        "kie_callback_hmac_key", "metrics_token", "yookassa_provider_token", "paysupport_text", "terms_text",
        "bot_username", "admin_web_base_url", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            return tuple(int(p) for p in parts)
        if isinstance(value, int):
            return (value,)
        return value

    @field_validator("stars_packs", "yookassa_packs_rub", mode="before")
    @classmethod
    def _parse_packs(cls, value: object) -> object:
        if isinstance(value, str):
            packs = tuple(int(p.strip()) for p in value.replace(";", ",").split(",") if p.strip())
            if any(p <= 0 for p in packs):
                raise ValueError("packs must be positive whole numbers")
            return packs
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        # Hosting platforms (Render, Heroku) hand out postgres:// and postgresql:// URLs: use asyncpg for them.
        for plain in ("postgres://", "postgresql://"):
            if value.startswith(plain):
                value = "postgresql+asyncpg://" + value[len(plain) :]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("telegram_api_base", "kie_api_base", "kie_upload_base", "webhook_base_url", "admin_web_base_url")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @cached_property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def start_bonus_kopecks(self) -> int:
        return int(self.start_bonus_rub * 100)

    def sqlite_path(self) -> Path | None:
        """Filesystem path of the SQLite database, if it is a file database."""
        if not self.database_url.startswith("sqlite"):
            return None
        path = self.database_url.split(":///", 1)[-1]
        if not path or path == ":memory:":
            return None
        return Path(path)


def load_settings(**overrides: object) -> Settings:
    """Build settings or raise `SettingsError` naming every wrong variable in one line each."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            lines.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(lines)) from None
