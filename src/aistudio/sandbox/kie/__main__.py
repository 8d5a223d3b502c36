"""`python -m aistudio.sandbox.kie --port 8081`: run the Kie emulator alone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from decimal import Decimal

from aistudio.sandbox.kie.app import run_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Kie.ai emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--api-key", default="sandbox-key", help="Bearer key clients must send ('' = any)")
    parser.add_argument("--hmac-key", default=None, help="sign callbacks with this webhook HMAC key")
    parser.add_argument("--credits", default="100000")
    parser.add_argument("--time-scale", type=float, default=1.0, help="real seconds per emulated second")
    parser.add_argument("--duration", type=float, default=10.0, help="emulated seconds per task")
    parser.add_argument("--public-url", default=None, help="base of result and upload URLs")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_server(
                args.host,
                args.port,
                api_key=args.api_key or None,
                hmac_key=args.hmac_key,
                credits=Decimal(args.credits),
                time_scale=args.time_scale,
                duration=args.duration,
                public_url=args.public_url,
                seed=args.seed,
            )
        )


if __name__ == "__main__":
    main()
