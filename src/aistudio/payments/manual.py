"""Manual transfers: a user's receipt screenshot becomes a pending top-up request that an admin decides.

Nothing is credited without a decision: `approve` moves a request pending → approved in one conditional
UPDATE (two admins pressing Approve at once: one wins, the other learns who decided), then credits it through
`TopupService.credit` under the external id `request:<id>`, so even a retry credits once. A crash between
the two leaves an approved request without a payment, which `settle` credits. Duplicates — the same image
bytes, or the same transaction id read by OCR, as any earlier request of any user — are marked with
`duplicate_of` for the admin to see; submissions that could be duplicates of each other are serialised (an
advisory lock keyed by the image hash and the transaction id on PostgreSQL, BEGIN IMMEDIATE on SQLite), so two
copies sent at once never both come out unflagged. An optional auto-approve (MANUAL_AUTO_APPROVE_BELOW_RUB > 0)
approves, in the same locked transaction, small non-duplicate requests of users who already had a manual top-up
approved, and only when OCR read a transaction id no other request (unless rejected) carries: a re-encoded or
cropped screenshot (new hash, no id read) always waits for an admin. Approve compares-and-sets the amount too:
a stale button never overrides another admin's correction. Every decision is written to `admin_audit`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aistudio.db.sql import as_utc, utcnow
from aistudio.db.tables import admin_audit, topup_requests
from aistudio.payments.manual_duplicates import earlier_duplicate, image_sha256, serialise_duplicates
from aistudio.payments.ocr import MAX_AMOUNT_KOPECKS, OcrResult
from aistudio.payments.topups import TopupService

AUTO_APPROVER = 0  # `decided_by` / audit `admin_id` of an automatic approval
OCR_TEXT_LIMIT = 4000


@dataclass(frozen=True)
class TopupRequest:
    id: int
    user_id: int
    status: str  # pending | approved | rejected
    image_sha256: str
    image_file_id: str
    ocr_amount_kopecks: int | None
    ocr_txn_id: str | None
    ocr_date: str | None
    duplicate_of: int | None
    duplicate_kind: str | None  # "image" or "txn" when duplicate_of is set
    amount_kopecks: int | None  # an admin's edit while pending; what was credited once approved
    decided_by: int | None
    decided_at: datetime | None
    reason: str | None
    payment_id: int | None
    admin_messages: list[tuple[int, int]] = field(default_factory=list)
    created_at: datetime | None = None

    @property
    def proposed_kopecks(self) -> int | None:
        """What Approve would credit now: an admin's edited amount, else the recognised one."""
        return self.amount_kopecks if self.amount_kopecks is not None else self.ocr_amount_kopecks

    @property
    def auto_approved(self) -> bool:
        return self.status == "approved" and self.decided_by == AUTO_APPROVER


@dataclass(frozen=True)
class Decision:
    request: TopupRequest
    decided_now: bool  # False: someone decided it before (request.decided_by says who); nothing changed
    # Still pending, but its amount is no longer the one on the button (another admin edited it): nothing changed.
    stale_amount: bool = False


class AlreadyDecided(Exception):
    def __init__(self, request: TopupRequest) -> None:
        super().__init__(f"top-up request {request.id} is {request.status}")
        self.request = request


class UnknownRequest(LookupError):
    pass


def parse_rub_amount(text: str) -> int | None:
    """An admin's typed amount in roubles ("1500", "1 500,50 ₽", "99.9") → kopecks; None unless a positive sum."""
    cleaned = re.sub(r"(₽|руб\.?|р\.?|rub)$", "", text.strip().lower()).strip()
    cleaned = re.sub(r"[\s\u00a0\u202f]", "", cleaned).replace(",", ".")
    if not re.fullmatch(r"\d{1,9}(\.\d{1,2})?", cleaned):
        return None
    try:
        kopecks = int(Decimal(cleaned) * 100)
    except InvalidOperation:
        return None
    return kopecks if 0 < kopecks <= MAX_AMOUNT_KOPECKS else None


