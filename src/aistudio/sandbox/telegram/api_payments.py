"""Invoices and payments: sendInvoice, createInvoiceLink, pre-checkout, successful payment, refunds."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import TYPE_CHECKING, Any

from .errors import QUERY_TOO_OLD, bad_request
from .registry import ApiCall, api_method, deliver, writable_chat
from .state import InvoiceInfo

if TYPE_CHECKING:
    from .emulator import Emulator
    from .state import Chat, StoredMessage

STAR_SUBSCRIPTION_PERIOD = 2592000  # 30 days, the only period Telegram accepts


def _invoice(emu: Emulator, params: dict[str, Any]) -> InvoiceInfo:
    """Validate invoice parameters by Telegram's rules (Stars: XTR, no provider token, one price)."""
    title = str(params.get("title") or "")
    description = str(params.get("description") or "")
    payload = str(params.get("payload") or "")
    currency = str(params.get("currency") or "").upper()
    prices = params.get("prices") or []
    provider_token = params.get("provider_token") or ""
    if not 1 <= len(title) <= 32:
        raise bad_request("invoice title must be 1-32 characters long")
    if not 1 <= len(description) <= 255:
        raise bad_request("invoice description must be 1-255 characters long")
    if not 1 <= len(payload.encode("utf-8")) <= 128:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    if not prices or any(not isinstance(p, dict) or not isinstance(p.get("amount"), int) for p in prices):
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    if currency == "XTR":
        if provider_token:
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if len(prices) != 1:
            raise bad_request("STARS_INVOICE_INVALID")
        total = sum(p["amount"] for p in prices)
        if not 1 <= total <= emu.config.max_star_invoice_amount:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    else:
        if not provider_token:
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if len(currency) != 3 or not currency.isalpha():
            raise bad_request("CURRENCY_INVALID")
        if sum(p["amount"] for p in prices) <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    period = params.get("subscription_period")
    if period is not None and (currency != "XTR" or period != STAR_SUBSCRIPTION_PERIOD):
        raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
    return InvoiceInfo(
        title=title,
        description=description,
        payload=payload,
        currency=currency,
        prices=[{"label": str(p.get("label", "")), "amount": p["amount"]} for p in prices],
        provider_token=provider_token,
        start_parameter=str(params.get("start_parameter") or ""),
        subscription_period=period,
        photo_url=params.get("photo_url"),
    )


@api_method("sendInvoice")
async def send_invoice(emu: Emulator, call: ApiCall) -> Any:
    """sendInvoice: an invoice message the user can pay through ``/sandbox/users/{id}/pay``."""
    chat = writable_chat(emu, call.params.get("chat_id"))
    invoice = _invoice(emu, call.params)
    return deliver(emu, chat, call.params, {"invoice": invoice.to_api()}, invoice=invoice).data


@api_method("createInvoiceLink")
async def create_invoice_link(emu: Emulator, call: ApiCall) -> Any:
    """createInvoiceLink: a t.me/$… link the control API can pay by URL."""
    invoice = _invoice(emu, call.params)
    slug = secrets.token_urlsafe(12)
    emu.state.invoice_links[slug] = invoice
    return f"https://t.me/${slug}"


@api_method("answerPreCheckoutQuery")
async def answer_pre_checkout_query(emu: Emulator, call: ApiCall) -> Any:
    """answerPreCheckoutQuery: once, within the pre-checkout timeout (10 s in Telegram)."""
    query = emu.state.pre_checkouts.get(str(call.params.get("pre_checkout_query_id")))
    if query is None or query.expired or query.answer is not None:
        raise bad_request(QUERY_TOO_OLD)
    ok = bool(call.params.get("ok"))
    error_message = call.params.get("error_message")
    if not ok and not error_message:
        raise bad_request("error_message must be non-empty if ok is false")
    query.answer = {"ok": ok, "error_message": error_message}
    query.event.set()
    return True


@api_method("refundStarPayment")
async def refund_star_payment(emu: Emulator, call: ApiCall) -> Any:
    """refundStarPayment: once per charge; a second attempt is CHARGE_ALREADY_REFUNDED."""
    charge = emu.state.charges.get(str(call.params.get("telegram_payment_charge_id")))
    if charge is None or charge.user_id != call.params.get("user_id") or charge.currency != "XTR":
        raise bad_request("CHARGE_NOT_FOUND")
    if charge.refunded:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    charge.refunded = True
    chat = emu.state.chats.get(charge.user_id)
    if chat is not None:
        refund = {
            "currency": charge.currency,
            "total_amount": charge.total_amount,
            "invoice_payload": charge.payload,
            "telegram_payment_charge_id": charge.id,
        }
        stored = emu.state.add_message(chat, outgoing=False, content={"refunded_payment": refund})
        emu.hub.push("message", stored.data)
    return True


async def pay(
    emu: Emulator,
    chat: Chat,
    invoice: InvoiceInfo,
    message: StoredMessage | None,
    *,
    answer_timeout: float | None = None,
) -> dict[str, Any]:
    """The user pays: pre_checkout_query → wait for the bot's answer → successful_payment message.

    Returns ``{"status": "paid" | "declined" | "timeout", ...}``. The bot gets nothing more than Telegram
    would send it; a bot that does not answer in time simply never sees a successful payment.
    """
    timeout = emu.config.pre_checkout_timeout if answer_timeout is None else answer_timeout
    query = emu.state.new_pre_checkout(chat, invoice)
    update = {
        "id": query.id,
        "from": chat.user.to_api(),
        "currency": invoice.currency,
        "total_amount": invoice.total_amount,
        "invoice_payload": invoice.payload,
    }
    update_id = emu.hub.push("pre_checkout_query", update)
    result: dict[str, Any] = {"pre_checkout_query_id": query.id, "update_id": update_id}
    if update_id is None:
        query.expired = True
        return {
            **result,
            "status": "timeout",
            "reason": "pre_checkout_query is not in the bot's allowed_updates",
        }
    try:
        await asyncio.wait_for(query.event.wait(), timeout)
    except TimeoutError:
        query.expired = True
        return {**result, "status": "timeout", "reason": f"the bot did not answer within {timeout:g} s"}
    assert query.answer is not None
    if not query.answer["ok"]:
        return {**result, "status": "declined", "error_message": query.answer["error_message"]}
    charge = emu.state.new_charge(chat.id, invoice)
    payment: dict[str, Any] = {
        "currency": invoice.currency,
        "total_amount": invoice.total_amount,
        "invoice_payload": invoice.payload,
        "telegram_payment_charge_id": charge.id,
        "provider_payment_charge_id": "" if invoice.currency == "XTR" else f"prov_{secrets.token_hex(8)}",
    }
    if invoice.subscription_period:
        payment["subscription_expiration_date"] = int(time.time()) + invoice.subscription_period
        payment["is_recurring"] = True
        payment["is_first_recurring"] = True
    if message is not None:
        message.paid = True
    stored = emu.state.add_message(chat, outgoing=False, content={"successful_payment": payment})
    message_update_id = emu.hub.push("message", stored.data)
    return {
        **result,
        "status": "paid",
        "telegram_payment_charge_id": charge.id,
        "message_id": stored.message_id,
        "message_update_id": message_update_id,
    }
