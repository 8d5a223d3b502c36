"""Small admin screens: the dashboard, /version, the smoke test and the audit log."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from aiogram.types import InlineKeyboardMarkup

from aistudio.admin.audit import AuditEntry
from aistudio.admin.smoke import SmokeResult
from aistudio.admin.stats import Dashboard
from aistudio.i18n import Translator
from aistudio.ops.version import BuildInfo
from aistudio.telegram.admin_views.common import (
    back_row,
    button,
    compact,
    esc,
    keyboard,
    percent,
    rub,
    target_id,
    when,
)

AUDIT_PAGE = 8


def credits_text(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")).normalize(), "f")


def dashboard_text(t: Translator, lang: str, d: Dashboard, now: datetime, kie_balance: Decimal | None) -> str:
    k = "admin_panel.dash"
    lines = [
        t(f"{k}.title", lang, now=when(now)),
        t(
            f"{k}.users", lang, total=d.users_total, new_today=d.users_new_today, new_7d=d.users_new_7d,
            active_today=d.users_active_today, active_7d=d.users_active_7d,
        ),
        t(f"{k}.generations", lang, count=d.generations_today, rate=percent(d.success_rate_today)),
        t(
            f"{k}.revenue", lang, today=rub(d.revenue_today_kopecks), week=rub(d.revenue_7d_kopecks),
            month=rub(d.revenue_30d_kopecks),
        ),
        t(
            f"{k}.kie", lang, credits_today=credits_text(d.kie_credits_today), cost_today=rub(d.kie_cost_today_kopecks),
            credits_30d=credits_text(d.kie_credits_30d), cost_30d=rub(d.kie_cost_30d_kopecks),
        ),
        t(f"{k}.margin", lang, today=rub(d.margin_today_kopecks), month=rub(d.margin_30d_kopecks)),
        t(f"{k}.free", lang, spent=credits_text(d.free_spent_today), cap=credits_text(d.free_cap)),
        t(f"{k}.balance", lang, credits=credits_text(kie_balance))
        if kie_balance is not None
        else t(f"{k}.balance_unavailable", lang),
    ]  # fmt: skip
    return "\n".join(lines)


def dashboard_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    return keyboard([button(t("admin_panel.dash.refresh", lang), "dash")], back_row(t, lang))


def version_text(t: Translator, lang: str, info: BuildInfo, started: datetime, database: str, mode: str) -> str:
    return t(
        "admin_panel.version.text", lang, version=esc(info.version), commit=esc(info.commit),
        build_date=esc(info.build_date), started=f"{when(started)} UTC", database=database, mode=esc(mode),
    )  # fmt: skip


def smoke_menu_keyboard(t: Translator, lang: str, free_count: int) -> InlineKeyboardMarkup:
    return keyboard(
        [button(t("admin_panel.smoke.run_free", lang, count=free_count), "smoke", "free")], back_row(t, lang)
    )


def smoke_report(t: Translator, lang: str, results: list[SmokeResult]) -> str:
    lines = [t("admin_panel.smoke.report", lang, passed=sum(r.passed for r in results), count=len(results))]
    for r in results:
        key = "line_pass" if r.passed else "line_fail"
        lines.append(
            t(f"admin_panel.smoke.{key}", lang, model=esc(r.model_id), seconds=f"{r.seconds:.1f}", detail=esc(r.detail))
        )
    return "\n".join(lines)


def audit_text(t: Translator, lang: str, entries: list[AuditEntry], page: int, target: str) -> str:
    k = "admin_panel.audit"
    lines = [t(f"{k}.title", lang, target=t(f"{k}.target", lang, target=esc(target)) if target else "", page=page + 1)]
    if not entries:
        lines.append(t(f"{k}.empty", lang))
    for e in entries:
        change = ""
        if e.before is not None or e.after is not None:
            change = t(f"{k}.change", lang, before=compact(e.before), after=compact(e.after))
        lines.append(
            t(
                f"{k}.line", lang, at=when(e.created_at), admin=e.admin_id, action=esc(e.action), target=esc(e.target),
                change=change, reason=t(f"{k}.reason", lang, reason=esc(e.reason)) if e.reason else "",
            )
        )  # fmt: skip
    return "\n".join(lines)


def audit_keyboard(t: Translator, lang: str, page: int, has_more: bool, target: str) -> InlineKeyboardMarkup:
    nav = []
    if page > 0:
        nav.append(button(t("admin_panel.audit.prev", lang), "audit", "list", target_id(target), page - 1))
    if has_more:
        nav.append(button(t("admin_panel.audit.next", lang), "audit", "list", target_id(target), page + 1))
    return keyboard(nav, back_row(t, lang))
