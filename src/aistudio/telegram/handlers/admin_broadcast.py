"""Admin broadcasts: compose (text or photo, optional link button), pick a segment, preview, send, watch.

Only admins reach this router (IsAdmin on every observer); for anyone else `/broadcast` and the buttons
fall through to the ordinary answers. The sending itself is `aistudio.admin.broadcast_sender`, a periodic
job on every replica; this module only starts, pauses, resumes and cancels through the database.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from aistudio.admin.broadcast_segments import SEGMENTS
from aistudio.admin.broadcasts import Broadcast, BroadcastStore, Draft, Status
from aistudio.telegram.admin_filter import IsAdmin
from aistudio.telegram.admin_views.common import back_row
from aistudio.telegram.broadcast_delivery import progress_keyboard, progress_text, send_draft
from aistudio.telegram.callbacks import AdminCb
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
RECENT = 8


class ComposeStates(StatesGroup):
    text = State()  # waiting for the text or the photo
    button = State()  # waiting for "Text | URL" or Skip
    segment = State()  # the segment picker is shown


def _cb(action: str, ident: int | str = "", p: int = 0) -> str:
    return AdminCb(s="bc", a=action, id=str(ident), p=p).pack()


def _button(text: str, action: str, ident: int | str = "", p: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=_cb(action, ident, p))


def segment_name(services: BotServices, lang: str, segment: str) -> str:
    return services.t(f"admin_bc.segment.{segment.replace(':', '_')}", lang)


def parse_button(raw: str) -> tuple[str, str] | None:
    """`Text | https://host/path` → (text, url), or None when either part is unusable."""
    text, sep, url = raw.partition("|")
    text, url = text.strip(), url.strip()
    if not sep or not text or len(text) > 64 or len(url) > 512:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or "." not in host or host.endswith(".") or " " in url:
        return None
    return text, url


# ---- the list of broadcasts ----------------------------------------------------------------------------


async def render_menu(services: BotServices, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    t = services.t
    recent = await BroadcastStore(services.engine).recent(RECENT)
    lines = [t("admin_bc.menu_title", lang), ""]
    lines += [_menu_line(services, lang, b) for b in recent] or [t("admin_bc.menu_empty", lang)]
    rows = [[_button(t("admin_bc.new", lang), "new")]]
    for b in recent:
        if b.status in (Status.RUNNING, Status.PAUSED):
            status = t(f"admin_bc.status.{b.status.value}", lang)
            rows.append([_button(t("admin_bc.open", lang, id=b.id, status=status), "open", b.id)])
    rows.append(back_row(t, lang))  # back to the admin panel's menu
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _menu_line(services: BotServices, lang: str, b: Broadcast) -> str:
    t = services.t
    return t(
        "admin_bc.menu_line", lang, id=b.id, status=t(f"admin_bc.status.{b.status.value}", lang), sent=b.sent,
        total=b.total, segment=segment_name(services, lang, b.segment), date=b.created_at.strftime("%d.%m %H:%M"),
    )  # fmt: skip


async def on_menu_command(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.clear()
    text, markup = await render_menu(services, lang)
    await message.answer(text, reply_markup=markup)


async def on_menu(query: CallbackQuery, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    await show_screen(query, *await render_menu(services, lang))


# ---- composing -----------------------------------------------------------------------------------------


def _abort_keyboard(services: BotServices, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_button(services.t("admin_bc.abort", lang), "abort")]])


async def on_new(query: CallbackQuery, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.set_state(ComposeStates.text)
    await state.set_data({})
    await query.answer()
    await show_screen(query, services.t("admin_bc.ask_text", lang), _abort_keyboard(services, lang))


async def on_text(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    t = services.t
    if message.photo:
        visible, limit, photo = message.caption or "", CAPTION_LIMIT, message.photo[-1].file_id
    elif message.text:
        visible, limit, photo = message.text, TEXT_LIMIT, None
    else:
        await message.answer(t("admin_bc.only_text_or_photo", lang), reply_markup=_abort_keyboard(services, lang))
        return
    if len(visible) > limit:
        await message.answer(t("admin_bc.too_long", lang, length=len(visible), limit=limit))
        return
    # html_text keeps the admin's bold, links, ... and escapes everything else for HTML parse mode.
    await state.update_data(text=message.html_text if visible else "", photo=photo)
    await state.set_state(ComposeStates.button)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(t("admin_bc.skip_button", lang), "skipbtn")],
            [_button(t("admin_bc.abort", lang), "abort")],
        ]
    )
    await message.answer(t("admin_bc.ask_button", lang), reply_markup=markup)


async def on_button(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    parsed = parse_button(message.text or "")
    if parsed is None:
        await message.answer(services.t("admin_bc.bad_button", lang), reply_markup=_abort_keyboard(services, lang))
        return
    await state.update_data(button_text=parsed[0], button_url=parsed[1])
    await _ask_segment(message, services, lang, state)


async def on_skip_button(query: CallbackQuery, services: BotServices, lang: str, state: FSMContext) -> None:
    await query.answer()
    if await state.get_state() != ComposeStates.button.state:
        return
    await state.update_data(button_text=None, button_url=None)
    if isinstance(query.message, Message):
        await _ask_segment(query.message, services, lang, state)


async def _ask_segment(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    sizes = await BroadcastStore(services.engine).segment_sizes()
    t = services.t
    rows = [
        [_button(t("admin_bc.segment_item", lang, name=segment_name(services, lang, s), count=sizes[s]), "seg", p=i)]
        for i, s in enumerate(SEGMENTS)
    ]
    rows.append([_button(t("admin_bc.abort", lang), "abort")])
    await state.set_state(ComposeStates.segment)
    await message.answer(t("admin_bc.ask_segment", lang), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def on_segment(
    query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str, state: FSMContext
) -> None:
    t = services.t
    data = await state.get_data()
    if await state.get_state() != ComposeStates.segment.state or "text" not in data:
        await query.answer(t("admin_bc.already_started", lang), show_alert=True)
        return
    if not 0 <= callback_data.p < len(SEGMENTS):
        await query.answer()
        return
    segment = SEGMENTS[callback_data.p]
    store = BroadcastStore(services.engine)
    count = (await store.segment_sizes())[segment]
    if count == 0:
        await query.answer(t("admin_bc.empty_segment", lang), show_alert=True)
        return
    await query.answer()
    draft = Draft(data["text"], data.get("photo"), data.get("button_text"), data.get("button_url"))
    rate = services.settings.broadcast_rate_per_s
    created = await store.create(query.from_user.id, draft, segment, rate)
    await state.clear()
    chat_id = query.message.chat.id if query.message else query.from_user.id
    await send_draft(services.bot, chat_id, draft)  # the preview: the very call users will get
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(t("admin_bc.send", lang), "go", created.id),
                _button(t("admin_bc.abort", lang), "drop", created.id),
            ]
        ]
    )
    text = t("admin_bc.confirm", lang, segment=segment_name(services, lang, segment), count=count, rate=f"{rate:g}")
    await services.bot.send_message(chat_id, text, reply_markup=markup)


async def on_abort(query: CallbackQuery, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    await show_screen(query, services.t("admin_bc.aborted", lang), None)


async def on_drop(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    store = BroadcastStore(services.engine)
    found = await store.get(int(callback_data.id)) if callback_data.id.isdigit() else None
    if found is None or found.status is not Status.DRAFT or not await store.cancel(found.id):
        await query.answer(services.t("admin_bc.already_started", lang), show_alert=True)
        return
    await query.answer()
    await show_screen(query, services.t("admin_bc.aborted", lang), None)


# ---- starting and controlling --------------------------------------------------------------------------


async def on_go(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    t = services.t
    store = BroadcastStore(services.engine)
    found = await store.get(int(callback_data.id)) if callback_data.id.isdigit() else None
    if found is None or found.status is not Status.DRAFT:
        await query.answer(t("admin_bc.already_started", lang), show_alert=True)
        return
    await query.answer()
    progress = await show_screen(query, t("admin_bc.starting", lang), None)
    chat_id = progress.chat.id if progress else None
    started = await store.start(
        found.id, progress_chat_id=chat_id, progress_message_id=progress.message_id if progress else None
    )
    if started is None:
        return  # a double press: the first one started it
    if progress is not None:
        await progress.edit_text(progress_text(t, lang, started), reply_markup=progress_keyboard(t, lang, started))


async def on_control(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    t = services.t
    store = BroadcastStore(services.engine)
    found = await store.get(int(callback_data.id)) if callback_data.id.isdigit() else None
    if found is None:
        await query.answer(t("admin_bc.not_found", lang), show_alert=True)
        return
    action = callback_data.a
    changed = True
    if action == "pause":
        changed = await store.pause(found.id)
    elif action == "resume":
        changed = await store.resume(found.id)
    elif action == "cancel":
        changed = await store.cancel(found.id)
    current = await store.refresh_counters(found.id) or found
    if not changed:
        status = t(f"admin_bc.status.{current.status.value}", lang)
        await query.answer(t("admin_bc.not_possible", lang, status=status), show_alert=True)
    else:
        notes = {"pause": "admin_bc.paused", "resume": "admin_bc.resumed", "cancel": "admin_bc.cancelled"}
        await query.answer(t(notes[action], lang) if action in notes else None)
    await show_screen(query, progress_text(t, lang, current), progress_keyboard(t, lang, current))


def not_a_command(message: Message) -> bool:
    """/start, /admin, ... while composing leave the compose flow instead of becoming the broadcast."""
    return not (message.text or "").startswith("/")


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    bc = AdminCb.filter(F.s == "bc")
    router.message.register(on_menu_command, Command("broadcast"))
    router.message.register(on_text, StateFilter(ComposeStates.text), not_a_command)
    router.message.register(on_button, StateFilter(ComposeStates.button), F.text, not_a_command)
    router.callback_query.register(on_menu, bc, AdminCb.filter(F.a == "menu"))
    router.callback_query.register(on_new, bc, AdminCb.filter(F.a == "new"))
    router.callback_query.register(on_skip_button, bc, AdminCb.filter(F.a == "skipbtn"))
    router.callback_query.register(on_segment, bc, AdminCb.filter(F.a == "seg"))
    router.callback_query.register(on_abort, bc, AdminCb.filter(F.a == "abort"))
    router.callback_query.register(on_drop, bc, AdminCb.filter(F.a == "drop"))
    router.callback_query.register(on_go, bc, AdminCb.filter(F.a == "go"))
    router.callback_query.register(on_control, bc, AdminCb.filter(F.a.in_({"pause", "resume", "cancel", "open"})))
    return router
