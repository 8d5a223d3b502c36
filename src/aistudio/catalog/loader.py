"""Load and check the catalog data files shipped in `aistudio/data/catalog/*.yaml`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from aistudio.catalog.models import Category, ModelSpec

CATALOG_DIR = Path(__file__).resolve().parent.parent / "data" / "catalog"
# libyaml's safe loader parses the catalog about ten times faster than the pure-Python one (start-up time).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CatalogError(Exception):
    """Invalid catalog data; the message names the file, the model and the field."""


def _normalize(text: str) -> str:
    return re.sub(r"[\s\-_./]+", "", text.lower())


class Catalog:
    """An immutable set of models, looked up by id, category or a search query."""

    def __init__(self, models: Iterable[ModelSpec]) -> None:
        self._models: dict[str, ModelSpec] = {}
        for model in models:
            if model.id in self._models:
                raise CatalogError(f"model {model.id}: defined twice")
            self._models[model.id] = model
        self._ordered = sorted(self._models.values(), key=lambda m: (m.display_order, m.id))
        # Every screen asks for the visible models (often per category): computed once per version.
        self._visible_at: object = None
        self._visible: list[ModelSpec] = []
        self._by_category: dict[Category, list[ModelSpec]] = {}

    def __len__(self) -> int:
        return len(self._models)

    def version(self) -> object:
        """Changes whenever what the models read as may have changed (never, for the shipped catalog)."""
        return 0

    def _visible_now(self) -> list[ModelSpec]:
        version = self.version()
        if self._visible_at != version:
            self._visible = [m for m in self if m.enabled and not m.hidden]
            self._by_category = {}
            for model in self._visible:
                self._by_category.setdefault(model.category, []).append(model)
            self._visible_at = version
        return self._visible

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._ordered)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._models[model_id]
        except KeyError:
            raise KeyError(f"unknown model {model_id!r}") from None

    def visible(self) -> list[ModelSpec]:
        """Enabled models a user may pick."""
        return list(self._visible_now())

    def by_category(self, category: Category) -> list[ModelSpec]:
        self._visible_now()
        return list(self._by_category.get(category, ()))

    def search(self, query: str, lang: str = "ru") -> list[ModelSpec]:
        """Models whose id or name contains the query, ignoring case, spaces and hyphens."""
        wanted = _normalize(query)
        if not wanted:
            return []
        hits = []
        for model in self.visible():
            haystack = [model.id, model.name.ru, model.name.en]
            if any(wanted in _normalize(h) for h in haystack):
                hits.append(model)
        return hits

    def default_credits(self, model: ModelSpec) -> Decimal:
        return model.pricing.credits(model.defaults())


def _location(err: dict[str, Any], entry: dict[str, Any]) -> str:
    """`inputs.1.default` → `inputs.resolution.default`: name the field, not its position."""
    loc = [str(part) for part in err["loc"]]
    if len(loc) >= 2 and loc[0] == "inputs" and loc[1].isdigit():
        inputs = entry.get("inputs") or []
        index = int(loc[1])
        if index < len(inputs) and isinstance(inputs[index], dict) and inputs[index].get("name"):
            loc[1] = str(inputs[index]["name"])
    return ".".join(loc) if loc else "(model)"


def _parse_file(path: Path) -> list[ModelSpec]:
    try:
        with path.open(encoding="utf-8") as fh:
            document = yaml.load(fh, Loader=_SAFE_LOADER) or {}
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path.name}: not valid YAML: {exc}") from None
    entries = document.get("models") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise CatalogError(f"{path.name}: expected a top-level `models:` list")
    specs = []
    for index, entry in enumerate(entries):
        model_id = entry.get("id", f"#{index}") if isinstance(entry, dict) else f"#{index}"
        try:
            spec = ModelSpec.model_validate(entry)
        except ValidationError as exc:
            details = "; ".join(f"field {_location(e, entry)}: {e['msg']}" for e in exc.errors())
            raise CatalogError(f"{path.name}: model {model_id}: {details}") from None
        _check_priceable(path, spec)
        specs.append(spec)
    return specs


def _check_priceable(path: Path, spec: ModelSpec) -> None:
    for name in spec.pricing.per:
        if spec.field(name).default is None:
            raise CatalogError(f"{path.name}: model {spec.id}: field {name}: a `per` pricing field needs a default")
    if not spec.enabled:
        return
    try:
        credits = spec.pricing.credits(spec.defaults())
    except (ValueError, ArithmeticError) as exc:
        raise CatalogError(f"{path.name}: model {spec.id}: field pricing: {exc}") from None
    if credits <= 0:
        raise CatalogError(f"{path.name}: model {spec.id}: field pricing: an enabled model must cost > 0")


def load_catalog(directory: Path = CATALOG_DIR) -> Catalog:
    """Read every catalog file; raise `CatalogError` on the first invalid entry.

    A catalog is immutable, so one parsed from unchanged files is shared (the bot and the sandbox's Kie
    emulator in one process, tests that start many bots); any change to a file's size or mtime reloads.
    """
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise CatalogError(f"no catalog files in {directory}")
    fingerprint = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _load_files(fingerprint)


@lru_cache(maxsize=8)
def _load_files(fingerprint: tuple[tuple[str, int, int], ...]) -> Catalog:
    models: list[ModelSpec] = []
    for name, _size, _mtime in fingerprint:
        models.extend(_parse_file(Path(name)))
    return Catalog(models)
