"""A paid top-up is never acknowledged unrecorded: with the database failing, the payment is spooled to disk,
the user told it is being recorded, and the spool job (or Telegram's redelivery, in webhook mode) credits it
exactly once when the database is back; replays of a credited or mismatched payment change nothing."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from aistudio.db.rawsql import StorageUnavailable
from aistudio.db.repo.users import upsert_user
from aistudio.db.tables import processed_updates
from aistudio.payments.invoices import create_invoice
from aistudio.payments.packs import stars_pack
from aistudio.payments.spool import PAID, PaymentSpool, SpooledPayment
from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.config import DEFAULT_TOKEN
from aistudio.sandbox.telegram.config import EmulatorConfig as TelegramConfig
from aistudio.sandbox.telegram.server import create_app as create_telegram_app
from aistudio.telegram.handlers import payments as payment_handlers
from aistudio.telegram.middlewares import UserMiddleware, carries_money
from aistudio.telegram.payment_spool import replay_spool
from aistudio.web.telegram_webhook import SECRET_HEADER, WEBHOOK_PATH
from tests.e2e.harness import Bot
from tests.e2e.journey_chat import body, until, version, wait_screen
from tests.e2e.pay_support import (
    admin_texts,
    pay_and_wait,
    paying_bot,
    payment_rows,
    press_for_invoice,
    topup_screen,
    transfers_with_key,
)
from tests.ops.apps import WEBHOOK_SECRET, built_app

USER = 5301


@pytest.fixture(autouse=True)
def no_retry_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payment_handlers, "RETRY_DELAY_S", 0.0)


def spool_of(tmp_path: Path) -> PaymentSpool:
    return PaymentSpool(tmp_path / "spool" / "payments")


def spooled(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "spool" / "payments").glob("*.json"))]


async def database_down(**_: Any) -> Any:
    raise StorageUnavailable("connection refused")


async def test_payment_with_the_database_down_is_spooled_then_the_job_credits_it_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        invoice = await press_for_invoice(bot, USER, await topup_screen(bot, USER), "⭐ 100 → 130 ₽")
        topups = bot.parts.services.topups
        credit = topups.credit
        monkeypatch.setattr(topups, "credit", database_down)  # the database goes away after the pre-checkout

        paid, told = await pay_and_wait(bot, USER, invoice, "being recorded")
        [entry] = spooled(tmp_path)
        credited_while_down = await bot.available(USER)
        await until(lambda: _has_alert(bot, "saved on disk"))

        monkeypatch.setattr(topups, "credit", credit)  # the database is back
        before = await version(bot, USER)
        recorded = await replay_spool(bot.parts.services, spool_of(tmp_path), older_than_s=0)
        announced = await wait_screen(bot, USER, before, "Balance topped up")
        replayed_again = await replay_spool(bot.parts.services, spool_of(tmp_path), older_than_s=0)

        assert "Payment received (100 XTR)" in body(told) and "RQ-" in body(told)
        assert entry["charge_id"] == paid["telegram_payment_charge_id"] and entry["total_amount"] == 100
        assert credited_while_down == 0
        assert (recorded, replayed_again) == (1, 0) and spooled(tmp_path) == []
        assert "+130 ₽" in body(announced) and await bot.available(USER) == 130_00
        assert len(await transfers_with_key(bot, "topup:stars:")) == 1
        assert await bot.books_balanced()


async def test_user_middleware_failing_on_the_database_does_not_acknowledge_the_payment_unrecorded(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        invoice = await press_for_invoice(bot, USER, await topup_screen(bot, USER), "⭐ 50 → 65 ₽")
        registered = UserMiddleware.__call__

        async def failing(self: UserMiddleware, handler: Any, event: Any, data: dict[str, Any]) -> Any:
            if carries_money(event):
                raise StorageUnavailable("connection refused")
            return await registered(self, handler, event, data)

        monkeypatch.setattr(UserMiddleware, "__call__", failing)
        _, told = await pay_and_wait(bot, USER, invoice, "being recorded")
        rows_while_down = await payment_rows(bot, USER)
        monkeypatch.setattr(UserMiddleware, "__call__", registered)

        recorded = await replay_spool(bot.parts.services, spool_of(tmp_path), older_than_s=0)

        assert "Something went wrong" not in body(told) and rows_while_down == []
        assert recorded == 1 and spooled(tmp_path) == [] and await bot.available(USER) == 65_00
        assert len(await transfers_with_key(bot, "topup:stars:")) == 1
        assert await bot.books_balanced()


async def test_replaying_a_credited_or_mismatched_payment_changes_nothing(database_url: str, tmp_path: Path) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        invoice = await press_for_invoice(bot, USER, await topup_screen(bot, USER), "⭐ 100 → 130 ₽")
        paid, _ = await pay_and_wait(bot, USER, invoice, "Balance topped up")
        payload = invoice["invoice"]["payload"]
        spool = spool_of(tmp_path)
        fresh = await press_for_invoice(bot, USER, await topup_screen(bot, USER), "⭐ 50 → 65 ₽")
        credited = SpooledPayment(PAID, 1, USER, paid["telegram_payment_charge_id"], "XTR", 100, payload)
        # A spooled payment of 1 Star for the fresh 50-Star invoice: the replay checks it like the handler.
        underpaid = SpooledPayment(PAID, 2, USER, "stx-underpaid", "XTR", 1, fresh["invoice"]["payload"])
        await spool.write(credited)
        await spool.write(underpaid)

        recorded = await replay_spool(bot.parts.services, spool, older_than_s=0)

        statuses = sorted((p.external_id, p.status) for p in await payment_rows(bot, USER))
        assert recorded == 2 and spooled(tmp_path) == []
        assert statuses == sorted([(paid["telegram_payment_charge_id"], "credited"), ("stx-underpaid", "rejected")])
        assert await bot.available(USER) == 130_00
        assert len(await transfers_with_key(bot, "topup:stars:")) == 1
        await until(lambda: _has_alert(bot, "did not match its invoice"))
        assert await bot.books_balanced()


async def _has_alert(bot: Bot, text: str) -> bool:
    return any(text in t for t in await admin_texts(bot))


# --- webhook mode -------------------------------------------------------------------------------------------


def payment_update(update_id: int, user_id: int, payload: str, charge: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Anna", "language_code": "en"}
    paid = {
        "currency": "XTR",
        "total_amount": 100,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge,
        "provider_payment_charge_id": "",
    }
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Anna"},
            "from": user,
            "successful_payment": paid,
        },
    }


async def test_webhook_answers_503_unmarked_while_unrecorded_and_a_redelivery_credits_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram = TestServer(create_telegram_app(TelegramConfig(token=DEFAULT_TOKEN)), host="127.0.0.1")
    await telegram.start_server()
    tg = SandboxTelegramClient(str(telegram.make_url("")).rstrip("/"))
    base = "http://127.0.0.1:9"  # never called: updates are posted to the server below
    try:
        async with built_app(
            database_url, str(telegram.make_url("")).rstrip("/"), tmp_path,
            webhook_base_url=base, webhook_secret=WEBHOOK_SECRET,
        ) as parts:  # fmt: skip
            server = TestServer(parts.web_app, host="127.0.0.1")
            await server.start_server()
            await tg.create_user(USER, first_name="Anna", language_code="en")
            async with parts.engine.begin() as conn:
                await upsert_user(conn, USER, first_name="Anna", language="en")
            await parts.services.ledger.accounts.open_wallet(USER)
            invoice = await create_invoice(parts.engine, USER, stars_pack(parts.settings, 100), ttl_seconds=600)
            update = payment_update(77, USER, invoice.payload, "stx-webhook")
            url = str(server.make_url(WEBHOOK_PATH))

            async def post() -> httpx.Response:
                async with httpx.AsyncClient(timeout=30) as http:
                    return await http.post(url, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})

            credit = parts.services.topups.credit
            monkeypatch.setattr(parts.services.topups, "credit", database_down)
            refused = await post()
            async with parts.engine.connect() as conn:
                marked = (await conn.execute(sa.select(processed_updates.c.status))).scalars().all()
            spooled_while_down = spooled(tmp_path)

            monkeypatch.setattr(parts.services.topups, "credit", credit)
            parts.updates.stale_after = timedelta(0)  # Telegram's retry comes after the in-flight period
            redelivered = await post()
            again = await post()

            balance = await _available(parts, USER)
            told = [m["text"] for m in await tg.bot_messages(USER)]
            await server.close()

        assert refused.status_code == 503 and marked == ["received"]
        assert [e["charge_id"] for e in spooled_while_down] == ["stx-webhook"]
        assert redelivered.status_code == 200 and again.status_code == 200 and again.json().get("duplicate")
        assert balance == 130_00 and spooled(tmp_path) == []
        assert any("being recorded" in t for t in told) and any("Balance topped up" in t for t in told)
    finally:
        await tg.aclose()
        await telegram.close()


async def _available(parts: Any, user: int) -> int:
    from aistudio.billing.queries import check_invariants, wallet_balance

    assert (await check_invariants(parts.engine)).ok
    return (await wallet_balance(parts.engine, user)).available
