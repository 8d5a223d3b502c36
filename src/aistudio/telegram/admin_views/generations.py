"""The admin's generation screens: failures of the last day, one generation's details and timeline."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup

from aistudio.admin.generations import FailureGroup, GenerationDetails
from aistudio.generation.states import State
from aistudio.i18n import Translator
from aistudio.telegram.admin_views.common import back_row, button, esc, keyboard, rub, when

MAX_EVENTS = 25


def failures_text(t: Translator, lang: str, groups: list[FailureGroup]) -> str:
    lines = [t("admin_panel.gens.title", lang)]
    if not groups:
        lines.append(t("admin_panel.gens.empty", lang))
    for group in groups:
        lines.append(
            t(
                "admin_panel.gens.group_line",
                lang,
                model=esc(group.model_id),
                error=esc(group.error_class),
                count=group.count,
                rq=group.last_request_id,
                at=when(group.last_at),
            )
        )
    return "\n".join(lines)


def failures_keyboard(t: Translator, lang: str, groups: list[FailureGroup]) -> InlineKeyboardMarkup:
    shown = list(dict.fromkeys(g.last_request_id for g in groups))[:6]
    pairs = [[button(f"🔎 {rq}", "gens", "show", rq) for rq in shown[i : i + 2]] for i in range(0, len(shown), 2)]
    return keyboard(*pairs, [button(t("admin_panel.gens.find", lang), "gens", "find")], back_row(t, lang))


def _refund_state(t: Translator, lang: str, gen: GenerationDetails) -> str:
    key = "admin_panel.gens.refund_state"
    if gen.refunded_kopecks:
        return t(f"{key}.refunded", lang, amount=rub(gen.refunded_kopecks))
    if gen.is_free:
        return t(f"{key}.free", lang)
    if gen.state == State.FAILED:
        return t(f"{key}.released", lang)
    if gen.state != State.COMPLETED:
        return t(f"{key}.pending", lang)
    return t(f"{key}.none", lang)


def details_text(t: Translator, lang: str, gen: GenerationDetails) -> str:
    lines = [
        t(
            "admin_panel.gens.details",
            lang,
            id=gen.id,
            rq=gen.request_id,
            user=gen.user_id,
            model=esc(gen.model_id),
            state=gen.state,
            free=t("admin_panel.gens.free_mark", lang) if gen.is_free else "",
            price=rub(gen.price_kopecks),
            charged=rub(gen.charged_kopecks),
            credits=gen.credits,
            task=esc(gen.kie_task_id),
            created=when(gen.created_at),
            completed=when(gen.completed_at),
        )
    ]
    if gen.error_class or gen.kie_code or gen.error_message:
        lines.append(
            t(
                "admin_panel.gens.error_line",
                lang,
                error=esc(gen.error_class),
                code=esc(gen.kie_code),
                message=esc((gen.error_message or "")[:300] or None),
            )
        )
    lines.append(t("admin_panel.gens.refund_line", lang, refund=_refund_state(t, lang, gen)))
    lines.append(t("admin_panel.gens.timeline", lang))
    for ev in gen.events[-MAX_EVENTS:]:
        extra = []
        if ev.elapsed_ms is not None:
            extra.append(f"{ev.elapsed_ms / 1000:.1f} s")
        if ev.error_class:
            extra.append(esc(ev.error_class))
        if ev.kie_code is not None:
            extra.append(f"Kie {ev.kie_code}")
        if ev.kie_message:
            extra.append(esc(ev.kie_message[:200]))
        lines.append(
            t(
                "admin_panel.gens.event_line",
                lang,
                at=ev.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                state=ev.state,
                extra=(" · " + " · ".join(extra)) if extra else "",
            )
        )
    return "\n".join(lines)


def details_keyboard(t: Translator, lang: str, gen: GenerationDetails) -> InlineKeyboardMarkup:
    refund = (
        [button(t("admin_panel.gens.refund", lang, amount=rub(gen.charged_kopecks)), "gens", "refund", str(gen.id))]
        if gen.refundable
        else []
    )
    return keyboard(
        refund,
        [button(t("admin_panel.gens.user", lang), "users", "card", str(gen.user_id))],
        [button(t("admin_panel.gens.back", lang), "gens", "fails")],
        back_row(t, lang),
    )
