"""What the generation service needs from the outside world to hand results to users.

The Telegram layer implements `DeliveryPort`; tests use `RecordingDelivery`. Results are stored on disk by
`ResultStore` between download and sending, so a restart between the two still has them.
"""

from __future__ import annotations

import mimetypes
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aistudio.generation.repo import Generation


@dataclass(frozen=True)
class ResultFile:
    """One downloaded result: where it is on disk, what it is, and where Kie served it from."""

    path: Path
    source_url: str
    mime_type: str
    size: int


@dataclass(frozen=True)
class Failure:
    """What the user is told when a generation fails: the class picks the words, the rest fills them in."""

    error_class: str
    kie_message: str | None
    refunded_kopecks: int


class DeliveryPort(Protocol):
    async def deliver(self, gen: Generation, files: list[ResultFile]) -> list[dict[str, str]]:
        """Send the results to the user; return what is needed to re-send them (e.g. Telegram file ids)."""
        ...

    async def fail(self, gen: Generation, failure: Failure) -> None:
        """Tell the user the generation failed, why in plain words, and what was returned."""
        ...

    async def progress(self, gen: Generation, state: str) -> None:
        """The generation moved on (queued, generating); the UI may update its progress message."""
        ...

    async def unconfirmed(self, gen: Generation) -> None:
        """A restart found this result's sending started but not confirmed: it may not have arrived.
        Never re-sent automatically (that could send it twice); tell the user how to get it again."""
        ...


class AlertPort(Protocol):
    async def kie_out_of_credits(self, message: str) -> None:
        """The operator's Kie account cannot pay for tasks: admins must top it up."""
        ...


@dataclass
class RecordingDelivery:
    """A `DeliveryPort` that records what it was asked to do (tests, benchmarks)."""

    delivered: list[tuple[int, list[ResultFile]]] = field(default_factory=list)
    failed: list[tuple[int, Failure]] = field(default_factory=list)
    progressed: list[tuple[int, str]] = field(default_factory=list)
    unconfirmed_ids: list[int] = field(default_factory=list)
    fail_next_deliveries: int = 0

    async def deliver(self, gen: Generation, files: list[ResultFile]) -> list[dict[str, str]]:
        if self.fail_next_deliveries > 0:
            self.fail_next_deliveries -= 1
            raise ConnectionError("delivery failed (simulated)")
        self.delivered.append((gen.id, files))
        return [{"file_id": f"recorded-{gen.id}-{i}"} for i, _ in enumerate(files)]

    async def fail(self, gen: Generation, failure: Failure) -> None:
        self.failed.append((gen.id, failure))

    async def progress(self, gen: Generation, state: str) -> None:
        self.progressed.append((gen.id, state))

    async def unconfirmed(self, gen: Generation) -> None:
        self.unconfirmed_ids.append(gen.id)


@dataclass
class RecordingAlerts:
    alerts: list[str] = field(default_factory=list)

    async def kie_out_of_credits(self, message: str) -> None:
        self.alerts.append(message)


class ResultStore:
    """Downloaded results under `<root>/<generation id>/`, kept until the generation is delivered."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, generation_id: int) -> Path:
        return self.root / str(generation_id)

    def target(self, generation_id: int, index: int, url: str) -> Path:
        suffix = Path(url.split("?", 1)[0]).suffix[:8] or ".bin"
        return self.directory(generation_id) / f"result-{index}{suffix}"

    def describe(self, path: Path, url: str) -> ResultFile:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return ResultFile(path=path, source_url=url, mime_type=mime, size=path.stat().st_size)

    def existing(self, generation_id: int, urls: list[str]) -> list[ResultFile] | None:
        """The stored files for these URLs, or None if any is missing (another replica downloaded them)."""
        files = []
        for index, url in enumerate(urls):
            path = self.target(generation_id, index, url)
            if not path.exists():
                return None
            files.append(self.describe(path, url))
        return files

    def discard(self, generation_id: int) -> None:
        shutil.rmtree(self.directory(generation_id), ignore_errors=True)
