"""The running build: version, commit and build date from the build's environment, else from git."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from aistudio import __version__
from aistudio.ops import version
from aistudio.ops.version import UNKNOWN, read_build_info, version_text

ROOT = Path(__file__).resolve().parents[2]


def test_the_build_environment_names_the_commit_and_date() -> None:
    commit, built = "0123456789abcdef0123", "2025-03-01T12:00Z"
    info = read_build_info({"AISTUDIO_GIT_COMMIT": commit, "AISTUDIO_BUILD_DATE": built})

    assert info.as_dict() == {"version": __version__, "commit": commit, "build_date": built}
    assert info.describe() == f"AI Studio {__version__} (commit 0123456789ab, built 2025-03-01T12:00Z)"


def test_a_checkout_without_the_variables_asks_git() -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)

    info = read_build_info({})

    assert info.commit == head.stdout.strip()
    assert re.match(r"^\d{4}-\d{2}-\d{2}T", info.build_date)  # the commit's date stands in


def test_without_git_the_build_is_unknown_but_the_version_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(version, "_git", lambda *args: None)

    info = read_build_info({"AISTUDIO_GIT_COMMIT": " "})

    assert (info.version, info.commit, info.build_date) == (__version__, UNKNOWN, UNKNOWN)
    assert info.short_commit == UNKNOWN


def test_the_admin_version_command_text_names_version_and_commit() -> None:
    text = version_text()

    assert text.startswith(f"AI Studio {__version__} (commit ")
