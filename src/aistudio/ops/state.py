"""What this process is doing now, for `/readyz` and the shutdown sequence."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RunState:
    mode: str = "embedded"  # polling | webhook | embedded (the demo and tests drive the app themselves)
    role: str = "active"  # standby (waiting for the polling lock) | active | stopping
    shutting_down: bool = False

    def as_dict(self) -> dict[str, str]:
        return {"mode": self.mode, "role": "stopping" if self.shutting_down else self.role}
