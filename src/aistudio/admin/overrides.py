"""Per-model switches an admin sets at run time (enabled, markup), applied on every replica without a restart.

`ModelOverrides` keeps the `model_overrides` table in memory: every replica refreshes it with a periodic
job (a few seconds), and the replica where an admin made a change refreshes at once. `LiveCatalog` is the
catalog the bot uses: the shipped catalog with the switches applied, so catalog screens, the wizard and
`price_offer` (which refuses a disabled model as "model_unavailable") need no changes of their own. The
pipeline's `markup_for` hook reads the per-model markup.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin import audit
from aistudio.catalog.loader import Catalog
from aistudio.catalog.models import ModelSpec
from aistudio.db.sql import insert_ignore, utcnow
from aistudio.db.tables import model_overrides

log = logging.getLogger(__name__)
DISABLED_BY_ADMIN = "switched off by an admin"
MAX_MARKUP = Decimal(100)  # the same bound as the MARKUP setting


@dataclass(frozen=True)
class Override:
    enabled: bool | None  # None: as the catalog says
    markup: Decimal | None  # None: the MARKUP setting


class InvalidMarkup(ValueError):
    pass


def parse_markup(text: str) -> Decimal:
    """`2.5` or `2,5` → Decimal('2.5'); must be > 0 and ≤ 100 with at most 4 decimals."""
    try:
        value = Decimal(text.strip().lstrip("×x*").replace(",", "."))
    except ArithmeticError:
        raise InvalidMarkup(text) from None
    if not value.is_finite() or value <= 0 or value > MAX_MARKUP or value != value.quantize(Decimal("0.0001")):
        raise InvalidMarkup(text)
    return value


def _text(markup: object) -> str | None:
    """A markup as the audit log shows it: `2.5`, not `2.5000`; equal values read the same."""
    return None if markup is None else format(Decimal(str(markup)).normalize(), "f")


class ModelOverrides:
    """The admin's per-model switches, cached; `refresh()` re-reads the table (cheap: one row per override)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._rows: dict[str, Override] = {}
        self.version = 0  # bumped on every change seen, so derived caches know to rebuild

    async def refresh(self) -> None:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(model_overrides))).all()
        fresh = {
            r.model_id: Override(
                None if r.enabled is None else bool(r.enabled), None if r.markup is None else Decimal(r.markup)
            )
            for r in rows
        }
        if fresh != self._rows:
            self._rows = fresh
            self.version += 1

    def get(self, model_id: str) -> Override:
        return self._rows.get(model_id, Override(None, None))

    def is_switched_off(self, model_id: str) -> bool:
        return self.get(model_id).enabled is False

    def markup_for(self, model_id: str) -> Decimal | None:
        """The pipeline's hook: the model's own markup, or None for the MARKUP setting."""
        return self.get(model_id).markup

    async def set_enabled(self, model_id: str, enabled: bool, *, admin_id: int) -> bool:
        """Switch a model on or off (audited); False when it already was."""
        return await self._change(model_id, admin_id, "model.enable" if enabled else "model.disable", enabled=enabled)

    async def set_markup(self, model_id: str, markup: Decimal | None, *, admin_id: int) -> bool:
        """Set the model's markup, or None for the MARKUP setting (audited); False when unchanged."""
        return await self._change(model_id, admin_id, "model.markup", markup=markup)

    async def _change(self, model_id: str, admin_id: int, action: str, **values: object) -> bool:
        t = model_overrides
        async with self.engine.begin() as conn:
            await conn.execute(insert_ignore(conn, t, ["model_id"]).values(model_id=model_id, updated_at=utcnow()))
            row = (await conn.execute(sa.select(t.c.enabled, t.c.markup).where(t.c.model_id == model_id))).one()
            before = {"enabled": None if row.enabled is None else bool(row.enabled), "markup": _text(row.markup)}
            after = dict(before)
            for name, value in values.items():
                after[name] = _text(value) if name == "markup" else value
            if after == before:
                return False
            await conn.execute(
                sa.update(t).where(t.c.model_id == model_id).values(**values, updated_by=admin_id, updated_at=utcnow())
            )
            await audit.record(
                conn, admin_id=admin_id, action=action, target=f"model:{model_id}", before=before, after=after
            )
        await self.refresh()  # this replica at once; the others at their next periodic refresh
        log.info("model %s: %s by admin %s (%s → %s)", model_id, action, admin_id, before, after)
        return True


class LiveCatalog(Catalog):
    """The shipped catalog with the admin's switches applied (a model switched off reads as disabled)."""

    def __init__(self, base: Catalog, overrides: ModelOverrides) -> None:
        super().__init__(base)
        self.base = base
        self.overrides = overrides
        self._seen_version = -1
        self._switched_off: dict[str, ModelSpec] = {}

    def _applied(self, spec: ModelSpec) -> ModelSpec:
        if self._seen_version != self.overrides.version:
            self._switched_off = {}
            self._seen_version = self.overrides.version
        if not spec.enabled or not self.overrides.is_switched_off(spec.id):
            return spec
        if spec.id not in self._switched_off:
            self._switched_off[spec.id] = spec.model_copy(
                update={"enabled": False, "disabled_reason": DISABLED_BY_ADMIN}
            )
        return self._switched_off[spec.id]

    def get(self, model_id: str) -> ModelSpec:
        return self._applied(super().get(model_id))

    def version(self) -> object:
        return self.overrides.version

    def __iter__(self) -> Iterator[ModelSpec]:
        return (self._applied(m) for m in super().__iter__())
