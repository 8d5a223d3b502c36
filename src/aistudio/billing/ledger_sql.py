"""The ledger's statements: plain SQL shared by SQLite and PostgreSQL (see `aistudio.db.rawsql`)."""

from __future__ import annotations

from aistudio.db.rawsql import Sql

AVAILABLE = "credits_posted - debits_posted - debits_pending"

# The outcome of a key, whether it moved money or was refused; at most one row.
FIND_KEY = Sql(
    "SELECT 't', id, kind, amount, status, debit_account_id, credit_account_id, 0, '' "
    "FROM ledger_transfers WHERE idempotency_key = :key "
    "UNION ALL "
    "SELECT 'r', 0, kind, amount, '', 0, 0, shortfall, error "
    "FROM ledger_rejections WHERE idempotency_key = :key"
)
OPERATOR_OF = Sql("SELECT id FROM ledger_accounts WHERE code = :code")
OPEN_OPERATOR = Sql(
    "INSERT INTO ledger_accounts (code, kind, credits_posted, debits_posted, debits_pending, created_at) "
    "VALUES (:code, 'operator', 0, 0, 0, :now) ON CONFLICT (code) DO NOTHING"
)
WALLET_OF = Sql("SELECT id FROM ledger_accounts WHERE user_id = :user_id")
RESERVE = Sql(
    f"UPDATE ledger_accounts SET debits_pending = debits_pending + :amount "
    f"WHERE id = :wallet AND {AVAILABLE} >= :amount RETURNING id"
)
SPEND = Sql(
    f"UPDATE ledger_accounts SET debits_posted = debits_posted + :amount "
    f"WHERE id = :wallet AND {AVAILABLE} >= :amount RETURNING id"
)
ADD = Sql("UPDATE ledger_accounts SET credits_posted = credits_posted + :amount WHERE id = :wallet")
SETTLE_PENDING = Sql(
    "UPDATE ledger_accounts SET debits_pending = debits_pending - :held, "
    "debits_posted = debits_posted + :charged WHERE id = :wallet"
)
AVAILABLE_OF = Sql(f"SELECT {AVAILABLE} FROM ledger_accounts WHERE id = :wallet")

# Resolve a pending hold in one statement; no row back means not found, already resolved, or too small.
CLOSE_HOLD = Sql(
    "UPDATE ledger_transfers SET status = :new_status "
    "WHERE idempotency_key = :hold_key AND kind = 'hold' AND status = 'pending' AND amount >= :at_least "
    "RETURNING id, debit_account_id, credit_account_id, amount"
)
FIND_HOLD = Sql("SELECT kind, status, amount FROM ledger_transfers WHERE idempotency_key = :hold_key")

INSERT_TRANSFER = Sql(
    "INSERT INTO ledger_transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount, "
    "status, pending_id, reason, meta, expires_at, created_at) VALUES (:key, :kind, :debit, :credit, "
    ":amount, :status, :pending_id, :reason, :meta, :expires_at, :created_at) RETURNING id"
)
DELETE_TRANSFER = Sql("DELETE FROM ledger_transfers WHERE id = :id")
INSERT_REJECTION = Sql(
    "INSERT INTO ledger_rejections (idempotency_key, kind, error, amount, shortfall, created_at) "
    "VALUES (:key, :kind, :error, :amount, :shortfall, :created_at) ON CONFLICT (idempotency_key) DO NOTHING"
)
INSERT_AUDIT = Sql(
    'INSERT INTO admin_audit (admin_id, action, target, "before", "after", reason, created_at) '
    "VALUES (:admin_id, :action, :target, :before, :after, :reason, :created_at)"
)
STALE_HOLDS = Sql(
    "SELECT id, idempotency_key FROM ledger_transfers WHERE status = 'pending' AND expires_at < :now "
    "ORDER BY expires_at LIMIT :limit"
)

# PostgreSQL: a hold, and a capture or release, each as ONE statement (data-modifying CTEs), committed by the
# server as it runs. The wallet's row lock is then held for server-side work only, never across a round trip
# to the client — the difference between ~100 and several hundred operations per second on one busy wallet.
# (Every data-modifying CTE runs to completion whether or not the main query reads it; a unique violation on
# the INSERT undoes the whole statement.) A key refused before is refused by the statement itself (NOT EXISTS),
# so the common case needs no separate lookup of the key: one round trip per operation.
PG_HOLD = Sql(
    "WITH r AS (UPDATE ledger_accounts SET debits_pending = debits_pending + :amount::bigint "
    f"WHERE id = :wallet::bigint AND {AVAILABLE} >= :amount::bigint "
    "AND NOT EXISTS (SELECT 1 FROM ledger_rejections WHERE idempotency_key = :key::varchar) RETURNING id) "
    "INSERT INTO ledger_transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount, status, "
    "pending_id, reason, meta, expires_at, created_at) "
    "SELECT :key::varchar, 'hold', r.id, :credit::bigint, :amount::bigint, 'pending', NULL, :reason::text, "
    ":meta::json, :expires_at::timestamptz, :created_at::timestamptz FROM r RETURNING id"
)
PG_RESOLVE = Sql(
    "WITH h AS (UPDATE ledger_transfers SET status = :new_status::varchar WHERE idempotency_key = :hold_key::varchar "
    "AND kind = 'hold' AND status = 'pending' AND amount >= :at_least::bigint "
    "AND NOT EXISTS (SELECT 1 FROM ledger_rejections WHERE idempotency_key = :key::varchar) "
    "RETURNING id, debit_account_id, credit_account_id, amount), "
    "c AS (SELECT h.*, CASE WHEN :capture::boolean THEN COALESCE(:charged::bigint, h.amount) ELSE 0 END AS charged "
    "FROM h), "
    "w AS (UPDATE ledger_accounts a SET debits_pending = a.debits_pending - c.amount, "
    "debits_posted = a.debits_posted + c.charged FROM c WHERE a.id = c.debit_account_id RETURNING a.id) "
    "INSERT INTO ledger_transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount, status, "
    "pending_id, reason, meta, expires_at, created_at) "
    "SELECT :key::varchar, :kind::varchar, c.debit_account_id, c.credit_account_id, "
    "CASE WHEN :capture::boolean THEN c.charged ELSE c.amount END, :status::varchar, c.id, :reason::text, NULL, NULL, "
    ":now::timestamptz FROM c RETURNING id, debit_account_id, credit_account_id, amount"
)
