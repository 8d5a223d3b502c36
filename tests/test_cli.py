"""The `aistudio` command line as an operator runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aistudio.catalog.models import Category


def aistudio(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "aistudio.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


def test_migrate_creates_a_fresh_sqlite_database_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"

    first = aistudio("migrate", env={"DATABASE_URL": url})
    second = aistudio("migrate", env={"DATABASE_URL": url})

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert (tmp_path / "fresh.sqlite3").stat().st_size > 0


@pytest.mark.postgres
def test_migrate_on_postgresql(pg_database_url: str) -> None:
    result = aistudio("migrate", env={"DATABASE_URL": pg_database_url})

    assert result.returncode == 0, result.stderr
    assert "newest revision" in result.stdout


def test_a_wrong_setting_stops_with_one_line_naming_it() -> None:
    result = aistudio("migrate", env={"DATABASE_URL": "mysql://nope"})

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "DATABASE_URL" in result.stderr


def test_catalog_verify_reports_every_category_and_the_free_tier() -> None:
    result = aistudio("catalog", "verify", "--json")

    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert report["models_enabled"] >= 42 and report["missing_categories"] == []
    assert all(report["per_category"][c.value] >= 1 for c in Category)
    assert len(report["free_tier"]) == 5


def test_catalog_export_lists_fields_and_default_prices() -> None:
    result = aistudio("catalog", "export", "--format", "json")

    models = {m["id"]: m for m in json.loads(result.stdout)["models"]}
    nano = models["google/nano-banana"]
    assert nano["default_credits"] == "4" and nano["default_price_rub"] == "3.80"
    prompt = next(f for f in nano["fields"] if f["name"] == "prompt")
    assert prompt == {"name": "prompt", "type": "string", "required": True, "ask": "wizard", "max_length": 5000}


def test_every_command_has_help() -> None:
    for command in (["--help"], ["migrate", "--help"], ["catalog", "verify", "--help"], ["demo", "--help"],
                    ["sandbox", "kie", "--help"], ["sandbox", "telegram", "--help"]):  # fmt: skip
        result = aistudio(*command)
        assert result.returncode == 0 and "Usage" in result.stdout, command
