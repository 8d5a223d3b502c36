"""Invoices and the pre-checkout verdict: only the payer's open, unexpired, unchanged invoice may be paid."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.config import Settings, load_settings
from aistudio.db.repo.users import upsert_user
from aistudio.db.sql import utcnow
from aistudio.payments import checkout
from aistudio.payments import invoices as inv
from aistudio.payments.packs import stars_pack
from aistudio.payments.topups import TopupService

USER = 4101


def settings(**overrides: object) -> Settings:
    return load_settings(database_url="sqlite+aiosqlite:///:memory:", **overrides)


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    async with engine.begin() as conn:
        for user in (USER, USER + 1):
            await upsert_user(conn, user, first_name="Anna")
    for user in (USER, USER + 1):
        await ledger.accounts.open_wallet(user)
    return engine


async def test_invoice_is_recorded_with_an_unguessable_payload_and_found_by_it(db: AsyncEngine) -> None:
    pack = stars_pack(settings(), 100)
    first = await inv.create_invoice(db, USER, pack, ttl_seconds=600)
    second = await inv.create_invoice(db, USER, pack, ttl_seconds=600)

    found = await inv.find_invoice(db, first.payload)

    assert first.payload != second.payload and len(first.payload) >= 22
    assert found is not None and (found.user_id, found.amount, found.credit_kopecks, found.status) == (
        USER, 100, 130_00, "open"
    )  # fmt: skip
    assert found.expires_at - found.created_at == timedelta(seconds=600)
    assert await inv.find_invoice(db, "no-such-payload") is None and await inv.find_invoice(db, "x" * 200) is None


def test_pre_checkout_verdicts() -> None:
    s = settings()
    now = utcnow()
    good = inv.Invoice(
        id=1, payload="p", user_id=USER, provider="stars", pack="100", currency="XTR", amount=100,
        credit_kopecks=130_00, status="open", created_at=now, expires_at=now + timedelta(minutes=5),
    )  # fmt: skip

    def verdict(
        invoice: inv.Invoice | None, *, user: int = USER, currency: str = "XTR", total: int = 100
    ) -> str | None:
        return checkout.pre_checkout_verdict(invoice, s, user_id=user, currency=currency, total_amount=total, now=now)

    assert verdict(good) is None
    assert verdict(None) == "unknown"
    assert verdict(good, user=USER + 1) == "not_yours"
    assert verdict(replace(good, status="paid")) == "already_paid"
    assert verdict(replace(good, status="expired")) == "expired"
    assert verdict(replace(good, expires_at=now)) == "expired"
    assert verdict(good, total=99) == "amount" and verdict(good, currency="RUB") == "amount"
    assert verdict(replace(good, credit_kopecks=150_00)) == "changed"  # priced otherwise than settings say now
    # A pack the settings no longer offer:
    assert checkout.pre_checkout_verdict(
        replace(good, pack="999", amount=999), s, user_id=USER, currency="XTR", total_amount=999, now=now
    ) == "changed"  # fmt: skip


async def test_expired_invoice_is_marked_at_pre_checkout(db: AsyncEngine) -> None:
    invoice = await inv.create_invoice(
        db, USER, stars_pack(settings(), 50), ttl_seconds=60, now=utcnow() - timedelta(minutes=2)
    )

    reason = await checkout.check_pre_checkout(
        db, settings(), payload=invoice.payload, user_id=USER, currency="XTR", total_amount=50
    )

    assert reason == "expired"
    assert (await inv.find_invoice(db, invoice.payload)).status == "expired"  # type: ignore[union-attr]


async def test_payment_is_credited_once_and_a_mismatch_never(db: AsyncEngine) -> None:
    topups = TopupService(db, Ledger(db))
    invoice = await inv.create_invoice(db, USER, stars_pack(settings(), 100), ttl_seconds=600)
    facts = checkout.PaymentFacts(USER, "XTR", 100, invoice.payload, "charge-1")

    first = await checkout.accept_payment(db, topups, facts)
    again = await checkout.accept_payment(db, topups, facts)
    other_user = await checkout.accept_payment(db, topups, replace(facts, user_id=USER + 1, charge_id="charge-2"))
    wrong = await checkout.accept_payment(db, topups, replace(facts, total_amount=1, charge_id="charge-3"))
    wrong_again = await checkout.accept_payment(db, topups, replace(facts, total_amount=1, charge_id="charge-3"))
    unknown = await checkout.accept_payment(db, topups, replace(facts, payload="forged", charge_id="charge-4"))

    assert (first.kind, first.amount_kopecks, first.first_time) == ("credited", 130_00, True)
    assert (again.kind, again.payment_id, again.first_time) == ("duplicate", first.payment_id, False)
    assert (other_user.kind, other_user.reason) == ("rejected", "not_yours")
    assert (wrong.kind, wrong.reason, wrong.first_time, wrong_again.first_time) == ("rejected", "amount", True, False)
    assert (unknown.kind, unknown.reason) == ("rejected", "unknown")
    assert (await wallet_balance(db, USER)).available == 130_00
    assert (await wallet_balance(db, USER + 1)).available == 0
    assert (await inv.find_invoice(db, invoice.payload)).status == "paid"  # type: ignore[union-attr]
    assert (await check_invariants(db)).ok
