"""Receipt OCR speed: a 1080×2400 bank app screenshot (drawn like the tests draw it) → amount, id, date.

Usage: python bench/ocr.py [--runs 5]
Each run is the whole `recognise` step the bot takes per screenshot (decode, preprocess, Tesseract rus+eng,
parse). Goal: ≤ 3 s per image on the project machine. The last line printed is one JSON object.
Not a test: it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the receipts are drawn by the tests' helper

from tests.payments.receipts import ENGLISH_RECEIPT, RUSSIAN_RECEIPT, render_receipt

from aistudio.payments.ocr import recognise


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = {}
    for name, lines in (("ru", RUSSIAN_RECEIPT), ("en", ENGLISH_RECEIPT)):
        image = render_receipt(lines)
        recognise(image)  # warm-up: the first call loads Tesseract's models from disk
        seconds, cpu = [], []
        fields = None
        for _ in range(args.runs):
            started, cpu_started = time.perf_counter(), _cpu_seconds()
            fields = recognise(image).fields
            seconds.append(time.perf_counter() - started)
            cpu.append(_cpu_seconds() - cpu_started)
        results[name] = {
            "median_s": round(statistics.median(seconds), 3),
            "max_s": round(max(seconds), 3),
            "cpu_s": round(statistics.median(cpu), 3),  # ours + Tesseract's: what other work on the box can't inflate
            "amount_kopecks": fields.amount_kopecks if fields else None,
            "txn_id": fields.txn_id if fields else None,
        }
    print(
        json.dumps(
            {
                "bench": "ocr",
                "image": "1080x2400 PNG",
                "runs": args.runs,
                "seconds_per_image": round(max(r["median_s"] for r in results.values()), 3),
                "cpu_seconds_per_image": round(max(r["cpu_s"] for r in results.values()), 3),
                "layouts": results,
                "cpus": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
