"""Settings of the Kie emulator: keys, credits, task timing, callback delivery."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from aistudio.catalog.loader import Catalog

# A task's duration in emulated seconds: fixed, or a (min, max) range drawn uniformly per task.
Duration = float | tuple[float, float]


@dataclass
class EmulatorConfig:
    """Everything the emulator can be told at start; tests change timing and faults at run time too."""

    # The Bearer key clients must send; None accepts any non-empty key.
    api_key: str | None = "sandbox-key"
    # When set, callbacks carry X-Webhook-Timestamp / X-Webhook-Signature like Kie's signed webhooks.
    hmac_key: str | None = None
    credits: Decimal = Decimal("100000")
    # Real seconds per emulated second: 0.01 runs a 10 s generation in 0.1 s.
    time_scale: float = 1.0
    duration: Duration = 10.0
    durations: dict[str, Duration] = field(default_factory=dict)  # per model id
    seed: int | None = None
    # Base of the URLs the emulator hands out (results, uploads); default: the request's own origin.
    public_url: str | None = None
    catalog: Catalog | None = None  # None: the shipped catalog
    callback_concurrency: int = 64
    callback_attempts: int = 3  # Kie gives up after 3 failed attempts
    callback_timeout: float = 15.0
    callback_retry_delay: float = 1.0  # emulated seconds, scaled like everything else
    max_upload_bytes: int = 100 * 1024 * 1024
    # Price of family tasks whose model is not in the catalog (credits per task).
    family_default_credits: dict[str, Decimal] = field(
        default_factory=lambda: {
            "veo": Decimal(60),
            "suno": Decimal(12),
            "runway": Decimal(12),
            "gpt4o_image": Decimal(6),
            "flux_kontext": Decimal(5),
            "midjourney": Decimal(8),
        }
    )

    def __post_init__(self) -> None:
        self.credits = Decimal(str(self.credits))
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")

    def draw_duration(self, model_id: str, rng: random.Random) -> float:
        """Emulated seconds for a new task of this model."""
        return draw(self.durations.get(model_id, self.duration), rng)


def draw(duration: Duration, rng: random.Random) -> float:
    if isinstance(duration, tuple | list):
        low, high = float(duration[0]), float(duration[1])
        return rng.uniform(min(low, high), max(low, high))
    return float(duration)
