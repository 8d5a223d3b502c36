"""Manual transfer: the user sends a receipt screenshot; admins approve (or edit, or reject) it.

User: 🧾 Bank transfer (from the top-up screen) → the operator's details → a screenshot → OCR → a pending
request. Admins: the receipt with Approve / Edit amount / Reject, `/topups` and the panel's list. The admin
part is a sub-router filtered on IsAdmin, so for anyone else its buttons are stale and `/topups` unknown.
"""

from __future__ import annotations

import io
import logging

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from aistudio.db.repo.users import UserRow
from aistudio.payments.manual import AlreadyDecided, Decision, ManualTopups, TopupRequest, parse_rub_amount
from aistudio.payments.ocr import read_receipt
from aistudio.telegram import manual_topup_review as review
from aistudio.telegram import manual_topup_views as views
from aistudio.telegram.admin_filter import IsAdmin
from aistudio.telegram.callbacks import AdminCb, MenuCb
from aistudio.telegram.keyboards import back_to_menu
from aistudio.telegram.manual_topup_views import ManualTopupStates, TopupReviewStates
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices
from aistudio.telegram.wizard_media import TELEGRAM_DOWNLOAD_LIMIT, WrongFileKind, incoming_file, looks_like

log = logging.getLogger(__name__)
LIST_LIMIT = 20


def _not_command(message: Message) -> bool:
    return message.text is not None and not message.text.startswith("/")


# --- the user's side ------------------------------------------------------------------------------------


async def on_open(query: CallbackQuery, state: FSMContext, services: BotServices, lang: str) -> None:
    await query.answer()
    t, settings = services.t, services.settings
    if not settings.manual_transfer_enabled:
        await show_screen(query, t("manual_topup.disabled", lang), back_to_menu(t, lang))
        return
    await state.set_state(ManualTopupStates.screenshot)
    text = views.intro_text(t, lang, settings.manual_transfer_details, review.kopecks(settings.manual_min_rub))
    await show_screen(query, text, views.intro_keyboard(t, lang))


async def on_leave_step(query: CallbackQuery, state: FSMContext) -> None:
    """Any other button leaves the screenshot step; the button itself is handled by its own router."""
    await state.clear()
    raise SkipHandler


async def _say(message: Message, services: BotServices, lang: str, key: str) -> None:
    await message.answer(services.t(f"manual_topup.{key}", lang), reply_markup=views.step_keyboard(services.t, lang))


async def on_screenshot(
    message: Message, state: FSMContext, services: BotServices, user: UserRow, lang: str, bot: Bot
) -> None:
    try:
        file = incoming_file(message, "image")
    except WrongFileKind:
        file = None
    if file is None:
        await _say(message, services, lang, "not_image")
        return
    if file.size is not None and file.size > TELEGRAM_DOWNLOAD_LIMIT:
        await _say(message, services, lang, "too_big")
        return
    try:
        buffer = await bot.download(file.file_id, destination=io.BytesIO())
    except TelegramBadRequest as exc:
        if "too big" not in str(exc).lower():
            raise
        await _say(message, services, lang, "too_big")
        return
    assert buffer is not None
    data = buffer.getvalue()
    if not looks_like("image", data[:16]):
        await _say(message, services, lang, "not_image")
        return
    reading = await message.answer(services.t("manual_topup.reading", lang))
    ocr = await read_receipt(data)
    manual = review.manual_topups(services)
    request = await manual.submit(user_id=user.id, image=data, file_id=file.file_id, ocr=ocr)
    await state.clear()
    log.info("top-up request %s from user %s (ocr %.2f s, amount %s)", request.id, user.id, ocr.seconds,
             request.ocr_amount_kopecks)  # fmt: skip
    await reading.edit_text(views.received_text(services.t, lang, request), reply_markup=back_to_menu(services.t, lang))
    await review.publish(services, manual, request)
    if request.status != "pending":  # approved automatically: the admins' copies and the user learn it now
        decided = await manual.get(request.id)
        assert decided is not None
        await review.show_outcome(services, decided)


async def on_text_instead(message: Message, services: BotServices, lang: str) -> None:
    await _say(message, services, lang, "text_instead")


