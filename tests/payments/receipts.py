"""Receipt screenshots the OCR tests (and bench/ocr.py) draw themselves: 1080×2400, like a phone's screen.

Fixed fonts (DejaVu, installed by scripts/system-deps.sh) and fixed seeds, so every run sees the same pixels.
Each layout carries distractors next to the amount: a card tail, a fee, a balance, a date and a time.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = Path("/usr/share/fonts/truetype/dejavu")
SIZE = (1080, 2400)

RUSSIAN_RECEIPT: list[tuple[str, str]] = [
    ("", "Перевод выполнен"),
    ("", "1 500,00 ₽"),
    ("Статус", "Успешно"),
    ("Дата и время", "14.03.2025 18:42"),
    ("Получатель", "Иван Петрович С."),
    ("Карта получателя", "•• 4276"),
    ("Счёт списания", "Дебетовая •• 1234"),
    ("Сумма", "1 500,00 ₽"),
    ("Комиссия", "15,00 ₽"),
    ("Остаток", "23 871,45 ₽"),
    ("Номер операции", "4417260093"),
]

ENGLISH_RECEIPT: list[tuple[str, str]] = [
    ("", "Payment successful"),
    ("Date", "2025-03-14 09:05"),
    ("To", "John Smith"),
    ("Card", "**** 9012"),
    ("Amount", "2,750.50 RUB"),
    ("Fee", "30.00 RUB"),
    ("Balance", "104,220.00 RUB"),
    ("Transaction ID", "TX-88231907"),
]


def _font(bold: bool, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")), size)


def render_receipt(lines: list[tuple[str, str]], *, seed: int = 1) -> bytes:
    """A bank app's receipt screen as PNG bytes: a title, a big amount, then label/value rows."""
    rng = random.Random(seed)
    image = Image.new("RGB", SIZE, (246, 247, 249))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, SIZE[0], 140), fill=(33, 160, 56))  # the app's coloured header bar
    draw.text((60, 45), "09:41", font=_font(True, 40), fill=(255, 255, 255))
    y = 260
    for label, value in lines:
        if not label:  # a heading line, centred and large
            font = _font(True, 64)
            width = draw.textlength(value, font=font)
            draw.text(((SIZE[0] - width) / 2, y), value, font=font, fill=(20, 20, 20))
            y += 130
            continue
        draw.text((60, y), label, font=_font(False, 40), fill=(120, 124, 130))
        font = _font(True, 44)
        width = draw.textlength(value, font=font)
        draw.text((SIZE[0] - 60 - width, y), value, font=font, fill=(20, 20, 20))
        y += 110 + rng.randint(0, 8)
        draw.line((60, y - 30, SIZE[0] - 60, y - 30), fill=(225, 227, 230), width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render_unreadable(*, seed: int = 3) -> bytes:
    """The Russian receipt photographed out of focus, with sensor noise: no amount a reader could make out."""
    rng = random.Random(seed)
    image = Image.open(io.BytesIO(render_receipt(RUSSIAN_RECEIPT))).convert("L").filter(ImageFilter.GaussianBlur(14))
    pixels = image.load()
    assert pixels is not None
    for _ in range(200_000):
        x, y = rng.randrange(SIZE[0]), rng.randrange(SIZE[1])
        pixels[x, y] = max(0, min(255, pixels[x, y] + rng.randint(-90, 90)))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()
