"""Manual transfer requests: duplicates, one credit per approval even under races, auto-approve rules, audit.

The races (`asyncio.gather`) mean something on PostgreSQL, where the statements really overlap; on SQLite every
transaction is serialised by BEGIN IMMEDIATE. The `engine` fixture runs each test on both.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.db.tables import admin_audit, ledger_transfers, payments, topup_requests
from aistudio.payments.manual import AUTO_APPROVER, AlreadyDecided, ManualTopups, parse_rub_amount
from aistudio.payments.ocr import OcrResult, ReceiptFields
from aistudio.payments.topups import TopupService, topup_key
from tests.races import open_connections
from tests.support import make_user

ADMIN, OTHER_ADMIN = 9001, 9002


@pytest.fixture
async def manual(engine: AsyncEngine) -> ManualTopups:
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    for user in (1, 2):
        await make_user(engine, ledger, user)
    return ManualTopups(engine, TopupService(engine, ledger), auto_approve_below_kopecks=50_000)


def ocr(amount: int | None = None, txn: str | None = None) -> OcrResult:
    return OcrResult("…", ReceiptFields(amount, txn, None), 0.1)


async def credits_of(engine: AsyncEngine, request_id: int) -> int:
    """Ledger transfers made for one request (its top-up key): exactly one once approved, never more."""
    async with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(
            ledger_transfers.c.idempotency_key == topup_key("manual", f"request:{request_id}")
        )
        return int((await conn.execute(query)).scalar_one())


async def manual_credits(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(ledger_transfers.c.idempotency_key.like("topup:manual:%"))
        return int((await conn.execute(query)).scalar_one())


async def repeat_payer(manual: ManualTopups, user_id: int) -> None:
    """The user had a manual top-up approved before (the first one always waits for an admin)."""
    first = await manual.submit(user_id=user_id, image=b"first-" + bytes([user_id]), file_id="f", ocr=ocr(10_000, "F1"))
    await manual.approve(first.id, ADMIN, 10_000)


async def test_same_image_or_same_transaction_id_of_any_user_is_flagged(manual: ManualTopups) -> None:
    first = await manual.submit(user_id=1, image=b"img-a", file_id="f1", ocr=ocr(150_000, "T1"))
    same_image = await manual.submit(user_id=2, image=b"img-a", file_id="f2", ocr=ocr(150_000, None))
    same_txn = await manual.submit(user_id=2, image=b"img-b", file_id="f3", ocr=ocr(150_000, "T1"))
    fresh = await manual.submit(user_id=1, image=b"img-c", file_id="f4", ocr=ocr(None, "T2"))

    assert first.duplicate_of is None and fresh.duplicate_of is None
    assert (same_image.duplicate_of, same_image.duplicate_kind) == (first.id, "image")
    assert (same_txn.duplicate_of, same_txn.duplicate_kind) == (first.id, "txn")
    assert all(r.status == "pending" for r in (first, same_image, same_txn, fresh))
    assert [r.id for r in await manual.pending()] == [first.id, same_image.id, same_txn.id, fresh.id]


async def test_two_admins_approving_at_once_credit_once(manual: ManualTopups, engine: AsyncEngine) -> None:
    request = await manual.submit(user_id=1, image=b"x", file_id="f", ocr=ocr(150_000))
    await open_connections(engine, 4)

    decisions = await asyncio.gather(*(manual.approve(request.id, admin, 150_000) for admin in (ADMIN, OTHER_ADMIN)))

    assert sorted(d.decided_now for d in decisions) == [False, True]
    winner = next(d for d in decisions if d.decided_now).request
    loser = next(d for d in decisions if not d.decided_now)
    assert loser.request.status == "approved" and loser.request.decided_by == winner.decided_by  # learns who
    assert not loser.stale_amount
    assert await credits_of(engine, request.id) == 1
    assert (await wallet_balance(engine, 1)).available == 150_000
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(payments))).scalar_one() == 1
        actions = (await conn.execute(sa.select(admin_audit.c.action))).scalars().all()
    assert actions == ["topup.approve"]
    assert (await check_invariants(engine)).ok


async def test_stale_approve_button_never_overrides_a_corrected_amount(
    manual: ManualTopups, engine: AsyncEngine
) -> None:
    misread = await manual.submit(user_id=1, image=b"m", file_id="f", ocr=ocr(1_500_000))  # 15 000 ₽ for 1 500 ₽

    await manual.set_amount(misread.id, ADMIN, 150_000)
    stale = await manual.approve(misread.id, OTHER_ADMIN, 1_500_000)  # a copy still showing the OCR amount
    forged = await manual.approve(misread.id, OTHER_ADMIN, 99_000)  # an amount nobody ever proposed
    balance_between = (await wallet_balance(engine, 1)).available
    fresh = await manual.approve(misread.id, OTHER_ADMIN, 150_000)

    assert stale.stale_amount and not stale.decided_now and stale.request.status == "pending"
    assert stale.request.proposed_kopecks == 150_000  # what the handler tells the admin and redraws
    assert forged.stale_amount and not forged.decided_now
    assert balance_between == 0
    assert fresh.decided_now and fresh.request.amount_kopecks == 150_000
    assert (await wallet_balance(engine, 1)).available == 150_000
    assert await credits_of(engine, misread.id) == 1
    assert (await check_invariants(engine)).ok


async def test_a_copy_of_a_flagged_copy_points_at_the_original(manual: ManualTopups) -> None:
    # The order a race can produce: another photo of the transfer first, then the same screenshot twice.
    original = await manual.submit(user_id=1, image=b"cropped", file_id="c", ocr=ocr(20_000, "T9"))
    first_copy = await manual.submit(user_id=1, image=b"same", file_id="a", ocr=ocr(20_000, "T9"))
    second_copy = await manual.submit(user_id=1, image=b"same", file_id="b", ocr=ocr(20_000, "T9"))

    assert original.duplicate_of is None
    assert first_copy.duplicate_of == original.id and first_copy.duplicate_kind == "txn"
    assert second_copy.duplicate_of == original.id  # not the first copy, itself a duplicate


async def test_concurrent_identical_submissions_are_flagged_and_auto_approved_at_most_once(
    manual: ManualTopups, engine: AsyncEngine
) -> None:
    await repeat_payer(manual, 1)
    await open_connections(engine, 6)

    # The same screenshot twice, and another picture of the same transfer, all at once.
    submitted = await asyncio.gather(
        manual.submit(user_id=1, image=b"same", file_id="a", ocr=ocr(20_000, "T9")),
        manual.submit(user_id=1, image=b"same", file_id="b", ocr=ocr(20_000, "T9")),
        manual.submit(user_id=1, image=b"cropped", file_id="c", ocr=ocr(20_000, "T9")),
    )

    unflagged = [r for r in submitted if r.duplicate_of is None]
    assert len(unflagged) == 1
    assert all(r.duplicate_of == unflagged[0].id for r in submitted if r is not unflagged[0])
    assert [r.status for r in submitted].count("approved") == 1 and unflagged[0].auto_approved
    assert await manual_credits(engine) == 2  # the first top-up and this one, nothing more
    assert (await wallet_balance(engine, 1)).available == 10_000 + 20_000
    assert (await check_invariants(engine)).ok


async def test_screenshot_without_a_recognised_transaction_id_is_never_auto_approved(
    manual: ManualTopups, engine: AsyncEngine
) -> None:
    await repeat_payer(manual, 1)
    original = await manual.submit(user_id=1, image=b"png-bytes", file_id="a", ocr=ocr(20_000, "T7"))

    # The same receipt re-encoded (new hash) where OCR read the amount but no transaction id.
    re_encoded = await manual.submit(user_id=1, image=b"jpeg-bytes", file_id="b", ocr=ocr(20_000, None))

    assert original.auto_approved
    assert re_encoded.status == "pending" and re_encoded.duplicate_of is None
    assert await credits_of(engine, re_encoded.id) == 0
    assert (await wallet_balance(engine, 1)).available == 10_000 + 20_000
    assert (await check_invariants(engine)).ok


async def test_review_copies_remembered_at_once_are_all_kept(manual: ManualTopups, engine: AsyncEngine) -> None:
    request = await manual.submit(user_id=1, image=b"copies", file_id="f", ocr=ocr(150_000))
    copies = [(9000 + i, 100 + i) for i in range(12)]
    await open_connections(engine, 12)

    await asyncio.gather(*(manual.remember_admin_messages(request.id, [copy]) for copy in copies))
    await manual.remember_admin_messages(request.id, [copies[0]])  # remembered twice: kept once

    remembered = (await manual.get(request.id)).admin_messages  # type: ignore[union-attr]
    assert sorted(remembered) == copies


async def test_edit_then_approve_and_reject_are_audited_and_final(manual: ManualTopups, engine: AsyncEngine) -> None:
    edited = await manual.submit(user_id=1, image=b"e", file_id="f", ocr=ocr(None))
    rejected = await manual.submit(user_id=2, image=b"r", file_id="f", ocr=ocr(99_900))

    assert (await manual.set_amount(edited.id, ADMIN, 120_050)).proposed_kopecks == 120_050
    await manual.approve(edited.id, ADMIN, 120_050)
    refusal = await manual.reject(rejected.id, OTHER_ADMIN, "  no such transfer  ")
    again = await manual.reject(edited.id, OTHER_ADMIN, "late")

    assert refusal.decided_now and refusal.request.reason == "no such transfer"
    assert not again.decided_now and again.request.status == "approved" and again.request.decided_by == ADMIN
    with pytest.raises(AlreadyDecided):
        await manual.set_amount(rejected.id, ADMIN, 1_000)
    assert (await wallet_balance(engine, 1)).available == 120_050
    assert (await wallet_balance(engine, 2)).available == 0
    async with engine.connect() as conn:
        audit = (await conn.execute(sa.select(admin_audit.c.action, admin_audit.c.admin_id))).all()
    assert sorted(audit) == [("topup.amount_edit", ADMIN), ("topup.approve", ADMIN), ("topup.reject", OTHER_ADMIN)]
    assert (await check_invariants(engine)).ok


async def test_auto_approve_only_for_repeat_payers_below_the_limit_and_not_duplicates(
    manual: ManualTopups, engine: AsyncEngine
) -> None:
    newcomer = await manual.submit(user_id=1, image=b"1", file_id="f", ocr=ocr(10_000, "A1"))
    await manual.approve(newcomer.id, ADMIN, 10_000)

    small = await manual.submit(user_id=1, image=b"2", file_id="f", ocr=ocr(20_000, "A2"))
    large = await manual.submit(user_id=1, image=b"3", file_id="f", ocr=ocr(50_000, "A3"))
    unread = await manual.submit(user_id=1, image=b"4", file_id="f", ocr=ocr(None, "A4"))
    duplicate = await manual.submit(user_id=1, image=b"5", file_id="f", ocr=ocr(20_000, "A2"))

    assert newcomer.status == "pending"  # a first-time payer always waits for an admin
    assert small.status == "approved" and small.decided_by == AUTO_APPROVER and small.auto_approved
    assert [r.status for r in (large, unread, duplicate)] == ["pending"] * 3
    assert (await wallet_balance(engine, 1)).available == 30_000
    assert (await check_invariants(engine)).ok


async def test_settle_credits_an_approval_a_crash_left_unpaid(manual: ManualTopups, engine: AsyncEngine) -> None:
    request = await manual.submit(user_id=2, image=b"c", file_id="f", ocr=ocr(70_000))
    async with engine.begin() as conn:  # the state right after the approval committed, before the credit
        await conn.execute(
            sa.update(topup_requests)
            .where(topup_requests.c.id == request.id)
            .values(status="approved", amount_kopecks=70_000, decided_by=ADMIN)
        )

    found = await manual.settle(older_than=timedelta(0))
    again = await manual.settle(older_than=timedelta(0))

    assert (found, again) == (1, 0)
    assert (await wallet_balance(engine, 2)).available == 70_000
    assert (await manual.get(request.id)).payment_id is not None  # type: ignore[union-attr]
    assert (await check_invariants(engine)).ok


@pytest.mark.parametrize(
    ("typed", "kopecks"),
    [("1500", 150_000), ("1 500,50 ₽", 150_050), ("99.9", 9_990), ("250 руб.", 25_000), ("0", None),
     ("-5", None), ("abc", None), ("1,2,3", None), ("", None), ("10000001", None)],
)  # fmt: skip
def test_typed_amount(typed: str, kopecks: int | None) -> None:
    assert parse_rub_amount(typed) == kopecks