async def on_other_content(message: Message, services: BotServices, lang: str) -> None:
    await _say(message, services, lang, "not_image")


# --- the admins' side -----------------------------------------------------------------------------------


async def _list(services: BotServices, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    manual = review.manual_topups(services)
    pending = await manual.pending(limit=LIST_LIMIT)
    count = await manual.count_pending() if len(pending) == LIST_LIMIT else len(pending)
    labels = await review.user_labels(services, {r.user_id for r in pending})
    text = views.list_text(services.t, lang, count, len(pending))
    return text, views.list_keyboard(services.t, lang, pending, labels)


async def on_list_command(message: Message, state: FSMContext, services: BotServices, lang: str) -> None:
    await state.clear()
    text, markup = await _list(services, lang)
    await message.answer(text, reply_markup=markup)


async def on_list_button(query: CallbackQuery, state: FSMContext, services: BotServices, lang: str) -> None:
    await query.answer()
    await state.clear()
    await show_screen(query, *await _list(services, lang))


async def _request(query: CallbackQuery, manual: ManualTopups, callback_data: AdminCb, services: BotServices,
                   lang: str) -> TopupRequest | None:  # fmt: skip
    request = await manual.get(int(callback_data.id)) if callback_data.id.isdigit() else None
    if request is None:
        await query.answer(services.t("manual_topup.admin.unknown_request", lang), show_alert=True)
    return request


async def _already(services: BotServices, lang: str, request: TopupRequest) -> str:
    labels = await review.user_labels(services, {request.decided_by or 0})
    who = labels.get(request.decided_by or 0, "?")
    if request.auto_approved:
        who = services.t("manual_topup.admin.auto_user", lang)
    return views.already_decided_text(services.t, lang, request, who)


async def on_open_request(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    manual = review.manual_topups(services)
    request = await _request(query, manual, callback_data, services, lang)
    if request is None:
        return
    await query.answer()
    sent = await review.send_review(services, request, query.from_user.id, lang)
    if sent is not None and request.status == "pending":
        await manual.remember_admin_messages(request.id, [(sent.chat.id, sent.message_id)])


async def _after_decision(query: CallbackQuery, services: BotServices, lang: str, decision: Decision) -> None:
    if not decision.decided_now:
        await query.answer(await _already(services, lang, decision.request), show_alert=True)
        return
    done = "done_approved" if decision.request.status == "approved" else "done_rejected"
    await query.answer(services.t(f"manual_topup.admin.{done}", lang))
    await review.show_outcome(services, decision.request)


async def on_approve(
    query: CallbackQuery, callback_data: AdminCb, state: FSMContext, services: BotServices, lang: str
) -> None:
    manual = review.manual_topups(services)
    request = await _request(query, manual, callback_data, services, lang)
    if request is None:
        return
    if callback_data.p <= 0:  # no amount on the button: only Edit amount can give one
        await query.answer(services.t("manual_topup.admin.bad_amount", lang), show_alert=True)
        return
    await state.clear()
    decision = await manual.approve(request.id, query.from_user.id, callback_data.p)
    if decision.stale_amount:  # another admin corrected the amount since this copy was drawn: nothing credited
        await _amount_changed(query, services, lang, decision.request)
        return
    await _after_decision(query, services, lang, decision)


async def _amount_changed(query: CallbackQuery, services: BotServices, lang: str, request: TopupRequest) -> None:
    editor = await review.amount_edited_by(services, request.id)
    who = (await review.user_labels(services, {editor}))[editor] if editor is not None else "?"
    rub = views.rub(request.proposed_kopecks or 0)
    text = services.t("manual_topup.admin.amount_changed", lang, id=request.id, rub=rub, admin=who)
    await query.answer(text, show_alert=True)
    if isinstance(query.message, Message):
        await review.refresh_copy(services, request, query.message, lang)


async def on_reject_without_reason(
    query: CallbackQuery, callback_data: AdminCb, state: FSMContext, services: BotServices, lang: str
) -> None:
    manual = review.manual_topups(services)
    request = await _request(query, manual, callback_data, services, lang)
    if request is None:
        return
    await state.clear()
    await _after_decision(query, services, lang, await manual.reject(request.id, query.from_user.id, None))


async def on_ask(
    query: CallbackQuery, callback_data: AdminCb, state: FSMContext, services: BotServices, lang: str
) -> None:
    """Edit amount / Reject: ask for the amount or the reason in the admin's next message."""
    manual = review.manual_topups(services)
    request = await _request(query, manual, callback_data, services, lang)
    if request is None:
        return
    if request.status != "pending":
        await query.answer(await _already(services, lang, request), show_alert=True)
        return
    await query.answer()
    rejecting = callback_data.a == "no"
    await state.set_state(TopupReviewStates.reason if rejecting else TopupReviewStates.amount)
    await state.update_data(request_id=request.id)
    key = "ask_reason" if rejecting else "ask_amount"
    if isinstance(query.message, Message):
        await query.message.answer(
            services.t(f"manual_topup.admin.{key}", lang, id=request.id),
            reply_markup=views.prompt_keyboard(services.t, lang, request.id, reject=rejecting),
        )


async def on_cancel(query: CallbackQuery, callback_data: AdminCb, state: FSMContext, services: BotServices,
                    lang: str) -> None:  # fmt: skip
    await query.answer()
    await state.clear()
    await show_screen(query, services.t("manual_topup.admin.cancelled", lang, id=callback_data.id), None)


async def on_amount_typed(message: Message, state: FSMContext, services: BotServices, lang: str) -> None:
    t = services.t
    request_id = int((await state.get_data())["request_id"])
    amount = parse_rub_amount(message.text or "")
    if amount is None:
        await message.answer(t("manual_topup.admin.bad_amount", lang),
                             reply_markup=views.prompt_keyboard(t, lang, request_id))  # fmt: skip
        return
    await state.clear()
    manual = review.manual_topups(services)
    assert message.from_user is not None
    try:
        request = await manual.set_amount(request_id, message.from_user.id, amount)
    except AlreadyDecided as exc:
        await message.answer(await _already(services, lang, exc.request), reply_markup=back_to_menu(t, lang))
        return
    await review.update_copies(services, request)  # every copy now offers the new amount
    await message.answer(
        t("manual_topup.admin.confirm_amount", lang, id=request_id, rub=views.rub(amount)),
        reply_markup=views.confirm_keyboard(t, lang, request_id, amount),
    )


async def on_reason_typed(message: Message, state: FSMContext, services: BotServices, lang: str) -> None:
    request_id = int((await state.get_data())["request_id"])
    await state.clear()
    assert message.from_user is not None
    decision = await review.manual_topups(services).reject(request_id, message.from_user.id, message.text)
    if not decision.decided_now:
        text = await _already(services, lang, decision.request)
        await message.answer(text, reply_markup=back_to_menu(services.t, lang))
        return
    await message.answer(services.t("manual_topup.admin.done_rejected", lang))
    await review.show_outcome(services, decision.request)


def _admin_router() -> Router:
    router = Router(name=f"{__name__}.admin")
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())

    def action(*names: str) -> object:
        return AdminCb.filter((F.s == views.SECTION) & F.a.in_(set(names)))

    router.message.register(on_list_command, Command("topups"))
    router.message.register(on_amount_typed, TopupReviewStates.amount, _not_command)
    router.message.register(on_reason_typed, TopupReviewStates.reason, _not_command)
    router.callback_query.register(on_list_button, action("", "list"))
    router.callback_query.register(on_open_request, action("open"))
    router.callback_query.register(on_approve, action("ok"))
    router.callback_query.register(on_reject_without_reason, action("nr"))
    router.callback_query.register(on_ask, action("edit", "no"))
    router.callback_query.register(on_cancel, action("cancel"))
    return router


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.callback_query.register(on_open, MenuCb.filter(F.to == "manual_topup"))
    router.callback_query.register(on_leave_step, ManualTopupStates.screenshot)
    router.message.register(on_screenshot, ManualTopupStates.screenshot, F.photo | F.document)
    router.message.register(on_text_instead, ManualTopupStates.screenshot, _not_command)
    router.message.register(on_other_content, ManualTopupStates.screenshot, ~F.text)
    router.include_router(_admin_router())
    return router
