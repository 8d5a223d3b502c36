"""`aistudio demo` as a user runs it: a subprocess that prints one URL, serves the web chat, answers /start,
and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

DEMO_USER = 1001


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_the_web_chat_and_the_bot_answers_then_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TELEGRAM_", "KIE_"))}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aistudio.cli", "demo", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        url = f"http://127.0.0.1:{port}"
        assert url in line, f"demo printed {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        page = httpx.get(url, timeout=10)
        ready_in = time.monotonic() - started

        with httpx.Client(base_url=url, timeout=15) as http:
            sent = http.post(f"/sandbox/users/{DEMO_USER}/messages", json={"text": "/start"}).json()
            deadline = time.monotonic() + 15
            replies: list[dict] = []
            while time.monotonic() < deadline and not replies:
                messages = http.get(f"/sandbox/users/{DEMO_USER}/transcript").json()["messages"]
                replies = [m for m in messages if m["sender"] == "bot" and m["message_id"] > sent["message_id"]]
                time.sleep(0.1)

        assert page.status_code == 200 and "<html" in page.text.lower()
        assert ready_in < 30
        assert replies and "AI Studio" in (replies[0].get("text") or "")
        assert replies[0]["keyboard"]["type"] == "inline" and len(replies[0]["keyboard"]["rows"]) >= 4
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
    assert (tmp_path / "var" / "demo" / "aistudio.sqlite3").exists()
