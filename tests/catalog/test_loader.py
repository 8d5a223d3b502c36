"""Loading the catalog: bad data is refused with the file, the model and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistudio.catalog import CatalogError, load_catalog
from aistudio.catalog.validation import InputValidationError, validate_inputs

GOOD = """
models:
  - id: test/model
    category: text_to_image
    output: image
    name: {ru: "Тест", en: "Test"}
    description: {ru: "Описание", en: "Description"}
    pricing: {by: [resolution], table: {"1K": 5, "2K": 7}}
    inputs:
      - {name: prompt, type: string, required: true, max_length: 100, ask: wizard,
         label: {ru: "Описание", en: "Prompt"}}
      - {name: resolution, type: string, enum: ["1K", "2K"], default: "1K", label: {ru: "Размер", en: "Size"}}
      - {name: n, type: integer, minimum: 1, maximum: 4, default: 1, label: {ru: "Сколько", en: "How many"}}
"""


def write(tmp_path: Path, text: str, name: str = "images.yaml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_valid_file_loads_and_prices_by_option(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, GOOD))

    model = catalog.get("test/model")

    assert model.pricing.credits(validate_inputs(model, {"prompt": "a", "resolution": "2K"})) == 7
    assert catalog.search("TESTMODEL") == [model]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('default: "1K"', 'default: "3K"'), "field inputs.resolution: Value error, default '3K'"),
        (("category: text_to_image", "category: painting"), "field category"),
        (('{"1K": 5, "2K": 7}', '{"1K|x": 5}'), "does not have 1 parts"),
        (("by: [resolution]", "by: [quality]"), "pricing uses unknown fields"),
    ],
)
def test_invalid_entry_names_file_model_and_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(write(tmp_path, GOOD.replace(*change)))

    message = str(info.value)
    assert "images.yaml" in message and "test/model" in message and expected in message


def test_duplicate_model_ids_are_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")

    with pytest.raises(CatalogError, match="defined twice"):
        load_catalog(tmp_path)


def test_user_input_errors_list_every_problem_in_the_users_language(tmp_path: Path) -> None:
    model = load_catalog(write(tmp_path, GOOD)).get("test/model")

    with pytest.raises(InputValidationError) as info:
        validate_inputs(model, {"prompt": "x" * 101, "resolution": "8K", "n": "ten"})

    assert info.value.fields == ["prompt", "resolution", "n"]
    assert info.value.messages("ru")[0] == "«Описание»: не длиннее 100 симв. (сейчас 101)."
    assert info.value.messages("en")[1] == "“Size”: allowed values are 1K, 2K."
    assert info.value.messages("en")[2] == "“How many”: expected a whole number."


def test_typed_values_are_coerced_and_bounds_checked(tmp_path: Path) -> None:
    model = load_catalog(write(tmp_path, GOOD)).get("test/model")

    assert validate_inputs(model, {"prompt": "a", "n": "3", "resolution": "2k"})["n"] == 3
    with pytest.raises(InputValidationError) as info:
        validate_inputs(model, {"prompt": "  ", "n": 9})
    assert [p.code for p in info.value.problems] == ["empty", "above_max"]
