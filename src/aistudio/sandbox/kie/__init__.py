"""A local emulator of Kie.ai: same endpoints, envelopes and quirks, plus a control API for tests.

`create_app(config)` builds the aiohttp app; `run_server(host, port, **config)` serves it
(`python -m aistudio.sandbox.kie --port 8081`). See `control.py` for the `/sandbox/...` API and
`faults.py` for the faults it can inject.
"""

from aistudio.sandbox.kie.app import create_app, run_server
from aistudio.sandbox.kie.config import EmulatorConfig
from aistudio.sandbox.kie.core import Emulator
from aistudio.sandbox.kie.http import EMULATOR

__all__ = ["EMULATOR", "Emulator", "EmulatorConfig", "create_app", "run_server"]
