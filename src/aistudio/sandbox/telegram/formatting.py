"""Telegram text formatting: HTML / MarkdownV2 / Markdown parsing into plain text plus entities.

Telegram rejects malformed markup ("can't parse entities") instead of showing it, which is a classic
production-only failure (an unescaped ``<`` in user input); the emulator reproduces that strictly.
Entity offsets and lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import BotApiError, bad_request

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});")
_ATTR_RE = re.compile(r"""\s*([a-zA-Z-]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
_TAG_NAME_RE = re.compile(r"[a-zA-Z0-9-]*")
_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_NO_AUTOLINK = frozenset({"code", "pre", "text_link", "url"})
_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (how Telegram measures entity offsets)."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _parse_error(message: str) -> BotApiError:
    return bad_request(f"can't parse entities: {message}")


@dataclass(slots=True)
class _Builder:
    """Accumulates plain text and tracks its UTF-16 length as characters are appended."""

    parts: list[str]
    pos16: int = 0

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.pos16 += utf16_len(chunk)

    def text(self) -> str:
        return "".join(self.parts)


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram's HTML subset; raise 400 "can't parse entities" on anything Telegram rejects."""
    out = _Builder([])
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, dict[str, Any], int]] = []  # (tag name, entity, start)
    i, n = 0, len(source)
    while i < n:
        lt = source.find("<", i)
        amp = source.find("&", i)
        nxt = min(p for p in (lt, amp, n) if p != -1)
        if nxt > i:
            out.add(source[i:nxt])
            i = nxt
            continue
        ch = source[i]
        if ch == "&":
            match = _ENTITY_RE.match(source, i)
            decoded = _decode_entity(match.group(1)) if match else None
            if match and decoded is not None:
                out.add(decoded)
                i = match.end()
            else:  # Telegram keeps a stray ampersand as text
                out.add("&")
                i += 1
            continue
        begin = i
        if source.startswith("</", i):
            close = source.find(">", i)
            if close == -1:
                raise _parse_error(f"Unclosed end tag at byte offset {_byte_offset(source, begin)}")
            name = source[i + 2 : close].strip().lower()
            if not stack:
                raise _parse_error(f"Unexpected end tag at byte offset {_byte_offset(source, begin)}")
            open_name, entity, start = stack.pop()
            if name != open_name:
                offset = _byte_offset(source, begin)
                raise _parse_error(
                    f'Unmatched end tag at byte offset {offset}, expected "</{open_name}>", found "</{name}>"'
                )
            length = out.pos16 - start
            if length > 0 and entity["type"] != "_merged":
                entity["offset"], entity["length"] = start, length
                entities.append(entity)
            i = close + 1
            continue
        name_match = _TAG_NAME_RE.match(source, i + 1)
        name = name_match.group(0).lower() if name_match else ""
        if name not in _HTML_TAGS:
            raise _parse_error(f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, begin)}')
        close = source.find(">", name_match.end() if name_match else i + 1)
        if close == -1:
            raise _parse_error(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
        attrs = {
            m.group(1).lower(): next((g for g in m.group(2, 3, 4) if g is not None), "")
            for m in _ATTR_RE.finditer(source[name_match.end() : close].rstrip("/"))
            if m.group(1)
        }
        entity = _html_entity(name, attrs, source, begin, stack)
        stack.append((name, entity, out.pos16))
        i = close + 1
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.text(), _sorted(entities)


def _decode_entity(body: str) -> str | None:
    if body.startswith("#"):
        try:
            code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
            return chr(code) if 0 < code <= 0x10FFFF else None
        except ValueError:
            return None
    return _NAMED_ENTITIES.get(body)


def _html_entity(
    name: str, attrs: dict[str, str], source: str, begin: int, stack: list[tuple[str, dict[str, Any], int]]
) -> dict[str, Any]:
    kind = _HTML_TAGS[name]
    entity: dict[str, Any] = {"type": kind}
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise _parse_error(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(source, begin)}')
    if name == "a":
        href = attrs.get("href", "")
        if not href:
            raise _parse_error(f"Can't find href in a tag at byte offset {_byte_offset(source, begin)}")
        entity["url"] = href
    if name == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language, not two entities.
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][1]["language"] = language[len("language-") :]
        entity["type"] = "_merged"
    if name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    if name == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    return entity


def _sorted(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Telegram orders entities by offset, outer (longer) entity first.
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


_MD_TOGGLES = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}


