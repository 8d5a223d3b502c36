"""Table definitions (SQLAlchemy Core). Alembic migrations must agree with these (a test checks).

Money columns are integer kopecks (BigInteger); Kie credits are exact decimals.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# SQLite only auto-increments INTEGER PRIMARY KEY, so big ids are INTEGER there.
BigId = BigInteger().with_variant(Integer, "sqlite")
Credits = Numeric(14, 4)
Ts = DateTime(timezone=True)

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False, comment="Telegram user id"),
    Column("username", String(64)),
    Column("first_name", String(128)),
    Column("language", String(8), nullable=False, server_default="ru"),
    Column("language_explicit", Boolean, nullable=False, server_default="0"),
    Column("is_banned", Boolean, nullable=False, server_default="0"),
    Column("referral_code", String(32), unique=True),
    Column("referred_by", BigInteger, ForeignKey("users.id")),
    Column("start_payload", String(64)),
    Column("created_at", Ts, nullable=False),
    Column("last_seen_at", Ts, nullable=False),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # wallet | operator
    Column("user_id", BigInteger, ForeignKey("users.id"), unique=True),
    # Totals are kept only for accounts with a floor (wallets): the no-overdraft check needs them under a
    # row lock. Operator accounts have no floor, so their totals are summed from transfers when asked,
    # which keeps them from becoming one hot row every transfer must lock.
    Column("credits_posted", BigInteger, nullable=False, server_default="0"),
    Column("debits_posted", BigInteger, nullable=False, server_default="0"),
    Column("debits_pending", BigInteger, nullable=False, server_default="0"),
    Column("created_at", Ts, nullable=False),
    CheckConstraint("kind <> 'wallet' OR debits_posted + debits_pending <= credits_posted", name="wallet_not_negative"),
    CheckConstraint("debits_pending >= 0", name="pending_not_negative"),
)

ledger_transfers = Table(
    "ledger_transfers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(160), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # hold capture release credit debit adjust expire
    Column("debit_account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("credit_account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    # pending (a hold not yet resolved) | posted | voided (a released hold; moved no money)
    Column("status", String(16), nullable=False),
    Column("pending_id", BigInteger, ForeignKey("ledger_transfers.id")),
    Column("reason", Text),
    Column("meta", JSON),
    Column("expires_at", Ts),
    Column("created_at", Ts, nullable=False),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
)
Index("ix_ledger_transfers_debit", ledger_transfers.c.debit_account_id, ledger_transfers.c.id)
Index("ix_ledger_transfers_credit", ledger_transfers.c.credit_account_id, ledger_transfers.c.id)
Index("ix_ledger_transfers_pending_id", ledger_transfers.c.pending_id)
Index(
    "ix_ledger_transfers_open_holds",
    ledger_transfers.c.status,
    ledger_transfers.c.expires_at,
)

ledger_rejections = Table(
    "ledger_rejections",
    metadata,
    Column("idempotency_key", String(160), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("error", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("shortfall", BigInteger, nullable=False, server_default="0"),
    Column("created_at", Ts, nullable=False),
)

generations = Table(
    "generations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(16), nullable=False, unique=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("model_id", String(128), nullable=False),
    Column("family", String(32), nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("is_free", Boolean, nullable=False, server_default="0"),
    Column("credits", Credits, nullable=False),
    Column("price_kopecks", BigInteger, nullable=False),
    Column("fx_rub_per_usd", Numeric(12, 4), nullable=False),
    Column("markup", Numeric(8, 4), nullable=False),
    Column("hold_key", String(160)),
    Column("kie_task_id", String(128), unique=True),
    Column("submit_attempts", Integer, nullable=False, server_default="0"),
    Column("result_urls", JSON),
    Column("result_files", JSON),
    Column("error_class", String(48)),
    Column("kie_code", Integer),
    Column("error_message", Text),
    Column("charged_kopecks", BigInteger, nullable=False, server_default="0"),
    Column("poll_count", Integer, nullable=False, server_default="0"),
    Column("next_check_at", Ts),
    Column("deadline_at", Ts),
    Column("lease_owner", String(64)),
    Column("lease_until", Ts),
    Column("chat_id", BigInteger),
    Column("progress_message_id", BigInteger),
    Column("source_generation_id", BigInteger),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    Column("submitted_at", Ts),
    Column("completed_at", Ts),
    Column("delivered_at", Ts),
)
Index("ix_generations_user_created", generations.c.user_id, generations.c.created_at)
Index("ix_generations_state_next", generations.c.state, generations.c.next_check_at)
Index("ix_generations_created", generations.c.created_at)
Index("ix_generations_model_created", generations.c.model_id, generations.c.created_at)

generation_events = Table(
    "generation_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("generation_id", BigInteger, ForeignKey("generations.id"), nullable=False),
    Column("request_id", String(16), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("model_id", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("error_class", String(48)),
    Column("kie_code", Integer),
    Column("kie_message", Text),
    Column("credits", Credits),
    Column("price_kopecks", BigInteger),
    Column("elapsed_ms", BigInteger),
    Column("detail", JSON),
    Column("created_at", Ts, nullable=False),
)
Index("ix_generation_events_generation", generation_events.c.generation_id, generation_events.c.id)
Index("ix_generation_events_created", generation_events.c.created_at)

payments = Table(
    "payments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("provider", String(16), nullable=False),  # stars | yookassa | manual | promo
    Column("external_id", String(160)),
    Column("status", String(16), nullable=False),  # pending | credited | rejected | refunded
    Column("amount_kopecks", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("provider_amount", BigInteger, nullable=False),
    Column("payload", String(160)),
    Column("meta", JSON),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    UniqueConstraint("provider", "external_id", name="uq_payments_provider_external"),
)
Index("ix_payments_user_created", payments.c.user_id, payments.c.created_at)
Index("ix_payments_created", payments.c.created_at)

processed_updates = Table(
    "processed_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("status", String(16), nullable=False),  # received | handled | failed
    Column("received_at", Ts, nullable=False),
)

free_usage = Table(
    "free_usage",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("model_id", String(128), nullable=False),
    Column("generation_key", String(64), nullable=False, unique=True),
    Column("credits", Credits, nullable=False),
    Column("status", String(16), nullable=False),  # reserved | used | returned
    Column("created_at", Ts, nullable=False),
)
Index("ix_free_usage_user_model_created", free_usage.c.user_id, free_usage.c.model_id, free_usage.c.created_at)
Index("ix_free_usage_created", free_usage.c.created_at)

admin_audit = Table(
    "admin_audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("admin_id", BigInteger, nullable=False),
    Column("action", String(48), nullable=False),
    Column("target", String(160)),
    Column("before", JSON),
    Column("after", JSON),
    Column("reason", Text),
    Column("created_at", Ts, nullable=False),
)
Index("ix_admin_audit_created", admin_audit.c.created_at)

model_overrides = Table(
    "model_overrides",
    metadata,
    Column("model_id", String(128), primary_key=True),
    Column("enabled", Boolean),
    Column("markup", Numeric(8, 4)),
    Column("display_order", Integer),
    Column("updated_by", BigInteger),
    Column("updated_at", Ts, nullable=False),
)

fx_rates = Table(
    "fx_rates",
    metadata,
    Column("rate_date", String(10), primary_key=True),  # ISO date the rate applies to
    Column("rub_per_usd", Numeric(12, 4), nullable=False),
    Column("source", String(32), nullable=False),
    Column("fetched_at", Ts, nullable=False),
)
