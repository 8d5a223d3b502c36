"""Reading a bank transfer receipt: the image → text step (Tesseract), and the text → fields step (pure).

`parse_receipt(text)` finds the amount, the transaction id and the date in what Tesseract read from a
Russian or English bank app's screen. OCR misreads labels ("Сунма", "Номер олерации") and currency signs
(₽ → "Р", "2", "?"), so labels are matched loosely and the labelled amount always wins over other numbers
(a card tail, a fee, the balance left). `read_receipt(data)` runs Tesseract in a worker thread, so the event
loop never waits for it, and never raises: a failure reads as "nothing recognised" and the admin decides.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from difflib import SequenceMatcher

log = logging.getLogger(__name__)

OCR_LANGUAGES = "rus+eng"
# One text block of lines (psm 4 keeps "label … value" of one row on one line); no second pass for
# inverted text (we invert dark screens ourselves), which roughly halves Tesseract's time.
TESSERACT_CONFIG = "--oem 1 --psm 4 -c tessedit_do_invert=0"
TESSERACT_TIMEOUT_S = 20
TARGET_WIDTH = 648  # ~25 px letters for a phone screenshot's body text: Tesseract's sweet spot, and fast
MAX_PIXELS = 40_000_000  # larger images are refused before decoding (a decompression bomb is not a receipt)
MAX_AMOUNT_KOPECKS = 10_000_000 * 100
# Two cores serve the bot too: at most two recognitions at once, whatever the number of event loops.
_OCR_SLOTS = threading.BoundedSemaphore(2)


@dataclass(frozen=True)
class ReceiptFields:
    amount_kopecks: int | None = None
    txn_id: str | None = None
    date: str | None = None  # ISO: "2025-03-14" or "2025-03-14 18:42"


@dataclass(frozen=True)
class OcrResult:
    text: str
    fields: ReceiptFields
    seconds: float
    error: str | None = None  # why nothing could be read (not an image, Tesseract missing or too slow)


# --- text → fields --------------------------------------------------------------------------------------

AMOUNT_LABELS = (
    "сумма", "сумма перевода", "сумма платежа", "сумма операции", "сумма списания", "итого", "итог",
    "к оплате", "всего", "списано", "переведено", "оплачено",
    "amount", "total", "total amount", "amount paid", "transfer amount", "sum", "paid",
)  # fmt: skip
TXN_LABELS = (
    "номер операции", "id операции", "идентификатор операции", "код операции", "номер документа",
    "no документа", "номер транзакции", "id транзакции", "номер квитанции", "номер платежа", "номер перевода",
    "no операции", "no квитанции", "no платежа",
    "transaction id", "transaction number", "transaction no", "operation id", "payment id", "txn id",
    "reference", "reference number", "receipt number", "receipt no", "document number",
)  # fmt: skip
DATE_LABELS = ("дата", "дата и время", "дата операции", "время", "date", "date and time", "time")
# A line with one of these is about some other sum: a fee, what is left on the account, a bonus.
NOT_THE_AMOUNT = (
    "комис", "fee", "commission", "остат", "баланс", "balance", "доступн", "available", "кэшб", "cashback",
)  # fmt: skip

_SPACES = re.compile(r"[\u00a0\u2007\u2009\u202f\u2002-\u2006]")
_DATE_OR_TIME = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}|\d{1,2}:\d{2}(?::\d{2})?")
_CARD_TAIL = re.compile(r"[*•·∙]+\s*\d{4}\b")
_MONEY = re.compile(r"(?<![\d.,])(\d{1,3}(?:[ .,]\d{3})+|\d+)(?:[.,](\d{1,2}))?(?![\d])")
_CURRENCY_AFTER = re.compile(r"^\s*(₽|руб|rub|р\.|р\b|p\b|rur)", re.IGNORECASE)
_TXN_TOKEN = re.compile(r"[0-9A-Za-zА-Яа-я][0-9A-Za-zА-Яа-я\-_/]{3,80}")
_LATIN_LOOKALIKES = str.maketrans("АВЕКМНОРСТХУ", "ABEKMHOPCTXY")
_MONTHS = {
    "янв": 1, "фев": 2, "мар": 3, "апр": 4, "мая": 5, "май": 5, "июн": 6, "июл": 7, "авг": 8, "сен": 9,
    "окт": 10, "ноя": 11, "дек": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7,
    "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_DMY = re.compile(r"(?<!\d)(\d{1,2})[./](\d{1,2})[./](\d{4}|\d{2})(?!\d)(?:[ ,вat]*(\d{1,2}):(\d{2}))?")
_YMD = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?:[ t]+(\d{1,2}):(\d{2}))?")
_D_MONTH_Y = re.compile(r"(?<!\d)(\d{1,2})\s+([a-zа-я]{3,9})\.?,?\s+(\d{4})(?:[ ,вat]*(\d{1,2}):(\d{2}))?")
_MONTH_D_Y = re.compile(r"\b([a-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})(?:[ ,at]*(\d{1,2}):(\d{2}))?")


def _normalise(line: str) -> str:
    line = _SPACES.sub(" ", line).replace("ё", "е").replace("Ё", "Е").replace("№", " no ")
    return re.sub(r"\s+", " ", line).strip()


def _words(line: str) -> list[str]:
    return re.findall(r"[a-zа-я]+", line.lower())


def _label_words(line: str, labels: tuple[str, ...]) -> int | None:
    """How many words of the label `line` starts with (matched loosely: OCR misreads letters), or None."""
    words = _words(line)
    best: tuple[float, int] | None = None
    for label in labels:
        n = len(label.split())
        if len(words) < n:
            continue
        head = " ".join(words[:n])
        ratio = 1.0 if head == label else SequenceMatcher(None, head, label).ratio()
        needed = 1.0 if len(label) <= 4 else 0.8
        if ratio >= needed and (best is None or (ratio, n) > best):
            best = (ratio, n)
    return None if best is None else best[1]


def _after_words(line: str, count: int) -> str:
    """`line` after its first `count` words (digits and signs of the value stay intact)."""
    for seen, match in enumerate(re.finditer(r"[A-Za-zА-Яа-яЁё]+", line), start=1):
        if seen == count:
            return line[match.end() :].lstrip(" :–—-")
    return ""


def _label_match(line: str, labels: tuple[str, ...]) -> str | None:
    """The rest of `line` after a label it starts with, or None."""
    count = _label_words(line, labels)
    return None if count is None else _after_words(line, count)


def _excluded(line: str) -> bool:
    lower = line.lower()
    return any(stem in lower for stem in NOT_THE_AMOUNT)


def _money(text: str, *, need_currency: bool = False) -> int | None:
    """The first sum of money in `text`, in kopecks (dates and times are not sums)."""
    text = _CARD_TAIL.sub(" ", _DATE_OR_TIME.sub(" ", text))
    for match in _MONEY.finditer(text):
        whole, fraction = match.group(1), match.group(2) or ""
        if need_currency and not _CURRENCY_AFTER.match(text[match.end() :]):
            continue
        rubles = int(re.sub(r"[ .,]", "", whole))
        kopecks = rubles * 100 + int(fraction.ljust(2, "0") or 0)
        if 0 < kopecks <= MAX_AMOUNT_KOPECKS:
            return kopecks
    return None


def find_amount(lines: list[str]) -> int | None:
    """The labelled amount ("Сумма", "Итого", "Amount", ...) first; else the first sum with a currency sign."""
    for i, line in enumerate(lines):
        if _excluded(line):
            continue
        rest = _label_match(line, AMOUNT_LABELS)
        if rest is None:
            continue
        amount = _money(rest)
        if amount is None and i + 1 < len(lines) and not _excluded(lines[i + 1]):
            amount = _money(lines[i + 1])  # some apps put the value under its label
        if amount is not None:
            return amount
    for line in lines:
        if not _excluded(line):
            amount = _money(line, need_currency=True)
            if amount is not None:
                return amount
    return None


def find_txn_id(lines: list[str]) -> str | None:
    for i, line in enumerate(lines):
        if _label_words(line, TXN_LABELS) is None:
            continue
        # Only the label's first word is cut: OCR may read "ID" as "1" or glue the id to the label.
        for candidate in (_after_words(line, 1), lines[i + 1] if i + 1 < len(lines) else ""):
            for token in _TXN_TOKEN.findall(candidate):
                if sum(ch.isdigit() for ch in token) >= 4:
                    return token.upper().translate(_LATIN_LOOKALIKES)[:64]
    return None


def _iso(year: int, month: int, day: int, hour: str | None, minute: str | None) -> str | None:
    if year < 100:
        year += 2000
    if not (1 <= month <= 12 and 1 <= day <= 31 and 2000 <= year <= 2100):
        return None
    date = f"{year:04d}-{month:02d}-{day:02d}"
    if hour is not None and minute is not None and int(hour) < 24 and int(minute) < 60:
        date += f" {int(hour):02d}:{minute}"
    return date


def _date_in(line: str) -> str | None:
    lower = line.lower()
    if m := _YMD.search(lower):
        return _iso(int(m[1]), int(m[2]), int(m[3]), m[4], m[5])
    if m := _DMY.search(lower):
        return _iso(int(m[3]), int(m[2]), int(m[1]), m[4], m[5])
    if (m := _D_MONTH_Y.search(lower)) and (month := _MONTHS.get(m[2][:3])):
        return _iso(int(m[3]), month, int(m[1]), m[4], m[5])
    if (m := _MONTH_D_Y.search(lower)) and (month := _MONTHS.get(m[1][:3])):
        return _iso(int(m[3]), month, int(m[2]), m[4], m[5])
    return None


def find_date(lines: list[str]) -> str | None:
    """The date on a "Дата"/"Date" line first, else the first date anywhere."""
    labelled = [line for line in lines if _label_match(line, DATE_LABELS) is not None]
    for line in (*labelled, *lines):
        if found := _date_in(line):
            return found
    return None


def parse_receipt(text: str) -> ReceiptFields:
    """Amount (kopecks), transaction id and date found in a receipt's text; each None when not found."""
    lines = [line for line in (_normalise(raw) for raw in text.splitlines()) if line]
    return ReceiptFields(find_amount(lines), find_txn_id(lines), find_date(lines))


