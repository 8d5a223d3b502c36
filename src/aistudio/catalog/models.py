"""Catalog data types: a model, its input fields and its pricing rule in Kie credits."""

from __future__ import annotations

import math
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Category(StrEnum):
    TEXT_TO_IMAGE = "text_to_image"
    IMAGE_EDIT = "image_edit"
    TEXT_TO_VIDEO = "text_to_video"
    IMAGE_TO_VIDEO = "image_to_video"
    VIDEO_TO_VIDEO = "video_to_video"
    MUSIC = "music"
    SPEECH = "speech"
    SOUND = "sound"
    TOOLS = "tools"  # upscale, remove background, other utilities
    AVATAR = "avatar"  # talking heads and lip-sync


class Family(StrEnum):
    """Which Kie API serves the model: the unified Market jobs API or a family's own endpoints."""

    MARKET = "market"
    VEO = "veo"
    SUNO = "suno"
    RUNWAY = "runway"
    GPT4O_IMAGE = "gpt4o_image"
    FLUX_KONTEXT = "flux_kontext"
    MIDJOURNEY = "midjourney"


MediaKind = Literal["image", "video", "audio"]
OutputKind = Literal["image", "video", "audio", "text"]


class Localized(BaseModel):
    """A text in Russian (first) and English."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ru: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.ru


class InputField(BaseModel):
    """One input of a model's create request, with Kie's constraints and our UI hints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    type: Literal["string", "integer", "number", "boolean", "array"]
    required: bool = False
    enum: list[Any] | None = None
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1)
    min_items: int | None = Field(default=None, ge=0)
    max_items: int | None = Field(default=None, ge=1)
    # Upload fields: the user sends a file, we pass Kie the uploaded file's URL.
    media: MediaKind | None = None
    # wizard: asked step by step; advanced: under Settings with its default; hidden: never asked.
    ask: Literal["wizard", "advanced", "hidden"] = "advanced"
    label: Localized

    @model_validator(mode="after")
    def _check_consistent(self) -> InputField:
        if self.enum is not None and len(self.enum) == 0:
            raise ValueError("enum must not be empty")
        if self.enum is not None and self.default is not None and self.default not in self.enum:
            raise ValueError(f"default {self.default!r} is not one of the enum values")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is greater than maximum")
        if self.media is not None and self.type not in ("string", "array"):
            raise ValueError("a media field must be a string (one URL) or an array of URLs")
        if self.required and self.ask == "hidden" and self.default is None:
            raise ValueError("a required hidden field needs a default")
        return self

    @property
    def is_multi(self) -> bool:
        return self.type == "array"


class PricingRule(BaseModel):
    """Kie credits as a function of the inputs.

    credits = (table[key of `by` field values] or `base`) × Π(value of each `per` field)
              × ceil(len(text of `per_chars.field`) / `per_chars.unit`)
    Table keys join the `by` values with "|"; a part may be "*" to match any value.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: Decimal | None = Field(default=None, ge=0)
    by: list[str] = Field(default_factory=list)
    table: dict[str, Decimal] = Field(default_factory=dict)
    per: list[str] = Field(default_factory=list)
    per_chars: PerChars | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> PricingRule:
        if self.base is None and not self.table:
            raise ValueError("a pricing rule needs a base or a table")
        if self.table and not self.by:
            raise ValueError("a table needs `by` fields")
        for key, value in self.table.items():
            if len(key.split("|")) != len(self.by):
                raise ValueError(f"table key {key!r} does not have {len(self.by)} parts")
            if value < 0:
                raise ValueError(f"table value for {key!r} is negative")
        return self

    def fields_used(self) -> set[str]:
        used = set(self.by) | set(self.per)
        if self.per_chars:
            used.add(self.per_chars.field)
        return used

    def credits(self, inputs: dict[str, Any]) -> Decimal:
        """Kie credits for complete (validated, defaults applied) inputs."""
        amount = self._lookup(inputs)
        for name in self.per:
            amount *= _as_decimal(inputs.get(name), name)
        if self.per_chars:
            text = inputs.get(self.per_chars.field) or ""
            amount *= max(1, math.ceil(len(str(text)) / self.per_chars.unit))
        return amount

    def _lookup(self, inputs: dict[str, Any]) -> Decimal:
        if self.table:
            values = [_key_part(inputs.get(name)) for name in self.by]
            for key, credits in self.table.items():
                parts = key.split("|")
                if all(p == "*" or p == v for p, v in zip(parts, values, strict=True)):
                    return credits
        if self.base is None:
            raise ValueError(f"no price for {dict(zip(self.by, map(inputs.get, self.by), strict=True))}")
        return self.base


class PerChars(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str
    unit: int = Field(default=1000, ge=1)


PricingRule.model_rebuild()


def _key_part(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"pricing field {name!r} has no numeric value")
    if isinstance(value, list):
        return Decimal(len(value))
    text = str(value).strip().lower().removesuffix("s")  # durations such as "10s" or "10"
    return Decimal(text)


class ModelSpec(BaseModel):
    """One sellable model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=128)
    family: Family = Family.MARKET
    category: Category
    name: Localized
    description: Localized
    good_for: Localized | None = None
    output: OutputKind
    inputs: list[InputField]
    pricing: PricingRule
    tags: list[Literal["popular", "new"]] = Field(default_factory=list)
    enabled: bool = True
    disabled_reason: str | None = None
    hidden: bool = False  # helper-only models, never in menus
    typical_seconds: int = Field(default=30, ge=1)
    timeout_seconds: int = Field(default=900, ge=30)
    display_order: int = 1000

    @model_validator(mode="after")
    def _check_model(self) -> ModelSpec:
        names = [f.name for f in self.inputs]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"duplicate input fields: {sorted(duplicates)}")
        missing = self.pricing.fields_used() - set(names)
        if missing:
            raise ValueError(f"pricing uses unknown fields: {sorted(missing)}")
        if not self.enabled and not self.disabled_reason:
            raise ValueError("a disabled model needs a disabled_reason")
        return self

    def field(self, name: str) -> InputField:
        for f in self.inputs:
            if f.name == name:
                return f
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        """Inputs filled with every default; what the price "from X" is computed on."""
        return {f.name: f.default for f in self.inputs if f.default is not None}

    @property
    def media_inputs(self) -> list[InputField]:
        return [f for f in self.inputs if f.media]

    @property
    def is_free_candidate(self) -> bool:
        return self.enabled and not self.hidden
