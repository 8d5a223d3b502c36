"""Kie's catalog endpoints, served by the emulator from our catalog and read by the client."""

from __future__ import annotations

import pytest

from aistudio.catalog.loader import Catalog
from aistudio.kie import KieClient, KieNotFound


async def test_list_models_names_every_catalog_model(kie: KieClient, catalog: Catalog) -> None:
    models = await kie.list_models()

    ids = {m["model"] for m in models}
    assert {"z-image", "google/nano-banana"} <= ids
    assert ids == {m.id for m in catalog}
    assert all("pricingDesc" in m and "title" in m for m in models)


async def test_model_schema_describes_the_create_request_with_slash_in_the_id(kie: KieClient) -> None:
    schema = await kie.model_schema("google/nano-banana")

    request = schema["openapi"]["paths"]["/api/v1/jobs/createTask"]["post"]["requestBody"]
    body = request["content"]["application/json"]["schema"]
    input_schema = body["properties"]["input"]
    assert schema["model"] == "google/nano-banana"
    assert "prompt" in input_schema["required"]
    assert input_schema["properties"]["output_format"]["enum"] == ["png", "jpeg"]


async def test_model_price_returns_the_price_text(kie: KieClient, catalog: Catalog) -> None:
    spec = catalog.get("z-image")

    text = await kie.model_price("z-image")

    assert text is not None
    assert text == spec.pricing.note or str(catalog.default_credits(spec)) in text


async def test_unknown_model_schema_is_not_found(kie: KieClient) -> None:
    with pytest.raises(KieNotFound):
        await kie.model_schema("nobody/nothing")
