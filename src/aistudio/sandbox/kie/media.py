"""Result files of the right kind: a picture showing the prompt, a short H.264 video, a short song.

The video and the MP3 are tiny files made once with ffmpeg (`assets/`): a 2 s 320×180 H.264 + AAC MP4
(`-movflags +faststart`, so browsers and Telegram play it) and a 2 s MP3 tone. Pictures are drawn per
task with Pillow so a human can see which prompt produced which result.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import textwrap
import wave
from functools import cache
from importlib import resources
from typing import Any

from PIL import Image, ImageDraw, ImageFont

MAX_SIDE = 512
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "mp4": "video/mp4",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "txt": "text/plain; charset=utf-8",
}


@cache
def _asset(name: str) -> bytes | None:
    try:
        return resources.files("aistudio.sandbox.kie").joinpath("assets", name).read_bytes()
    except (FileNotFoundError, OSError):
        return None


def extension_for(output: str, inputs: dict[str, Any]) -> str:
    """The file extension of a result: from the model's `output` kind and its format input."""
    if output == "image":
        fmt = str(inputs.get("output_format") or inputs.get("outputFormat") or "png").lower()
        return "jpg" if fmt in ("jpg", "jpeg") else "png"
    if output == "video":
        return "mp4"
    if output == "audio":
        return "mp3" if _asset("audio.mp3") else "wav"
    return "txt"


def _size(aspect_ratio: Any) -> tuple[int, int]:
    try:
        w, h = (float(part) for part in str(aspect_ratio).split(":"))
    except ValueError:
        return MAX_SIDE, MAX_SIDE
    if w <= 0 or h <= 0:
        return MAX_SIDE, MAX_SIDE
    scale = MAX_SIDE / max(w, h)
    return max(16, round(w * scale)), max(16, round(h * scale))


def render_image(prompt: str, inputs: dict[str, Any], fmt: str, index: int = 0) -> bytes:
    """A picture in a colour derived from the prompt, with the prompt written on it.

    PNGs are drawn with a 3-colour palette and fast compression: a 512 px picture then costs about
    2 ms instead of 7, which matters when a bench downloads thousands of results.
    """
    width, height = _size(inputs.get("aspect_ratio") or inputs.get("aspectRatio") or "1:1")
    digest = hashlib.sha256(f"{prompt}#{index}".encode()).digest()
    background = (digest[0] // 2 + 64, digest[1] // 2 + 64, digest[2] // 2 + 64)
    image = Image.new("P", (width, height), 0)
    image.putpalette([*background, 255, 255, 255, 20, 20, 20])
    draw = ImageDraw.Draw(image)
    font = _font()
    lines = textwrap.wrap(prompt or "(no prompt)", width=max(10, width // 11))[: max(1, height // 24 - 2)]
    draw.multiline_text((12, 12), "\n".join(lines), fill=1, font=font, spacing=4)
    draw.text((12, height - 28), f"Kie sandbox #{index}", fill=2, font=font)
    buffer = io.BytesIO()
    if fmt == "jpg":
        image.convert("RGB").save(buffer, "JPEG", quality=80)
    else:
        image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


@cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=18)


def tone_wav(seconds: float = 1.0, frequency: float = 440.0, rate: int = 8000) -> bytes:
    """A mono 16-bit sine tone, used when the MP3 asset is not installed."""
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * frequency * n / rate))) for n in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def render(ext: str, prompt: str, inputs: dict[str, Any], index: int = 0) -> bytes:
    """The bytes of one result file."""
    if ext in ("png", "jpg"):
        return render_image(prompt, inputs, ext, index)
    if ext == "mp4":
        video = _asset("video.mp4")
        if video is None:
            raise FileNotFoundError("sandbox video asset missing (aistudio/sandbox/kie/assets/video.mp4)")
        return video
    if ext == "mp3":
        return _asset("audio.mp3") or b""
    if ext == "wav":
        return tone_wav()
    return (prompt or "").encode()
