"""➡️ Use this result in …: which models take a result of this kind as an input, and how it is filled in."""

from __future__ import annotations

from typing import Any

from aistudio.catalog.loader import Catalog
from aistudio.catalog.models import Category, InputField, ModelSpec

MAX_TARGETS = 8
# What people most often do next with a result: improve it, animate it, make it talk, edit it.
PREFERENCE = (
    Category.TOOLS,
    Category.IMAGE_TO_VIDEO,
    Category.AVATAR,
    Category.IMAGE_EDIT,
    Category.VIDEO_TO_VIDEO,
)


def chain_field(model: ModelSpec, kind: str) -> InputField | None:
    """The wizard input of `model` that takes a file of `kind` (the first one, if several do)."""
    for f in model.inputs:
        if f.ask == "wizard" and f.media == kind:
            return f
    return None


def chain_targets(catalog: Catalog, kind: str, exclude: str | None = None) -> list[ModelSpec]:
    """Visible models whose wizard asks for a `kind` file, the likeliest next steps first."""
    found = [m for m in catalog.visible() if m.id != exclude and chain_field(m, kind) is not None]

    def rank(model: ModelSpec) -> tuple[int, int, int]:
        category = PREFERENCE.index(model.category) if model.category in PREFERENCE else len(PREFERENCE)
        return category, 0 if "popular" in model.tags else 1, model.display_order

    return sorted(found, key=rank)[:MAX_TARGETS]


def chained_values(model: ModelSpec, kind: str, url: str) -> dict[str, Any]:
    """The target model's inputs with the result filled in."""
    f = chain_field(model, kind)
    if f is None:
        return {}
    return {f.name: [url] if f.is_multi else url}
