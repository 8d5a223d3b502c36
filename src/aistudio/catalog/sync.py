"""Model sync: compare our catalog with Kie's catalog endpoints and produce a reviewed diff.

Kie's answers come from `GET /api/v1/models` (the list, with `pricingDesc`), `GET /api/v1/models/{id}/schema`
(the OpenAPI document of the createTask request) and `GET /api/v1/models/{id}/price` — fetched politely by
`fetch_snapshot`, or read from a directory of saved answers by `read_snapshot` (same file layout as
`fetch_snapshot(..., save_to=DIR)` writes: `models.json`, `schema_<id>.json`, `price_<id>.json`, with `/` in
ids written as `__`).

`compare` is pure: catalog + snapshot → `SyncReport`. Each change says what should happen:
- `add_disabled`: a model Kie lists that the catalog lacks; `apply_report` writes it, disabled, into
  `_sync_pending.yaml` next to the catalog files (the loader reads it like any catalog file);
- `disable`: Kie removed a field the catalog sends, changed its type, stopped accepting an enum value we
  offer, made a field required that we may omit, tightened a bound, or changed the price — the model is
  disabled until a person reviews it;
- `retire`: a Market model Kie no longer lists — disabled with a `retired:` reason, never deleted;
- `review`: worth a look, harmless as is (new optional fields, new enum values, wording of a price text).
Nothing is ever deleted, enabled, repriced or re-specified automatically: a person edits the YAML.

Kie's price texts are compared with each model's `pricing.note`, which holds Kie's own text (normalized by
`normalize_price_text`): different credit amounts → `disable`; same amounts, other words → `review`.
"""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml

from aistudio.catalog.loader import Catalog, CatalogError, load_catalog
from aistudio.catalog.models import Family, InputField, ModelSpec

Action = Literal["add_disabled", "disable", "retire", "review"]
PENDING_FILE = "_sync_pending.yaml"
RETIRED_PREFIX = "retired:"
_CREATE_PATH = "/api/v1/jobs/createTask"

# ------------------------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class KieModel:
    """What Kie says about one model."""

    id: str
    title: str | None = None
    task_types: tuple[str, ...] = ()
    price_text: str | None = None
    price_known: bool = False  # Kie answered about the price (a text, or explicitly none)
    # The createTask `input` object: {"properties": {...}, "required": [...]}; None when not fetched.
    input_schema: dict[str, Any] | None = None


@dataclass
class KieSnapshot:
    models: dict[str, KieModel]
    source: str
    errors: dict[str, str] = field(default_factory=dict)  # model id -> why its schema is missing


def safe_name(model_id: str) -> str:
    """File-name form of a model id (`google/nano-banana` → `google__nano-banana`)."""
    return model_id.replace("/", "__")


def _data(answer: Any) -> Any:
    """The `data` of a Kie envelope, or the answer itself when it was saved without one."""
    if isinstance(answer, dict) and "code" in answer and "data" in answer:
        return answer["data"]
    return answer