class ManualTopups:
    def __init__(self, engine: AsyncEngine, topups: TopupService, *, auto_approve_below_kopecks: int = 0) -> None:
        self.engine = engine
        self.topups = topups
        self.auto_approve_below_kopecks = auto_approve_below_kopecks

    # --- reading ---------------------------------------------------------------------------------------

    async def get(self, request_id: int) -> TopupRequest | None:
        async with self.engine.connect() as conn:
            return await self._get(conn, request_id)

    async def pending(self, *, limit: int = 20) -> list[TopupRequest]:
        """Oldest first: the ones waiting longest are decided first."""
        async with self.engine.connect() as conn:
            ids = (
                await conn.execute(
                    sa.select(topup_requests.c.id)
                    .where(topup_requests.c.status == "pending")
                    .order_by(topup_requests.c.created_at, topup_requests.c.id)
                    .limit(limit)
                )
            ).scalars()
            return [r for i in list(ids) if (r := await self._get(conn, i)) is not None]

    async def count_pending(self) -> int:
        async with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(topup_requests).where(topup_requests.c.status == "pending")
            return int((await conn.execute(query)).scalar_one())

    # --- a new request ---------------------------------------------------------------------------------

    async def submit(self, *, user_id: int, image: bytes, file_id: str, ocr: OcrResult) -> TopupRequest:
        """Record a pending request (flagging a duplicate); auto-approve it when the rules allow."""
        digest = image_sha256(image)
        fields = ocr.fields
        amount, txn_id = fields.amount_kopecks, fields.txn_id
        now = utcnow()
        async with self.engine.begin() as conn:
            await serialise_duplicates(conn, digest, txn_id)
            duplicate_of = await earlier_duplicate(conn, digest, txn_id)
            inserted = await conn.execute(
                sa.insert(topup_requests).values(
                    user_id=user_id, status="pending", image_sha256=digest, image_file_id=file_id,
                    ocr_amount_kopecks=amount, ocr_txn_id=txn_id, ocr_date=fields.date,
                    ocr_text=(ocr.text or ocr.error or "")[:OCR_TEXT_LIMIT], duplicate_of=duplicate_of,
                    admin_messages=[], created_at=now, updated_at=now,
                ).returning(topup_requests.c.id)
            )  # fmt: skip
            request_id = inserted.scalar_one()
            auto = (
                self.auto_approve_below_kopecks > 0
                and amount is not None
                and amount < self.auto_approve_below_kopecks
                and txn_id is not None
                and duplicate_of is None
                and await self._auto_approve(conn, request_id, user_id, amount, txn_id, now)
            )
        if auto:
            await self._credit(request_id)
        request = await self.get(request_id)
        assert request is not None
        return request

    async def _auto_approve(
        self, conn: AsyncConnection, request_id: int, user_id: int, amount: int, txn_id: str, now: datetime
    ) -> bool:
        """pending → approved by AUTO_APPROVER, guarded in the statement itself: the user is a repeat payer and no
        other request (unless rejected) carries this transaction id."""
        earlier = topup_requests.alias("earlier")
        same_txn = sa.exists().where(
            earlier.c.ocr_txn_id == txn_id, earlier.c.id != request_id, earlier.c.status != "rejected"
        )
        repeat_payer = sa.exists().where(
            earlier.c.user_id == user_id, earlier.c.status == "approved", earlier.c.id != request_id
        )
        won = await conn.execute(
            sa.update(topup_requests)
            .where(topup_requests.c.id == request_id, topup_requests.c.status == "pending", ~same_txn, repeat_payer)
            .values(status="approved", amount_kopecks=amount, decided_by=AUTO_APPROVER, decided_at=now)
        )
        if won.rowcount == 0:
            return False
        await _audit(
            conn, AUTO_APPROVER, "topup.auto_approve", request_id,
            {"status": "pending", "ocr_amount_kopecks": amount}, {"status": "approved", "amount_kopecks": amount},
        )  # fmt: skip
        return True

    # --- decisions -------------------------------------------------------------------------------------

    async def set_amount(self, request_id: int, admin_id: int, amount_kopecks: int) -> TopupRequest:
        """An admin's correction of the amount before approving; raises AlreadyDecided once decided."""
        if not 0 < amount_kopecks <= MAX_AMOUNT_KOPECKS:
            raise ValueError("the amount must be positive")
        async with self.engine.begin() as conn:
            before = await self._require(conn, request_id)
            changed = await conn.execute(
                sa.update(topup_requests)
                .where(topup_requests.c.id == request_id, topup_requests.c.status == "pending")
                .values(amount_kopecks=amount_kopecks, updated_at=utcnow())
            )
            if changed.rowcount == 0:
                raise AlreadyDecided(before)
            await _audit(
                conn, admin_id, "topup.amount_edit", request_id,
                {"amount_kopecks": before.proposed_kopecks}, {"amount_kopecks": amount_kopecks},
            )  # fmt: skip
            return await self._require(conn, request_id)

    async def approve(self, request_id: int, admin_id: int, amount_kopecks: int) -> Decision:
        """pending → approved with `amount_kopecks`, then credit it once; a decided request stays as it is.

        `amount_kopecks` is the amount the admin saw on the button: it must still be the proposed one (the edited
        amount, else the recognised one), so a stale copy never overrides another admin's correction.
        """
        if not 0 < amount_kopecks <= MAX_AMOUNT_KOPECKS:
            raise ValueError("the amount must be positive")
        now = utcnow()
        proposed = sa.func.coalesce(topup_requests.c.amount_kopecks, topup_requests.c.ocr_amount_kopecks)
        async with self.engine.begin() as conn:
            before = await self._require(conn, request_id)
            won = await conn.execute(
                sa.update(topup_requests)
                .where(topup_requests.c.id == request_id, topup_requests.c.status == "pending")
                .where(proposed == amount_kopecks)
                .values(status="approved", amount_kopecks=amount_kopecks, decided_by=admin_id, decided_at=now)
                .values(updated_at=now)
            )
            if won.rowcount == 0:
                now_is = await self._require(conn, request_id)
                return Decision(now_is, decided_now=False, stale_amount=now_is.status == "pending")
            await _audit(
                conn, admin_id, "topup.approve", request_id,
                {"status": "pending", "ocr_amount_kopecks": before.ocr_amount_kopecks},
                {"status": "approved", "amount_kopecks": amount_kopecks},
            )  # fmt: skip
        await self._credit(request_id)
        request = await self.get(request_id)
        assert request is not None
        return Decision(request, decided_now=True)

    async def reject(self, request_id: int, admin_id: int, reason: str | None = None) -> Decision:
        reason = (reason or "").strip()[:500] or None
        now = utcnow()
        async with self.engine.begin() as conn:
            await self._require(conn, request_id)  # UnknownRequest for a bad id
            won = await conn.execute(
                sa.update(topup_requests)
                .where(topup_requests.c.id == request_id, topup_requests.c.status == "pending")
                .values(status="rejected", decided_by=admin_id, decided_at=now, reason=reason, updated_at=now)
            )
            if won.rowcount == 0:  # read after the update: it shows the decision that won
                return Decision(await self._require(conn, request_id), decided_now=False)
            after = {"status": "rejected"}
            await _audit(conn, admin_id, "topup.reject", request_id, {"status": "pending"}, after, reason)
            request = await self._require(conn, request_id)
        return Decision(request, decided_now=True)

    async def remember_admin_messages(self, request_id: int, messages: list[tuple[int, int]]) -> None:
        """Add review messages (chat id, message id) whose text is updated once the request is decided."""
        if not messages:
            return
        async with self.engine.begin() as conn:
            # The row lock (PostgreSQL; SQLite runs one writer at a time) keeps concurrent additions from
            # overwriting each other's read-modify-write of the JSON list.
            row = (
                await conn.execute(
                    sa.select(topup_requests.c.admin_messages)
                    .where(topup_requests.c.id == request_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                raise UnknownRequest(request_id)
            merged = [list(m) for m in row.admin_messages or []]
            merged += [list(m) for m in messages if list(m) not in merged]
            await conn.execute(
                sa.update(topup_requests).where(topup_requests.c.id == request_id).values(admin_messages=merged)
            )

    async def settle(self, *, older_than: timedelta = timedelta(seconds=30)) -> int:
        """Credit approved requests a crash left without their payment; returns how many were found."""
        cutoff = utcnow() - older_than
        async with self.engine.connect() as conn:
            ids = (
                await conn.execute(
                    sa.select(topup_requests.c.id).where(
                        topup_requests.c.status == "approved",
                        topup_requests.c.payment_id.is_(None),
                        topup_requests.c.updated_at < cutoff,
                    )
                )
            ).scalars()
            ids = list(ids)
        for request_id in ids:
            await self._credit(request_id)
        return len(ids)

    async def _credit(self, request_id: int) -> None:
        request = await self.get(request_id)
        if request is None or request.status != "approved" or request.amount_kopecks is None:
            return
        outcome = await self.topups.credit(
            user_id=request.user_id,
            provider="manual",
            external_id=f"request:{request.id}",
            amount_kopecks=request.amount_kopecks,
            currency="RUB",
            provider_amount=request.amount_kopecks,
            meta={
                "request_id": request.id,
                "approved_by": request.decided_by,
                "ocr_amount_kopecks": request.ocr_amount_kopecks,
                "ocr_txn_id": request.ocr_txn_id,
            },
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(topup_requests)
                .where(topup_requests.c.id == request_id, topup_requests.c.payment_id.is_(None))
                .values(payment_id=outcome.payment_id)
            )

    async def _require(self, conn: AsyncConnection, request_id: int) -> TopupRequest:
        request = await self._get(conn, request_id)
        if request is None:
            raise UnknownRequest(request_id)
        return request

    async def _get(self, conn: AsyncConnection, request_id: int) -> TopupRequest | None:
        row = (await conn.execute(sa.select(topup_requests).where(topup_requests.c.id == request_id))).first()
        if row is None:
            return None
        kind = None
        if row.duplicate_of is not None:
            original = await conn.execute(
                sa.select(topup_requests.c.image_sha256).where(topup_requests.c.id == row.duplicate_of)
            )
            kind = "image" if original.scalar() == row.image_sha256 else "txn"
        return _request(row, kind)


def _request(row: Any, duplicate_kind: str | None) -> TopupRequest:
    return TopupRequest(
        id=row.id, user_id=row.user_id, status=row.status, image_sha256=row.image_sha256,
        image_file_id=row.image_file_id, ocr_amount_kopecks=row.ocr_amount_kopecks, ocr_txn_id=row.ocr_txn_id,
        ocr_date=row.ocr_date, duplicate_of=row.duplicate_of, duplicate_kind=duplicate_kind,
        amount_kopecks=row.amount_kopecks, decided_by=row.decided_by, decided_at=as_utc(row.decided_at),
        reason=row.reason, payment_id=row.payment_id,
        admin_messages=[(int(c), int(m)) for c, m in (row.admin_messages or [])], created_at=as_utc(row.created_at),
    )  # fmt: skip


async def _audit(
    conn: AsyncConnection,
    admin_id: int,
    action: str,
    request_id: int,
    before: Any,
    after: Any,
    reason: str | None = None,
) -> None:
    await conn.execute(
        sa.insert(admin_audit).values(
            admin_id=admin_id,
            action=action,
            target=f"topup_request:{request_id}",
            before=before,
            after=after,
            reason=reason,
            created_at=utcnow(),
        )
    )
