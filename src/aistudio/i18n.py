"""Translations: user-facing text lives only in `locales/<lang>/*.yaml`.

Each feature owns one file per language (`locales/ru/wizard.yaml`, ...); keys are dotted paths and must be
unique across files. Placeholders use `str.format` syntax.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

# libyaml's parser when installed: reading the locales at start-up takes a tenth of the time.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LOCALES_DIR = Path(__file__).with_name("locales")
LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"


class TranslationError(Exception):
    pass


def pick_language(language_code: str | None) -> str:
    """Telegram's `language_code` → one of our languages (Russian unless the user's client is English)."""
    if language_code and language_code.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def _flatten(prefix: str, node: Any, out: dict[str, str], source: Path) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out, source)
        return
    if not isinstance(node, str):
        raise TranslationError(f"{source}: {prefix} must be a string, got {type(node).__name__}")
    if prefix in out:
        raise TranslationError(f"{source}: duplicate key {prefix}")
    out[prefix] = node


@lru_cache(maxsize=4)
def load_locales(directory: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """Read every locale file; fail loudly on a duplicate key or a key missing in one language."""
    tables: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        table: dict[str, str] = {}
        for path in sorted((directory / lang).glob("*.yaml")):
            with path.open(encoding="utf-8") as fh:
                _flatten("", yaml.load(fh, Loader=_SAFE_LOADER) or {}, table, path)
        tables[lang] = table
    keys = {lang: set(t) for lang, t in tables.items()}
    for lang, own in keys.items():
        for other, theirs in keys.items():
            missing = theirs - own
            if missing:
                raise TranslationError(f"locale {lang} lacks keys present in {other}: {sorted(missing)[:5]}")
    return tables


class Translator:
    """`t("key", lang, **params)`; unknown keys are a programming error and raise."""

    def __init__(self, tables: dict[str, dict[str, str]] | None = None) -> None:
        self._tables = tables if tables is not None else load_locales()

    def __call__(self, key: str, lang: str = DEFAULT_LANGUAGE, /, **params: Any) -> str:
        table = self._tables.get(lang) or self._tables[DEFAULT_LANGUAGE]
        try:
            template = table[key]
        except KeyError:
            raise TranslationError(f"no text for {key!r} in {lang}") from None
        return template.format(**params) if params else template

    def has(self, key: str) -> bool:
        return key in self._tables[DEFAULT_LANGUAGE]


@lru_cache(maxsize=1)
def translator() -> Translator:
    return Translator()
