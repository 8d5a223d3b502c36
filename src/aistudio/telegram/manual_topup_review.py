"""Delivering manual transfer requests to admins and their outcomes to everyone concerned.

Every admin in ADMIN_IDS gets the receipt with its review card; the copies are remembered on the request so
that, once one admin decides, every copy shows the outcome and who decided (and loses its buttons), and the
user is told. Sending is best effort per chat: one admin who blocked the bot does not stop the others.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import sqlalchemy as sa
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import Message

from aistudio.db.tables import admin_audit, topup_requests, users
from aistudio.i18n import DEFAULT_LANGUAGE
from aistudio.payments.manual import AUTO_APPROVER, ManualTopups, TopupRequest
from aistudio.telegram import manual_topup_views as views
from aistudio.telegram.keyboards import back_to_menu
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)


def kopecks(rub: Decimal) -> int:
    return int(rub * 100)


def manual_topups(services: BotServices) -> ManualTopups:
    limit = kopecks(services.settings.manual_auto_approve_below_rub)
    return ManualTopups(services.engine, services.topups, auto_approve_below_kopecks=limit)


async def user_labels(services: BotServices, user_ids: set[int]) -> dict[int, str]:
    """How admins see a user: @username, else the first name, else the id."""
    labels = {uid: str(uid) for uid in user_ids}
    if not user_ids:
        return labels
    async with services.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(users.c.id, users.c.username, users.c.first_name).where(users.c.id.in_(list(user_ids)))
        )
        for row in rows:
            labels[row.id] = f"@{row.username}" if row.username else (row.first_name or str(row.id))
    return labels


async def languages(services: BotServices, user_ids: set[int]) -> dict[int, str]:
    found = {uid: DEFAULT_LANGUAGE for uid in user_ids}
    async with services.engine.connect() as conn:
        rows = await conn.execute(sa.select(users.c.id, users.c.language).where(users.c.id.in_(list(user_ids))))
        found.update({row.id: row.language for row in rows if row.language})
    return found


async def _repeat_payer(services: BotServices, request: TopupRequest) -> bool:
    async with services.engine.connect() as conn:
        found = await conn.execute(
            sa.select(topup_requests.c.id)
            .where(
                topup_requests.c.user_id == request.user_id,
                topup_requests.c.status == "approved",
                topup_requests.c.id != request.id,
            )
            .limit(1)
        )
        return found.first() is not None


async def review_caption(services: BotServices, request: TopupRequest, lang: str) -> str:
    labels = await user_labels(services, {request.user_id} | ({request.decided_by} if request.decided_by else set()))
    decided_by = None
    if request.decided_by is not None:
        decided_by = (
            services.t("manual_topup.admin.auto_user", lang)
            if request.decided_by == AUTO_APPROVER
            else (labels.get(request.decided_by, str(request.decided_by)))
        )
    settings = services.settings
    return views.review_caption(
        services.t,
        lang,
        request,
        user_label=labels[request.user_id],
        repeat_payer=await _repeat_payer(services, request),
        min_kopecks=kopecks(settings.manual_min_rub),
        decided_by_label=decided_by,
        auto_limit_kopecks=kopecks(settings.manual_auto_approve_below_rub),
    )


async def send_review(services: BotServices, request: TopupRequest, chat_id: int, lang: str) -> Message | None:
    """The receipt with its card and buttons in one admin's chat (a photo, or the image file the user sent)."""
    caption = await review_caption(services, request, lang)
    markup = views.review_keyboard(services.t, lang, request)
    bot = services.bot
    try:
        try:
            return await bot.send_photo(chat_id, request.image_file_id, caption=caption, reply_markup=markup)
        except TelegramBadRequest:  # the user sent the picture as a document: it can only be re-sent as one
            return await bot.send_document(chat_id, request.image_file_id, caption=caption, reply_markup=markup)
    except TelegramAPIError as exc:
        log.warning("could not show top-up request %s to admin %s: %s", request.id, chat_id, exc)
        return None


async def amount_edited_by(services: BotServices, request_id: int) -> int | None:
    """The admin who last corrected the request's amount (from the audit), if anyone did."""
    async with services.engine.connect() as conn:
        found = await conn.execute(
            sa.select(admin_audit.c.admin_id)
            .where(admin_audit.c.target == f"topup_request:{request_id}", admin_audit.c.action == "topup.amount_edit")
            .order_by(admin_audit.c.id.desc())
            .limit(1)
        )
        return found.scalar()


async def refresh_copy(services: BotServices, request: TopupRequest, message: Message, lang: str) -> None:
    """Bring one stale copy (a review card, or an amount confirmation) up to the request as it is now."""
    t = services.t
    proposed = request.proposed_kopecks
    try:
        if message.photo or message.document:
            caption = await review_caption(services, request, lang)
            await message.edit_caption(caption=caption, reply_markup=views.review_keyboard(t, lang, request))
        elif request.status == "pending" and proposed is not None:
            text = t("manual_topup.admin.confirm_amount", lang, id=request.id, rub=views.rub(proposed))
            await message.edit_text(text, reply_markup=views.confirm_keyboard(t, lang, request.id, proposed))
        else:
            await message.edit_reply_markup(reply_markup=views.review_keyboard(t, lang, request))
    except TelegramAPIError as exc:
        log.info("could not refresh copy %s of request %s: %s", message.message_id, request.id, exc)


async def publish(services: BotServices, manual: ManualTopups, request: TopupRequest) -> None:
    """Show a new request (or an automatic approval) to every admin and remember the copies."""
    admins = set(services.settings.admin_ids)
    if not admins:
        log.warning("top-up request %s waits, but ADMIN_IDS is empty: nobody can review it", request.id)
        return
    langs = await languages(services, admins)
    sent = []
    for admin_id in sorted(admins):
        message = await send_review(services, request, admin_id, langs[admin_id])
        if message is not None:
            sent.append((message.chat.id, message.message_id))
    await manual.remember_admin_messages(request.id, sent)


async def update_copies(services: BotServices, request: TopupRequest) -> None:
    """Every admin's copy shows the request as it is now: its amount, its outcome, buttons only while pending."""
    langs = await languages(services, {chat for chat, _ in request.admin_messages})
    for chat_id, message_id in request.admin_messages:
        caption = await review_caption(services, request, langs[chat_id])
        try:
            await services.bot.edit_message_caption(
                chat_id=chat_id,
                message_id=message_id,
                caption=caption,
                reply_markup=views.review_keyboard(services.t, langs[chat_id], request),
            )
        except TelegramAPIError as exc:  # deleted by the admin, or already showing it
            log.info("could not update review copy %s/%s of request %s: %s", chat_id, message_id, request.id, exc)


async def show_outcome(services: BotServices, request: TopupRequest) -> None:
    """A decision: every admin's copy shows the outcome and who decided, and the user is told."""
    await update_copies(services, request)
    langs = await languages(services, {request.user_id})
    await notify_user(services, request, langs[request.user_id])


async def notify_user(services: BotServices, request: TopupRequest, lang: str) -> None:
    t = services.t
    if request.status == "approved":
        text = views.credited_text(t, lang, request)
    else:
        text = views.rejected_text(t, lang, request, services.settings.support_contact)
    try:
        await services.bot.send_message(request.user_id, text, reply_markup=back_to_menu(t, lang))
    except TelegramAPIError as exc:
        log.warning("could not tell user %s about top-up request %s: %s", request.user_id, request.id, exc)