def _resolve(node: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """Inline local `$ref`s (`#/components/schemas/X`) of an OpenAPI document."""
    if depth > 20:
        return node
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            merged = {**_resolve(target, root, depth + 1), **{k: v for k, v in node.items() if k != "$ref"}}
            return merged
        return {k: _resolve(v, root, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, root, depth + 1) for v in node]
    return node


def input_schema_from_answer(answer: Any) -> dict[str, Any] | None:
    """The createTask `input` schema from a schema answer (`{model, openapi}`), or a bare input schema."""
    data = _data(answer)
    if not isinstance(data, dict):
        return None
    openapi = data.get("openapi", data)
    if isinstance(openapi, dict) and "paths" in openapi:
        paths = openapi.get("paths") or {}
        operation = (paths.get(_CREATE_PATH) or next(iter(paths.values()), {})).get("post") or {}
        content = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
        body = _resolve(content.get("schema") or {}, openapi)
        schema = (body.get("properties") or {}).get("input")
    else:
        schema = openapi.get("input") if isinstance(openapi, dict) and "input" in openapi else openapi
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return None
    return {"properties": schema["properties"], "required": list(schema.get("required") or [])}


def price_from_answer(answer: Any) -> str | None:
    data = _data(answer)
    if isinstance(data, dict):
        text = data.get("pricingDesc")
        return str(text) if text else None
    return str(data) if data else None


def models_from_answer(answer: Any) -> list[dict[str, Any]]:
    data = _data(answer)
    if isinstance(data, dict):
        data = data.get("models") or data.get("records") or []
    return [m for m in data if isinstance(m, dict) and m.get("model")] if isinstance(data, list) else []


def _kie_model(
    entry: dict[str, Any], schema: dict[str, Any] | None, price: str | None, *, price_answered: bool = False
) -> KieModel:
    task_types = entry.get("taskType") or []
    return KieModel(
        id=str(entry["model"]),
        title=entry.get("title"),
        task_types=tuple(str(t) for t in task_types) if isinstance(task_types, list) else (str(task_types),),
        price_text=price if price_answered else (entry.get("pricingDesc") or None),
        price_known=price_answered or "pricingDesc" in entry,
        input_schema=schema,
    )


def read_snapshot(directory: Path) -> KieSnapshot:
    """Saved answers: `models.json` plus any `schema_<id>.json` / `price_<id>.json` (missing ones: not compared)."""
    listing = directory / "models.json"
    if not listing.exists():
        raise FileNotFoundError(f"{listing} is missing: the model list is needed to compare anything")
    entries = models_from_answer(json.loads(listing.read_text(encoding="utf-8")))
    if not entries:
        raise ValueError(f"{listing} lists no models")
    models: dict[str, KieModel] = {}
    for entry in entries:
        name = safe_name(str(entry["model"]))
        schema_file, price_file = directory / f"schema_{name}.json", directory / f"price_{name}.json"
        schema = (
            input_schema_from_answer(json.loads(schema_file.read_text(encoding="utf-8")))
            if (schema_file.exists())
            else None
        )
        price = price_from_answer(json.loads(price_file.read_text(encoding="utf-8"))) if price_file.exists() else None
        model = _kie_model(entry, schema, price, price_answered=price_file.exists())
        models[model.id] = model
    return KieSnapshot(models=models, source=str(directory))


# ----------------------------------------------------------------------------------------------- fetch


async def fetch_snapshot(
    client: Any,
    *,
    pause: float = 1.5,
    save_to: Path | None = None,
    only: Iterable[str] | None = None,
    attempts: int = 6,
    backoff: float = 5.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    progress: Callable[[str], None] | None = None,
) -> KieSnapshot:
    """Read Kie's catalog endpoints one call at a time, `pause` seconds apart.

    Kie answers 429 after a few fast calls: a rate-limited call waits `backoff`, then twice that, ... and is
    retried up to `attempts` times. A model whose schema cannot be read is recorded in `errors` and left out
    of the field comparison; the sync goes on. `client` is a `KieClient` (its `query` returns `data`).
    """
    from aistudio.kie.errors import KieError, KieRateLimited

    calls = 0

    async def polite(path: str) -> Any:
        nonlocal calls
        for attempt in range(1, attempts + 1):
            if calls and pause > 0:
                await sleep(pause)
            calls += 1
            try:
                return await client.query(path)
            except KieRateLimited:
                if attempt == attempts:
                    raise
                await sleep(backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def save(name: str, data: Any) -> None:
        if save_to is not None:
            save_to.mkdir(parents=True, exist_ok=True)
            envelope = {"code": 200, "msg": "success", "data": data}
            (save_to / name).write_text(json.dumps(envelope, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    listing = await polite("/api/v1/models")
    save("models.json", listing)
    entries = models_from_answer(listing)
    if not entries:
        raise ValueError("Kie's model list is empty: refusing to compare (everything would look retired)")
    wanted = set(only) if only is not None else None
    models: dict[str, KieModel] = {}
    errors: dict[str, str] = {}
    for entry in entries:
        model_id = str(entry["model"])
        schema = price = None
        answered = False
        if wanted is None or model_id in wanted:
            if progress:
                progress(model_id)
            try:
                answer = await polite(f"/api/v1/models/{model_id}/schema")  # the id keeps its slash
                save(f"schema_{safe_name(model_id)}.json", answer)
                schema = input_schema_from_answer(answer)
                if schema is None:
                    errors[model_id] = "schema answer has no createTask input object"
                if not entry.get("pricingDesc"):
                    answer = await polite(f"/api/v1/models/{model_id}/price")
                    save(f"price_{safe_name(model_id)}.json", answer)
                    price = price_from_answer(answer)
                    answered = True
            except KieError as exc:
                errors[model_id] = f"{type(exc).__name__}: {exc.message}"
        models[model_id] = _kie_model(entry, schema, price, price_answered=answered)
    return KieSnapshot(models=models, source="Kie API", errors=errors)


# --------------------------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class Change:
    model: str
    kind: str
    action: Action
    detail: str
    field: str | None = None


@dataclass
class SyncReport:
    source: str
    listed: int
    compared: int
    changes: list[Change]
    unavailable: dict[str, str]
    new_models: dict[str, KieModel] = field(default_factory=dict)

    def by_action(self, action: Action) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def models_to(self, action: Action) -> dict[str, list[str]]:
        """Model id → the details of its changes with this action."""
        out: dict[str, list[str]] = {}
        for change in self.by_action(action):
            out.setdefault(change.model, []).append(change.detail)
        return out

    @property
    def empty(self) -> bool:
        return not self.changes

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "listed": self.listed,
            "compared": self.compared,
            "unavailable": self.unavailable,
            "changes": [
                {"model": c.model, "kind": c.kind, "action": c.action, "field": c.field, "detail": c.detail}
                for c in self.changes
            ],
        }

    def render(self) -> str:
        lines = [
            f"Kie catalog sync from {self.source}: {self.listed} models listed, {self.compared} compared field by "
            f"field, {len(self.unavailable)} without a schema."
        ]
        sections: list[tuple[Action, str, str]] = [
            ("add_disabled", "NEW MODELS (added disabled, for review)", "+"),
            ("disable", "DISABLE UNTIL REVIEWED", "!"),
            ("retire", "RETIRED (gone from Kie's list; disabled, kept for history)", "-"),
            ("review", "REVIEW (no automatic action)", "?"),
        ]
        for action, title, mark in sections:
            changes = self.by_action(action)
            if not changes:
                continue
            lines += ["", f"{title} — {len({c.model for c in changes})} model(s)"]
            lines += [f"  {mark} {c.model}: {c.detail}" for c in changes]
        if self.unavailable:
            lines += ["", f"NOT COMPARED (schema unavailable) — {len(self.unavailable)}"]
            lines += [f"  · {model}: {why}" for model, why in sorted(self.unavailable.items())]
        if self.empty:
            lines += ["", "No differences: the catalog matches Kie."]
        return "\n".join(lines) + "\n"


def normalize_price_text(text: str | None) -> str | None:
    """Kie's price text without its trailing bonus sentence ("High-tier top-ups ..."), whitespace collapsed."""
    if not text:
        return None
    cut = re.split(r"\s*High-tier top-ups", text, maxsplit=1)[0]
    return re.sub(r"\s+", " ", cut).strip() or None


_CREDITS = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(?:Kie\s+)?credits?\b", re.IGNORECASE)


def credit_amounts(text: str | None) -> set[Decimal]:
    """Every credit amount a price text names ("12 credits per 1,000 characters" → {12})."""
    amounts: set[Decimal] = set()
    for number in _CREDITS.findall(text or ""):
        try:
            amounts.add(Decimal(number.replace(",", "")).normalize())
        except InvalidOperation:
            continue
    return amounts


def _fmt(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


def _kie_type(prop: dict[str, Any]) -> str | None:
    kind = prop.get("type")
    if kind == "number" and prop.get("multipleOf") == 1:
        return "integer"
    return kind if isinstance(kind, str) else None


def _sent(spec: ModelSpec, f: InputField) -> bool:
    """The bot sends this field (asks for it, or sends its default, or prices on it)."""
    return f.ask != "hidden" or f.default is not None or f.required or f.name in spec.pricing.fields_used()


def _compare_fields(spec: ModelSpec, schema: dict[str, Any]) -> list[Change]:
    props: dict[str, Any] = schema["properties"]
    required = set(schema.get("required") or [])
    ours = {f.name: f for f in spec.inputs}
    changes: list[Change] = []

    def add(kind: str, action: Action, name: str, detail: str) -> None:
        changes.append(Change(spec.id, kind, action, f"field `{name}`: {detail}", name))

    for name, f in ours.items():
        prop = props.get(name)
        if prop is None:
            if _sent(spec, f):
                add("field_removed", "disable", name, "removed by Kie, but the catalog sends it")
            else:
                add("field_removed", "review", name, "removed by Kie (never sent: drop it from the catalog)")
            continue
        kind = _kie_type(prop)
        if kind == "object" or kind is None:
            continue
        if kind != f.type:
            add("type_changed", "disable", name, f"type changed from {f.type} to {kind}")
            continue
        kie_enum = prop.get("enum")
        if kie_enum is not None:
            if f.enum is None:
                add("enum_added", "disable", name, f"Kie now only accepts {_fmt(kie_enum)}")
            else:
                gone = [v for v in f.enum if v not in kie_enum]
                new = [v for v in kie_enum if v not in f.enum]
                if gone:
                    add(
                        "enum_values_removed",
                        "disable",
                        name,
                        f"Kie no longer accepts {_fmt(gone)} (still offered by the catalog)",
                    )
                if new:
                    add("enum_values_added", "review", name, f"Kie now also accepts {_fmt(new)}")
        if name in required and not f.required and f.default is None:
            add("became_required", "disable", name, "now required by Kie, and the catalog may omit it")
        kie_default = prop.get("default")
        if kie_default not in (None, "", [], [""]) and f.default is not None and kie_default != f.default:
            add("default_changed", "review", name, f"Kie's default is now {kie_default!r} (catalog: {f.default!r})")
        for ours_attr, keyword, tighter in (
            ("maximum", "maximum", lambda mine, kie: mine is None or kie < mine),
            ("minimum", "minimum", lambda mine, kie: mine is None or kie > mine),
            ("max_length", "maxLength", lambda mine, kie: mine is None or kie < mine),
            ("min_length", "minLength", lambda mine, kie: mine is None or kie > mine),
            ("max_items", "maxItems", lambda mine, kie: mine is None or kie < mine),
            ("min_items", "minItems", lambda mine, kie: mine is None or kie > mine),
        ):
            kie_value, mine = prop.get(keyword), getattr(f, ours_attr)
            if not isinstance(kie_value, int | float) or isinstance(kie_value, bool):
                continue
            if keyword in ("minLength", "minItems") and kie_value == 0:
                continue
            if tighter(mine, kie_value):
                add("bound_tightened", "disable", name, f"Kie's {keyword} is now {kie_value} (catalog: {mine})")
            elif mine is not None and kie_value != mine and ours_attr in ("maximum", "max_length", "max_items"):
                add("bound_loosened", "review", name, f"Kie now allows {keyword} {kie_value} (catalog: {mine})")
    for name, prop in props.items():
        if name in ours:
            continue
        if name in required:
            add("required_field_added", "disable", name, "new field Kie requires; the catalog does not send it")
        else:
            add("field_added", "review", name, f"new optional {prop.get('type', '?')} field")
    return changes


def _compare_price(spec: ModelSpec, kie_text: str | None) -> list[Change]:
    mine, theirs = normalize_price_text(spec.pricing.note), normalize_price_text(kie_text)
    if mine == theirs or (theirs is None and mine is None):
        return []
    if theirs is None:
        return [Change(spec.id, "price_removed", "review", "Kie shows no price text any more")]
    if mine is None:
        return [Change(spec.id, "price_published", "review", f"Kie now publishes a price: {theirs!r}")]
    old, new = credit_amounts(mine), credit_amounts(theirs)
    if old != new:
        detail = f"price changed: credits {_fmt(sorted(old))} → {_fmt(sorted(new))}; was {mine!r}; now {theirs!r}"
        return [Change(spec.id, "price_changed", "disable", detail)]
    return [Change(spec.id, "price_wording_changed", "review", f"price text reworded (same amounts): {theirs!r}")]


def is_retired(spec: ModelSpec) -> bool:
    return not spec.enabled and (spec.disabled_reason or "").startswith(RETIRED_PREFIX)


def compare(catalog: Catalog, snapshot: KieSnapshot) -> SyncReport:
    """Our catalog against Kie's answers (pure)."""
    changes: list[Change] = []
    compared = 0
    new_models: dict[str, KieModel] = {}
    for model_id, kie in sorted(snapshot.models.items()):
        if model_id not in catalog:
            new_models[model_id] = kie
            kinds = ", ".join(kie.task_types) or "?"
            fields = len(kie.input_schema["properties"]) if kie.input_schema else "?"
            price = normalize_price_text(kie.price_text) or "no price text"
            changes.append(
                Change(
                    model_id,
                    "new_model",
                    "add_disabled",
                    f"new at Kie: {kie.title or model_id!r} [{kinds}], {fields} fields; {price}",
                )
            )
            continue
        spec = catalog.get(model_id)
        if is_retired(spec):
            changes.append(Change(model_id, "back", "review", "listed by Kie again, but retired in the catalog"))
        if spec.family is Family.MARKET and kie.input_schema is not None:
            compared += 1
            changes.extend(_compare_fields(spec, kie.input_schema))
        if kie.price_known:
            changes.extend(_compare_price(spec, kie.price_text))
    for spec in catalog:
        if spec.family is Family.MARKET and spec.id not in snapshot.models and not is_retired(spec):
            changes.append(Change(spec.id, "disappeared", "retire", "no longer in Kie's model list"))
    order = {"add_disabled": 0, "disable": 1, "retire": 2, "review": 3}
    changes.sort(key=lambda c: (order[c.action], c.model, c.field or ""))
    return SyncReport(
        source=snapshot.source,
        listed=len(snapshot.models),
        compared=compared,
        changes=changes,
        unavailable=dict(snapshot.errors),
        new_models=new_models,
    )


# ----------------------------------------------------------------------------------------------- apply

_TASK_CATEGORY = {
    "text to image": ("text_to_image", "image"),
    "image to image": ("image_edit", "image"),
    "image edit": ("image_edit", "image"),
    "text to video": ("text_to_video", "video"),
    "image to video": ("image_to_video", "video"),
    "video to video": ("video_to_video", "video"),
    "speech to video": ("avatar", "video"),
    "lip sync": ("avatar", "video"),
    "text to speech": ("speech", "audio"),
    "text to music": ("music", "audio"),
    "text to audio": ("sound", "audio"),
    "audio to audio": ("sound", "audio"),
}
_HIDDEN = {
    "seed",
    "nsfw_checker",
    "enable_safety_checker",
    "watermark",
    "sync_mode",
    "num_inference_steps",
    "guidance_scale",
    "task_id",
}


def _category(kie: KieModel) -> tuple[str, str]:
    for task in kie.task_types:
        hit = _TASK_CATEGORY.get(task.strip().lower())
        if hit:
            return hit
    return "tools", "image"


def _media(name: str) -> str | None:
    lowered = name.lower()
    if not (lowered.endswith(("_url", "_urls", "url", "urls")) or lowered in ("image", "image_input")):
        return None
    if "video" in lowered or "clip" in lowered:
        return "video"
    if "audio" in lowered or "voice" in lowered:
        return "audio"
    return "image"


def _pending_field(name: str, prop: dict[str, Any], required: bool) -> dict[str, Any] | None:
    kind = _kie_type(prop)
    if kind not in ("string", "integer", "number", "boolean", "array"):
        return None
    entry: dict[str, Any] = {"name": name, "type": kind}
    if required:
        entry["required"] = True
    for keyword, attr in (
        ("enum", "enum"),
        ("default", "default"),
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("minLength", "min_length"),
        ("maxLength", "max_length"),
        ("minItems", "min_items"),
        ("maxItems", "max_items"),
    ):
        if prop.get(keyword) is not None:
            entry[attr] = prop[keyword]
    if entry.get("default") in ("", [], [""]):
        del entry["default"]
    if entry.get("enum") is not None and "default" in entry and entry["default"] not in entry["enum"]:
        del entry["default"]
    if "min_length" in entry and entry["min_length"] == 0:
        del entry["min_length"]
    if entry.get("min_items") == 0:
        del entry["min_items"]
    media = _media(name)
    if media and kind in ("string", "array"):
        entry["media"] = media
    if required and "default" not in entry:
        entry["ask"] = "wizard"
    elif name in _HIDDEN or (kind == "array" and not media):
        entry["ask"] = "hidden"
    else:
        entry["ask"] = "wizard" if name in ("prompt", "text") else "advanced"
    label = name.replace("_", " ")[:30]
    entry["label"] = {"ru": label, "en": label}
    return entry


def pending_entry(kie: KieModel, today: str) -> dict[str, Any]:
    """A disabled catalog entry for a model new at Kie, from its schema; texts and price wait for review."""
    category, output = _category(kie)
    schema = kie.input_schema or {"properties": {}, "required": []}
    required = set(schema.get("required") or [])
    inputs = [
        f
        for name, prop in schema["properties"].items()
        if isinstance(prop, dict) and (f := _pending_field(name, prop, name in required)) is not None
    ]
    title = (kie.title or kie.id)[:120]
    entry: dict[str, Any] = {
        "id": kie.id,
        "category": category,
        "output": output,
        "display_order": 5000,
        "enabled": False,
        "disabled_reason": f"new at Kie (sync {today}): check fields, write texts and a pricing rule, then enable",
        "name": {"ru": title, "en": title},
        "description": {"ru": "Новая модель: ждёт проверки.", "en": "New model awaiting review."},
        "pricing": {"base": 0},
        "inputs": inputs,
    }
    note = normalize_price_text(kie.price_text)
    if note:
        entry["pricing"]["note"] = note
    ModelSpec.model_validate(entry)  # never write an entry the loader would refuse
    return entry


@dataclass
class ApplyResult:
    added: list[str]
    disabled: list[str]
    retired: list[str]
    skipped: list[str]


_ID_LINE = re.compile(r"^  - id: \"?(?P<id>[^\"\n]+?)\"?\s*$")


def _set_disabled(text: str, model_id: str, reason: str) -> str | None:
    """`text` with the model's entry set to `enabled: false` and `reason`; None if the entry is not there."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        match = _ID_LINE.match(line)
        if not match or match["id"] != model_id:
            continue
        end = index + 1
        while end < len(lines) and not _ID_LINE.match(lines[end]) and not lines[end].startswith("#"):
            end += 1
        block = lines[index + 1 : end]
        kept: list[str] = []
        skipping = False
        for item in block:
            if item.startswith(("    enabled:", "    disabled_reason:")):
                skipping = item.startswith("    disabled_reason:")
                continue
            if skipping and item.startswith("      "):
                continue  # continuation of a folded disabled_reason
            skipping = False
            kept.append(item)
        head = [line, "    enabled: false", f"    disabled_reason: {json.dumps(reason, ensure_ascii=False)}"]
        return "\n".join(lines[:index] + head + kept + lines[end:])
    return None


def apply_report(report: SyncReport, catalog_dir: Path, *, today: str) -> ApplyResult:
    """Write the safe parts: new models (disabled) into `_sync_pending.yaml`; disable and retire in place.

    Never deletes a model, never enables one, never touches fields or prices. The result is loaded with
    the catalog loader before it is kept; on any error every file is restored.
    """
    files = sorted(catalog_dir.glob("*.yaml"))
    originals = {path: path.read_text(encoding="utf-8") for path in files}
    texts = dict(originals)
    result = ApplyResult(added=[], disabled=[], retired=[], skipped=[])
    current = load_catalog(catalog_dir)

    def disable(model_id: str, reason: str, bucket: list[str]) -> None:
        for path, text in texts.items():
            changed = _set_disabled(text, model_id, reason)
            if changed is not None:
                texts[path] = changed
                bucket.append(model_id)
                return
        result.skipped.append(model_id)

    for model_id, details in report.models_to("disable").items():
        if model_id in current and current.get(model_id).enabled:
            disable(model_id, f"sync {today}: {'; '.join(details)} — review before enabling", result.disabled)
    retirements = report.models_to("retire")
    market = sum(1 for m in current if m.family is Family.MARKET)
    if len(retirements) > max(5, market // 4):
        result.skipped.extend(sorted(retirements))  # more than a quarter gone at once: a partial answer?
    else:
        for model_id in retirements:
            disable(
                model_id, f"{RETIRED_PREFIX} gone from Kie's model list on {today}; kept for history", result.retired
            )

    pending_path = catalog_dir / PENDING_FILE
    pending_doc = yaml.safe_load(texts.get(pending_path, "")) if pending_path in texts else None
    pending = list((pending_doc or {}).get("models") or [])
    known = {m["id"] for m in pending if isinstance(m, dict)}
    for model_id, kie in sorted(report.new_models.items()):
        if model_id in known or model_id in current:
            continue
        pending.append(pending_entry(kie, today))
        result.added.append(model_id)
    if result.added:
        header = (
            "# Models Kie listed that the catalog did not have, written by `aistudio catalog sync --apply`.\n"
            "# All disabled: review the fields, write names, descriptions and a pricing rule, move each\n"
            "# entry into its category file, then enable it.\n"
        )
        entries = [
            textwrap.indent(yaml.safe_dump([entry], allow_unicode=True, sort_keys=False, width=110), "  ")
            for entry in pending
        ]
        texts[pending_path] = header + "models:\n" + "\n".join(entries)  # `  - id:` lines, as in the catalog

    try:
        for path, text in texts.items():
            if originals.get(path) != text:
                path.write_text(text, encoding="utf-8")
        load_catalog(catalog_dir)
    except (CatalogError, OSError, yaml.YAMLError):
        for path in texts:
            if path in originals:
                path.write_text(originals[path], encoding="utf-8")
            else:
                path.unlink(missing_ok=True)
        raise
    return result