# --- image → text ---------------------------------------------------------------------------------------


class UnreadableImage(Exception):
    """Not an image Pillow can decode, or too large to be a screenshot."""


def prepare_image(data: bytes):  # -> PIL.Image.Image (Pillow imported lazily: the bot starts faster)
    """Grayscale, ~650 px wide, dark screens inverted, binarised at Otsu's threshold: fewer pixels, crisper."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise UnreadableImage(f"{image.width}×{image.height} is too large")
        scale = min(2.0, max(0.3, TARGET_WIDTH / image.width))
        image.draft("L", (int(image.width * scale), int(image.height * scale)))  # JPEG: decode at a smaller size
        gray = ImageOps.grayscale(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(str(exc)) from exc
    width = TARGET_WIDTH if gray.width > TARGET_WIDTH * 1.5 or gray.width < TARGET_WIDTH / 1.5 else gray.width
    if width != gray.width:
        gray = gray.resize((width, max(1, round(gray.height * width / gray.width))), Image.Resampling.BILINEAR)
    histogram = gray.histogram()
    if sum(i * n for i, n in enumerate(histogram)) / max(1, sum(histogram)) < 110:
        gray = ImageOps.invert(gray)  # dark mode: Tesseract wants dark text on light
    gray = ImageOps.autocontrast(gray, cutoff=1)
    threshold = _otsu(gray.histogram())
    return gray.point(lambda p: 255 if p > threshold else 0)


def _otsu(histogram: list[int]) -> int:
    total = sum(histogram)
    sum_all = sum(i * n for i, n in enumerate(histogram))
    weight_bg = sum_bg = 0.0
    best, best_between = 127, -1.0
    for level, count in enumerate(histogram):
        weight_bg += count
        if weight_bg == 0:
            continue
        weight_fg = total - weight_bg
        if weight_fg == 0:
            break
        sum_bg += level * count
        mean_bg, mean_fg = sum_bg / weight_bg, (sum_all - sum_bg) / weight_fg
        between = weight_bg * weight_fg * (mean_bg - mean_fg) ** 2
        if between > best_between:
            best, best_between = level, between
    return best


def image_to_text(data: bytes) -> str:
    """Tesseract's reading of a receipt image (blocking: call it from a worker thread)."""
    import pytesseract

    # Tesseract's OpenMP threads spin while waiting: on a small box they double the CPU a receipt costs
    # (bench/ocr.py: ~1.2 → ~0.6 CPU s) for no gain. pytesseract passes our environment to the tesseract child.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    prepared = prepare_image(data)
    with _OCR_SLOTS:
        return pytesseract.image_to_string(
            prepared, lang=OCR_LANGUAGES, config=TESSERACT_CONFIG, timeout=TESSERACT_TIMEOUT_S
        )


def recognise(data: bytes) -> OcrResult:
    """Image bytes → text and fields; never raises (a failure is an empty result with the reason)."""
    started = time.perf_counter()
    try:
        text = image_to_text(data)
    except UnreadableImage as exc:
        return OcrResult("", ReceiptFields(), time.perf_counter() - started, f"unreadable image: {exc}")
    except Exception as exc:  # Tesseract missing, killed by the timeout, a broken install: the admin reads it
        log.warning("OCR failed: %r", exc)
        return OcrResult("", ReceiptFields(), time.perf_counter() - started, f"ocr failed: {exc}")
    return OcrResult(text, parse_receipt(text), time.perf_counter() - started)


async def read_receipt(data: bytes) -> OcrResult:
    """`recognise` in a worker thread: the bot keeps answering others while Tesseract reads."""
    import asyncio

    return await asyncio.to_thread(recognise, data)