def parse_markdown(source: str, *, v2: bool) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 (``v2=True``, strict escaping) or legacy Markdown into text plus entities."""
    out = _Builder([])
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, int]] = []  # (marker, start utf16, source index)
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "\\" and i + 1 < n and (v2 or source[i + 1] in "_*`[") and 0 < ord(source[i + 1]) <= 126:
            out.add(source[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = "```" if source.startswith("```", i) else "`"
            end = source.find(fence, i + len(fence))
            if end == -1:
                raise _parse_error(f"Can't find end of the entity starting at byte offset {_byte_offset(source, i)}")
            body = source[i + len(fence) : end]
            entity: dict[str, Any] = {"type": "code" if fence == "`" else "pre"}
            if fence == "```" and "\n" in body:
                language, body = body.split("\n", 1)
                if language.strip():
                    entity["language"] = language.strip()
            if v2:
                body = re.sub(r"\\([`\\])", r"\1", body)
            entity["offset"] = out.pos16
            out.add(body)
            entity["length"] = out.pos16 - entity["offset"]
            if entity["length"]:
                entities.append(entity)
            i = end + len(fence)
            continue
        marker = source[i : i + 2] if source[i : i + 2] in ("__", "||") and v2 else ch
        if marker in _MD_TOGGLES and (v2 or marker in ("*", "_")):
            open_markers = [m for m, _, _ in stack]
            if marker in open_markers:
                if open_markers[-1] != marker:
                    raise _parse_error(
                        f"Can't find end of the entity starting at byte offset {_byte_offset(source, stack[-1][2])}"
                    )
                _, start, _ = stack.pop()
                if out.pos16 > start:
                    entities.append({"type": _MD_TOGGLES[marker], "offset": start, "length": out.pos16 - start})
            else:
                stack.append((marker, out.pos16, i))
            i += len(marker)
            continue
        if ch == "[":
            stack.append(("[", out.pos16, i))
            i += 1
            continue
        if ch == "]" and stack and stack[-1][0] == "[":
            _, start, begin = stack.pop()
            if not source.startswith("(", i + 1):
                if v2:
                    raise _parse_error(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
                out.add("]")
                i += 1
                continue
            end = _closing_paren(source, i + 2)
            if end == -1:
                raise _parse_error(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(source, begin)}"
                )
            url = source[i + 2 : end].replace("\\)", ")").replace("\\\\", "\\")
            if out.pos16 > start:
                entities.append({"type": "text_link", "offset": start, "length": out.pos16 - start, "url": url})
            i = end + 1
            continue
        if v2 and ch == ">" and (i == 0 or source[i - 1] == "\n"):
            stack.append((">", out.pos16, i))
            i += 1
            continue
        if v2 and ch in _MDV2_RESERVED:
            raise _parse_error(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
        if ch == "\n" and stack and stack[-1][0] == ">":
            _, start, _ = stack.pop()
            if out.pos16 > start:
                entities.append({"type": "blockquote", "offset": start, "length": out.pos16 - start})
        out.add(ch)
        i += 1
    if stack and stack[-1][0] == ">":
        _, start, _ = stack.pop()
        if out.pos16 > start:
            entities.append({"type": "blockquote", "offset": start, "length": out.pos16 - start})
    if stack:
        raise _parse_error(f"Can't find end of the entity starting at byte offset {_byte_offset(source, stack[-1][2])}")
    return out.text(), _sorted(entities)


def _closing_paren(source: str, start: int) -> int:
    # The URL part of [text](url) ends at the first ")" not escaped with a backslash.
    i = start
    while i < len(source):
        if source[i] == "\\":
            i += 2
            continue
        if source[i] == ")":
            return i
        i += 1
    return -1


def format_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Turn a text/caption parameter into (plain text, entities) as Telegram stores it.

    Explicit ``entities`` win over ``parse_mode`` (Telegram ignores parse_mode then). Leading and trailing
    whitespace is trimmed, as Telegram does, and entities are shifted accordingly.
    """
    if entities:
        plain, ents = text, [dict(e) for e in entities]
    elif parse_mode:
        mode = parse_mode.lower()
        if mode == "html":
            plain, ents = parse_html(text)
        elif mode == "markdownv2":
            plain, ents = parse_markdown(text, v2=True)
        elif mode == "markdown":
            plain, ents = parse_markdown(text, v2=False)
        else:
            raise bad_request("unsupported parse_mode")
    else:
        plain, ents = text, []
    plain, ents = _trim(plain, ents)
    return plain, _with_urls(plain, ents)


def _with_urls(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Telegram marks bare links as ``url`` entities by itself (outside code and explicit links).
    if "://" not in text:
        return entities
    blocked = [(e["offset"], e["offset"] + e["length"]) for e in entities if e["type"] in _NO_AUTOLINK]
    found = []
    for match in _URL_RE.finditer(text):
        link = match.group(0).rstrip(".,;:!?)")
        start = utf16_len(text[: match.start()])
        end = start + utf16_len(link)
        if not any(start < b_end and b_start < end for b_start, b_end in blocked):
            found.append({"type": "url", "offset": start, "length": end - start})
    return _sorted([*entities, *found]) if found else entities


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    stripped = text.strip()
    if stripped == text:
        return text, entities
    if not stripped:
        return "", []
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    trimmed = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            trimmed.append({**entity, "offset": start, "length": end - start})
    return stripped, trimmed


def command_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram attaches to a user's plain text: ``bot_command`` for /commands, ``url`` for links."""
    result: list[dict[str, Any]] = []
    for match in _COMMAND_RE.finditer(text):
        offset = utf16_len(text[: match.start()])
        result.append({"type": "bot_command", "offset": offset, "length": utf16_len(match.group(0))})
    return _with_urls(text, result)
