"""Model sync: `aistudio catalog sync` against saved answers, the pure comparison, `--apply`, and the fetcher
against the Kie emulator over HTTP (and against 429s).

The snapshot in tests/data/kie_catalog_snapshot/ is Kie's real catalog with crafted changes (see its README).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestServer

from aistudio.catalog import Family, load_catalog
from aistudio.catalog.loader import CATALOG_DIR, Catalog
from aistudio.catalog.models import Category, InputField, Localized, ModelSpec, PricingRule
from aistudio.catalog.sync import (
    PENDING_FILE,
    KieModel,
    KieSnapshot,
    apply_report,
    compare,
    credit_amounts,
    fetch_snapshot,
    input_schema_from_answer,
    normalize_price_text,
    read_snapshot,
)
from aistudio.kie import KieClient
from aistudio.sandbox.kie import EmulatorConfig, create_app

SNAPSHOT = Path(__file__).resolve().parent.parent / "data" / "kie_catalog_snapshot"

EXPECTED = {
    ("kling-3.5/text-to-video", "new_model", "add_disabled", None),
    ("hailuo/02-text-to-video-standard", "price_changed", "disable", None),
    ("kling-2.6/text-to-video", "field_removed", "disable", "sound"),
    ("seedream/4.5-text-to-image", "enum_values_removed", "disable", "aspect_ratio"),
    ("kling/v2-1-standard", "disappeared", "retire", None),
    ("nano-banana-pro", "field_added", "review", "seed"),
    ("recraft/remove-background", "price_wording_changed", "review", None),
    ("seedream/4.5-text-to-image", "enum_values_added", "review", "aspect_ratio"),
}


def aistudio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aistudio.cli", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


def _keys(changes: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(c["model"], c["kind"], c["action"], c["field"]) for c in changes}


# ------------------------------------------------------------------------------------------ the command


def test_sync_from_the_snapshot_prints_the_expected_diff(tmp_path: Path) -> None:
    out = tmp_path / "diff.txt"

    result = aistudio("catalog", "sync", "--from", f"{SNAPSHOT}/", "--out", str(out))

    assert result.returncode == 1, result.stderr  # 1: the catalog differs from Kie (like diff)
    assert out.read_text(encoding="utf-8") == result.stdout
    text = result.stdout
    assert "139 models listed, 5 compared field by field" in text
    assert "+ kling-3.5/text-to-video: new at Kie" in text
    assert "! kling-2.6/text-to-video: field `sound`: removed by Kie, but the catalog sends it" in text
    assert "! seedream/4.5-text-to-image: field `aspect_ratio`: Kie no longer accepts 21:9" in text
    assert "! hailuo/02-text-to-video-standard: price changed: credits 5 → 6" in text
    assert "- kling/v2-1-standard: no longer in Kie's model list" in text
    assert "? nano-banana-pro: field `seed`: new optional integer field" in text
    assert "? seedream/4.5-text-to-image: field `aspect_ratio`: Kie now also accepts 5:4" in text
    assert "z-image" not in text  # its schema is Kie's, unchanged


def test_sync_json_lists_exactly_the_crafted_changes() -> None:
    result = aistudio("catalog", "sync", "--from", str(SNAPSHOT), "--json")

    report = json.loads(result.stdout)
    assert result.returncode == 1, result.stderr
    assert _keys(report["changes"]) == EXPECTED
    assert report["listed"] == 139 and report["compared"] == 5 and report["unavailable"] == {}


def test_sync_of_unreadable_answers_fails_cleanly(tmp_path: Path) -> None:
    result = aistudio("catalog", "sync", "--from", str(tmp_path))

    assert result.returncode == 2
    assert "models.json" in result.stderr and "Traceback" not in result.stderr


def test_sync_help() -> None:
    result = aistudio("catalog", "sync", "--help")

    assert result.returncode == 0 and "--from" in result.stdout and "--apply" in result.stdout


# ----------------------------------------------------------------------------------------------- apply


def _copy_catalog(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, target)
    return target


def _spec_without_state(spec: ModelSpec) -> dict[str, Any]:
    return spec.model_dump(exclude={"enabled", "disabled_reason"})


def test_apply_adds_new_models_disabled_disables_changed_ones_retires_vanished_ones_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    directory = _copy_catalog(tmp_path)
    before = load_catalog(directory)

    result = aistudio("catalog", "sync", "--from", str(SNAPSHOT), "--apply", "--catalog-dir", str(directory))

    assert result.returncode == 1, result.stderr
    assert "applied: 1 added disabled, 3 disabled, 1 retired" in result.stderr
    after = load_catalog(directory)
    assert {m.id for m in after} == {m.id for m in before} | {"kling-3.5/text-to-video"}
    new = after.get("kling-3.5/text-to-video")
    assert not new.enabled and new.disabled_reason and new.disabled_reason.startswith("new at Kie")
    assert [f.name for f in new.inputs] == ["prompt", "image_urls", "resolution", "duration", "sound", "nsfw_checker"]
    assert new.field("image_urls").media == "image" and new.field("prompt").ask == "wizard"
    assert (directory / PENDING_FILE).exists()
    for model_id in ("hailuo/02-text-to-video-standard", "kling-2.6/text-to-video", "seedream/4.5-text-to-image"):
        reason = after.get(model_id).disabled_reason or ""
        assert not after.get(model_id).enabled and reason.startswith("sync ") and "review" in reason, model_id
    retired = after.get("kling/v2-1-standard")
    assert not retired.enabled and (retired.disabled_reason or "").startswith("retired:")
    changed = {"hailuo/02-text-to-video-standard", "kling-2.6/text-to-video", "seedream/4.5-text-to-image",
               "kling/v2-1-standard"}  # fmt: skip
    for spec in before:
        # Fields, prices and texts never change; only the enabled state of the flagged models does.
        assert _spec_without_state(after.get(spec.id)) == _spec_without_state(spec), spec.id
        if spec.id not in changed:
            assert after.get(spec.id).enabled == spec.enabled, spec.id


def test_apply_twice_changes_nothing_more(tmp_path: Path) -> None:
    directory = _copy_catalog(tmp_path)
    snapshot = read_snapshot(SNAPSHOT)
    apply_report(compare(load_catalog(directory), snapshot), directory, today="2026-11-21")
    files = {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.yaml")}

    second = compare(load_catalog(directory), snapshot)
    result = apply_report(second, directory, today="2026-11-22")

    assert result.added == [] and result.disabled == [] and result.retired == []
    assert {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.yaml")} == files
    assert not any(c.action in ("add_disabled", "retire") for c in second.changes)


def test_apply_never_enables_a_model(tmp_path: Path) -> None:
    directory = _copy_catalog(tmp_path)
    before = {m.id: m.enabled for m in load_catalog(directory)}
    apply_report(compare(load_catalog(directory), read_snapshot(SNAPSHOT)), directory, today="2026-11-21")

    after = load_catalog(directory)
    assert [m.id for m in after if m.enabled and not before.get(m.id, False)] == []


# ------------------------------------------------------------------------------------------- pure rules

L = Localized(ru="x", en="x")


def _spec(*fields: InputField, note: str | None = "5 credits per image", family: Family = Family.MARKET) -> ModelSpec:
    return ModelSpec(
        id="acme/model", family=family, category=Category.TEXT_TO_IMAGE, name=L, description=L, output="image",
        inputs=list(fields), pricing=PricingRule(base=5, note=note),
    )  # fmt: skip


def _field(name: str, type_: str = "string", **extra: Any) -> InputField:
    return InputField(name=name, type=type_, label=L, **extra)  # type: ignore[arg-type]


def _diff(spec: ModelSpec, properties: dict[str, Any], required: list[str] | None = None, price: str | None = None):
    kie = KieModel(
        id=spec.id,
        price_text=price if price is not None else spec.pricing.note,
        price_known=True,
        input_schema={"properties": properties, "required": required or []},
    )
    report = compare(Catalog([spec]), KieSnapshot(models={spec.id: kie}, source="test"))
    return {(c.kind, c.action, c.field) for c in report.changes}


def test_identical_schema_and_price_give_no_change() -> None:
    spec = _spec(_field("prompt", required=True, max_length=500, ask="wizard"), _field("n", "integer", maximum=4))
    assert _diff(spec, {"prompt": {"type": "string", "maxLength": 500}, "n": {"type": "integer", "maximum": 4}},
                 ["prompt"]) == set()  # fmt: skip


INT, STR = {"type": "integer"}, {"type": "string"}
FIELD_RULES = [
    # a hidden field without a default is never sent: its removal needs no disabling
    (_field("seed", "integer", ask="hidden"), None, [], {("field_removed", "review", "seed")}),
    (_field("size", ask="advanced"), None, [], {("field_removed", "disable", "size")}),
    (_field("n", "integer"), STR, [], {("type_changed", "disable", "n")}),
    (_field("n", "integer", maximum=8), {**INT, "maximum": 4}, [], {("bound_tightened", "disable", "n")}),
    (_field("n", "integer", maximum=4), {**INT, "maximum": 8}, [], {("bound_loosened", "review", "n")}),
    (_field("n", "integer", maximum=4), INT, [], set()),  # the catalog is stricter than Kie: fine
    (_field("p", max_length=100), {**STR, "maxLength": 50}, [], {("bound_tightened", "disable", "p")}),
    (_field("q"), {**STR, "enum": ["a", "b"]}, [], {("enum_added", "disable", "q")}),
    (_field("q"), STR, ["q"], {("became_required", "disable", "q")}),
    (_field("q", default="a", enum=["a", "b"]), {**STR, "enum": ["a", "b"]}, ["q"], set()),
    (
        _field("q", default="a", enum=["a"]),
        {**STR, "enum": ["a"], "default": "b"},
        [],
        {("default_changed", "review", "q")},
    ),
    (_field("d", "integer"), {"type": "number", "multipleOf": 1}, [], set()),  # whole numbers: integer
]


@pytest.mark.parametrize(("field", "prop", "required", "expected"), FIELD_RULES)
def test_field_rules(field: InputField, prop: dict[str, Any] | None, required: list[str], expected: set[Any]) -> None:
    properties = {} if prop is None else {field.name: prop}
    assert _diff(_spec(field), properties, required) == expected


def test_new_fields_required_ones_disable() -> None:
    spec = _spec(_field("prompt", required=True, ask="wizard"))
    properties = {"prompt": {"type": "string"}, "mode": {"type": "string"}, "style": {"type": "string"}}
    assert _diff(spec, properties, ["prompt", "mode"]) == {
        ("required_field_added", "disable", "mode"),
        ("field_added", "review", "style"),
    }


def test_price_rules() -> None:
    spec = _spec(note="Imagen 4 costs 8 credits per image ($0.04).")
    same = "Imagen 4 costs 8 credits per image ($0.04).\nHigh-tier top-ups (+10% bonus) bring it to ~$0.036."
    assert _diff(spec, {}, price=same) == set()
    assert _diff(spec, {}, price="Imagen 4: 8 credits for each image.") == {("price_wording_changed", "review", None)}
    assert _diff(spec, {}, price="Imagen 4 costs 9 credits per image.") == {("price_changed", "disable", None)}
    assert _diff(_spec(note=None), {}, price="4 credits") == {("price_published", "review", None)}


def test_credit_amounts_and_normalized_texts() -> None:
    text = "ElevenLabs: 12 credits per 1,000 characters; 2,800 credits / 1M tokens; 0.5 Kie credits per upscale"
    assert credit_amounts(text) == {Decimal("12"), Decimal("2800"), Decimal("0.5")}
    assert normalize_price_text("A  b\n c.\nHigh-tier top-ups include +10%.") == "A b c."
    assert normalize_price_text(None) is None


def test_family_models_are_not_retired_and_not_compared_field_by_field() -> None:
    veo = _spec(_field("prompt", required=True, ask="wizard"), family=Family.VEO)
    report = compare(Catalog([veo]), KieSnapshot(models={"other/model": KieModel(id="other/model")}, source="t"))
    assert {(c.model, c.action) for c in report.changes} == {("other/model", "add_disabled")}


def test_a_model_back_in_kie_s_list_after_retirement_is_flagged_for_review() -> None:
    spec = _spec(_field("prompt", required=True, ask="wizard")).model_copy(
        update={"enabled": False, "disabled_reason": "retired: gone from Kie's model list on 2026-01-01"}
    )
    report = compare(Catalog([spec]), KieSnapshot(models={spec.id: KieModel(id=spec.id)}, source="t"))
    assert [(c.kind, c.action) for c in report.changes] == [("back", "review")]


def test_schema_answers_are_read_from_openapi_with_local_references() -> None:
    request = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Req"}}}}
    components = {
        "Req": {"properties": {"input": {"$ref": "#/components/schemas/In"}}},
        "In": {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
    }
    openapi = {
        "paths": {"/api/v1/jobs/createTask": {"post": {"requestBody": request}}},
        "components": {"schemas": components},
    }
    answer = {"code": 200, "data": {"model": "m", "openapi": openapi}}
    assert input_schema_from_answer(answer) == {"properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}
    assert input_schema_from_answer({"code": 200, "data": None}) is None


# ------------------------------------------------------------------------------------------- the fetcher


async def test_fetcher_reads_the_emulator_over_http_and_the_shipped_catalog_matches_it(tmp_path: Path) -> None:
    shipped = load_catalog()
    app = create_app(EmulatorConfig(api_key="k", catalog=shipped, time_scale=0.01))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        async with KieClient("k", base_url=url, upload_base_url=url, get_attempts=1) as client:
            snapshot = await fetch_snapshot(client, pause=0, save_to=tmp_path)
    finally:
        await server.close()

    assert set(snapshot.models) == {m.id for m in shipped}
    assert snapshot.errors == {}
    report = compare(shipped, snapshot)
    market = [m for m in shipped if m.family is Family.MARKET]
    assert report.compared == len(market)
    assert [c for c in report.changes if c.action != "review"] == []
    # The emulator invents "N credits per generation" for models without a price text; nothing else differs.
    assert {c.kind for c in report.changes} <= {"price_published"}
    assert all(shipped.get(c.model).pricing.note is None for c in report.changes)
    # Saved answers replay to the same diff.
    assert compare(shipped, read_snapshot(tmp_path)).changes == report.changes


async def test_fetcher_paces_calls_backs_off_on_429_and_goes_on_after_a_missing_schema() -> None:
    schema_calls = {"n": 0}
    paths: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        paths.append(path)
        if path == "/api/v1/models":
            models = [{"model": "acme/a", "pricingDesc": "4 credits"}, {"model": "acme/b"}]
            return httpx.Response(200, json={"code": 200, "msg": "ok", "data": {"total": 2, "models": models}})
        if path == "/api/v1/models/acme/a/schema":
            schema_calls["n"] += 1
            if schema_calls["n"] <= 2:  # Kie refuses fast callers with code 429 in an HTTP 200 body
                return httpx.Response(200, json={"code": 429, "msg": "Too many requests"})
            body = {"paths": {"/api/v1/jobs/createTask": {"post": {"requestBody": {"content": {"application/json": {
                "schema": {"properties": {"input": {"properties": {"prompt": {"type": "string"}}}}}}}}}}}}  # fmt: skip
            return httpx.Response(200, json={"code": 200, "msg": "ok", "data": {"model": "acme/a", "openapi": body}})
        if path == "/api/v1/models/acme/b/schema":
            return httpx.Response(200, json={"code": 404, "msg": "model not found"})
        return httpx.Response(200, json={"code": 200, "msg": "ok", "data": {"pricingDesc": "3 credits"}})

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with KieClient("k", base_url="https://kie.test", transport=httpx.MockTransport(answer), get_attempts=1) as c:
        snapshot = await fetch_snapshot(c, pause=0.5, backoff=2.0, sleep=sleep)

    assert snapshot.models["acme/a"].input_schema == {"properties": {"prompt": {"type": "string"}}, "required": []}
    assert snapshot.models["acme/a"].price_text == "4 credits"  # from the list: no price call needed
    assert "acme/b" in snapshot.errors and snapshot.models["acme/b"].input_schema is None
    assert "/api/v1/models/acme/a/price" not in paths
    assert [s for s in sleeps if s != 0.5] == [2.0, 4.0]  # backoff doubles
    assert sleeps.count(0.5) == len(paths) - 1  # one pause before every call but the first


async def test_fetcher_refuses_an_empty_model_list() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 200, "msg": "ok", "data": {"total": 0, "models": []}})

    async with KieClient("k", base_url="https://kie.test", transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(ValueError, match="empty"):
            await fetch_snapshot(client, pause=0)
