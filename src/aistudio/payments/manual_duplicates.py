"""Duplicate manual-transfer receipts: the same image bytes, or the same transaction id read by OCR, as any
earlier request. Submissions that could repeat each other are serialised, so two copies sent at once never
both come out unflagged, and every copy points at the first request, not at another copy."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aistudio.db.tables import topup_requests


def image_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lock_key(kind: str, value: str) -> int:
    return int.from_bytes(hashlib.sha256(f"topup_request:{kind}:{value}".encode()).digest()[:8], "big", signed=True)


async def serialise_duplicates(conn: AsyncConnection, digest: str, txn_id: str | None) -> None:
    """Make a submission wait for any concurrent one with the same image or transaction id (until it commits),
    so the duplicate check after this sees it. PostgreSQL: transaction-scoped advisory locks, taken in a fixed
    order (no deadlock between two submissions sharing both keys). SQLite: BEGIN IMMEDIATE already serialises."""
    if conn.dialect.name != "postgresql":
        return
    keys = {_lock_key("image", digest)} | ({_lock_key("txn", txn_id)} if txn_id else set())
    for key in sorted(keys):
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def earlier_duplicate(conn: AsyncConnection, digest: str, txn_id: str | None) -> int | None:
    """The earliest request with the same image (else transaction id), or the original it repeats."""
    same_image = sa.select(sa.func.min(topup_requests.c.id)).where(topup_requests.c.image_sha256 == digest)
    found = (await conn.execute(same_image)).scalar()
    if found is None and txn_id:
        same_txn = sa.select(sa.func.min(topup_requests.c.id)).where(topup_requests.c.ocr_txn_id == txn_id)
        found = (await conn.execute(same_txn)).scalar()
    if found is None:
        return None
    root = sa.select(sa.func.coalesce(topup_requests.c.duplicate_of, topup_requests.c.id))
    return int((await conn.execute(root.where(topup_requests.c.id == found))).scalar_one())
