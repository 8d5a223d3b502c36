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
    Column("banned_notice_at", Ts),  # a banned user is told once; later updates get no answer at all
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
    # Set once the after-top-up effects (promo bonus, referral reward) have run; a sweep finishes the rest.
    Column("settled_at", Ts),
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


# ---- payments and growth (0002) ------------------------------------------------------------------------

invoices = Table(
    "invoices",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("payload", String(64), nullable=False, unique=True),  # the invoice_payload Telegram echoes back
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("provider", String(16), nullable=False),  # stars | yookassa
    Column("pack", String(32), nullable=False),  # a pack code from settings, or "custom"
    Column("currency", String(8), nullable=False),  # XTR | RUB
    Column("amount", BigInteger, nullable=False),  # total_amount in the currency's smallest units
    Column("credit_kopecks", BigInteger, nullable=False),  # what the wallet receives when it is paid
    Column("status", String(16), nullable=False),  # open | paid | expired | mismatch
    Column("promo_code", String(32)),
    Column("payment_id", BigInteger),
    Column("created_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False),
    Column("paid_at", Ts),
)
Index("ix_invoices_user_created", invoices.c.user_id, invoices.c.created_at)

topup_requests = Table(
    "topup_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("image_sha256", String(64), nullable=False),
    Column("image_file_id", String(256), nullable=False),
    Column("ocr_amount_kopecks", BigInteger),
    Column("ocr_txn_id", String(64)),
    Column("ocr_date", String(32)),
    Column("ocr_text", Text),
    Column("duplicate_of", BigInteger),
    Column("amount_kopecks", BigInteger),  # what was credited on approval
    Column("decided_by", BigInteger),
    Column("decided_at", Ts),
    Column("reason", Text),
    Column("payment_id", BigInteger),
    Column("admin_messages", JSON),  # [[chat_id, message_id], ...] to edit once decided
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
)
Index("ix_topup_requests_image", topup_requests.c.image_sha256)
Index("ix_topup_requests_txn", topup_requests.c.ocr_txn_id)
Index("ix_topup_requests_status_created", topup_requests.c.status, topup_requests.c.created_at)
Index("ix_topup_requests_user_created", topup_requests.c.user_id, topup_requests.c.created_at)

promo_codes = Table(
    "promo_codes",
    metadata,
    Column("code", String(32), primary_key=True),  # stored upper-case
    Column("kind", String(16), nullable=False),  # fixed | percent
    Column("amount_kopecks", BigInteger, nullable=False, server_default="0"),
    Column("percent", Integer, nullable=False, server_default="0"),
    Column("max_uses", Integer),
    Column("uses", Integer, nullable=False, server_default="0"),
    Column("expires_at", Ts),
    Column("is_active", Boolean, nullable=False, server_default="1"),
    Column("created_by", BigInteger),
    Column("created_at", Ts, nullable=False),
)

promo_redemptions = Table(
    "promo_redemptions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("code", String(32), ForeignKey("promo_codes.code"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("status", String(16), nullable=False),  # credited | pending (percent, waits for a top-up) | applied
    Column("amount_kopecks", BigInteger, nullable=False, server_default="0"),
    Column("payment_id", BigInteger),
    Column("created_at", Ts, nullable=False),
    Column("applied_at", Ts),
    UniqueConstraint("code", "user_id", name="uq_promo_redemptions_code_user"),
)
Index("ix_promo_redemptions_user", promo_redemptions.c.user_id, promo_redemptions.c.status)
# At most one percentage code per top-up, even when its hook runs twice at once.
Index("uq_promo_redemptions_payment", promo_redemptions.c.payment_id, unique=True)

referral_rewards = Table(
    "referral_rewards",
    metadata,
    Column("payment_id", BigInteger, primary_key=True, autoincrement=False),  # one reward per top-up
    Column("referrer_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("referee_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("amount_kopecks", BigInteger, nullable=False),
    Column("created_at", Ts, nullable=False),
)
Index("ix_referral_rewards_referrer", referral_rewards.c.referrer_id)
Index("ix_users_referred_by", users.c.referred_by)

# ---- admin and operator tools (0002) -------------------------------------------------------------------

broadcasts = Table(
    "broadcasts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("admin_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # draft | running | paused | cancelled | done
    Column("text", Text, nullable=False),
    Column("photo_file_id", String(256)),
    Column("button_text", String(64)),
    Column("button_url", String(512)),
    Column("segment", String(32), nullable=False),  # all | active7 | active30 | paid | balance | lang:<code>
    Column("rate_per_s", Numeric(8, 2), nullable=False),
    Column("total", Integer, nullable=False, server_default="0"),
    Column("sent", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("blocked", Integer, nullable=False, server_default="0"),
    Column("progress_chat_id", BigInteger),
    Column("progress_message_id", BigInteger),
    Column("lease_owner", String(64)),
    Column("lease_until", Ts),
    Column("created_at", Ts, nullable=False),
    Column("started_at", Ts),
    Column("finished_at", Ts),
    Column("updated_at", Ts, nullable=False),
)

broadcast_recipients = Table(
    "broadcast_recipients",
    metadata,
    Column("broadcast_id", BigInteger, ForeignKey("broadcasts.id"), primary_key=True),
    Column("user_id", BigInteger, primary_key=True),
    Column("status", String(16), nullable=False),  # pending | sending | sent | failed | blocked
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("message_id", BigInteger),
    Column("updated_at", Ts),
)
Index("ix_broadcast_recipients_status", broadcast_recipients.c.broadcast_id, broadcast_recipients.c.status)

admin_login_tokens = Table(
    "admin_login_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the one-time token; the token is never stored
    Column("admin_id", BigInteger, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False),
    Column("used_at", Ts),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),  # sha256 of the cookie value
    Column("admin_id", BigInteger, nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False),
    Column("last_seen_at", Ts, nullable=False),
)

alert_state = Table(
    "alert_state",
    metadata,
    Column("key", String(128), primary_key=True),  # e.g. kie:balance_low, model_failures:<model>
    Column("value", JSON),
    Column("updated_at", Ts, nullable=False),
)

# ---- admin dashboard (0002): each dashboard figure reads a time range from one of these ----------------
Index("ix_users_created", users.c.created_at)
Index("ix_users_last_seen", users.c.last_seen_at)
# Covering: per-day counts by state, top models and Kie spend are answered from the index alone.
Index(
    "ix_generations_stats",
    generations.c.created_at,
    generations.c.state,
    generations.c.model_id,
    generations.c.credits,
    generations.c.fx_rub_per_usd,
)
# Covering: revenue (posted transfers into or out of the REVENUE account) per day.
Index(
    "ix_ledger_transfers_posted",
    ledger_transfers.c.status,
    ledger_transfers.c.created_at,
    ledger_transfers.c.credit_account_id,
    ledger_transfers.c.debit_account_id,
    ledger_transfers.c.amount,
)
Index("ix_generations_updated", generations.c.updated_at)  # which closed days' rollups a change made stale

# Exact per-day rollups of closed UTC days (see aistudio.admin.stats_rollup): the dashboard reads these
# instead of re-aggregating a month of generations and transfers on every view.
stats_days = Table(
    "stats_days",
    metadata,
    Column("day", String(10), primary_key=True),  # ISO date, UTC
    Column("revenue_kopecks", BigInteger, nullable=False),
    Column("checked_at", Ts, nullable=False),  # no generation of the day changed after this (less a margin)
)

stats_day_generations = Table(
    "stats_day_generations",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("model_id", String(128), primary_key=True),
    Column("state", String(16), primary_key=True),
    Column("fx_rub_per_usd", Numeric(12, 4), primary_key=True),
    Column("launched", Integer, nullable=False),
    Column("credits", Credits, nullable=False),
)
