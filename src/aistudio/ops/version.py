"""Which build is running: package version, git commit and build date.

The Docker build passes `AISTUDIO_GIT_COMMIT` and `AISTUDIO_BUILD_DATE`; a checkout without them asks git
(the commit, and the commit's date standing in for the build date). Read once per process.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from aistudio import __version__

UNKNOWN = "unknown"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BuildInfo:
    version: str
    commit: str
    build_date: str

    @property
    def short_commit(self) -> str:
        return self.commit[:12] if self.commit != UNKNOWN else UNKNOWN

    def as_dict(self) -> dict[str, str]:
        return {"version": self.version, "commit": self.commit, "build_date": self.build_date}

    def describe(self) -> str:
        """One line for people: `AI Studio 0.1.0 (commit 1a2b3c4d5e6f, built 2025-01-31T10:00:00Z)`."""
        return f"AI Studio {self.version} (commit {self.short_commit}, built {self.build_date})"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=_PACKAGE_DIR, capture_output=True, text=True, timeout=3, check=False
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def read_build_info(env: dict[str, str] | None = None) -> BuildInfo:
    """Build info from `env` (default: the process environment), then git, then `unknown`."""
    env = os.environ if env is None else env
    commit = (env.get("AISTUDIO_GIT_COMMIT") or "").strip() or None
    build_date = (env.get("AISTUDIO_BUILD_DATE") or "").strip() or None
    if commit is None:
        commit = _git("rev-parse", "HEAD")
        if build_date is None and commit is not None:
            build_date = _git("log", "-1", "--format=%cI", commit)
    return BuildInfo(__version__, commit or UNKNOWN, build_date or UNKNOWN)


@lru_cache(maxsize=1)
def build_info() -> BuildInfo:
    """This process's build (cached); what `/healthz`, the start-up log and the admin `/version` show."""
    return read_build_info()


def version_text() -> str:
    """The line the admin `/version` command answers with."""
    return build_info().describe()
