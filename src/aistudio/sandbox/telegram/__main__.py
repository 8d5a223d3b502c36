"""``python -m aistudio.sandbox.telegram [--host H] [--port P] [--token T] [--rate-limits]``."""

from __future__ import annotations

import argparse
import logging

from .config import DEFAULT_TOKEN
from .server import run


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the emulator."""
    parser = argparse.ArgumentParser(description="Telegram Bot API emulator with a web chat")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bot token the emulator accepts")
    parser.add_argument("--rate-limits", action="store_true", help="enforce Telegram's send rates (429)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"Web chat: http://{args.host}:{args.port}/  Bot API base: http://{args.host}:{args.port}")
    print(f"Token: {args.token}")
    run(args.host, args.port, rate_limits=args.rate_limits, token=args.token)


if __name__ == "__main__":
    main()
