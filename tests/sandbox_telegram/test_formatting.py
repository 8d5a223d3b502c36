"""Telegram's HTML and MarkdownV2 rules as the emulator parses them (text, entities, errors)."""

from __future__ import annotations

import pytest

from aistudio.sandbox.telegram.errors import BotApiError
from aistudio.sandbox.telegram.formatting import command_entities, format_text, parse_html, parse_markdown


def spans(entities: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(e["type"], e["offset"], e["length"]) for e in entities]


def test_nested_html_entities_keep_outer_first() -> None:
    text, entities = parse_html("<b>bold <i>both</i></b>")
    assert text == "bold both"
    assert spans(entities) == [("bold", 0, 9), ("italic", 5, 4)]


def test_pre_with_language_and_code() -> None:
    text, entities = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert text == "x = 1"
    assert entities[0] == {"type": "pre", "language": "python", "offset": 0, "length": 5}


def test_html_character_references_are_decoded() -> None:
    assert parse_html("&lt;&gt;&amp;&quot;&#65;&#x42; & &unknown;")[0] == '<>&"AB & &unknown;'


def test_spoiler_needs_the_tg_spoiler_class() -> None:
    assert spans(parse_html('<span class="tg-spoiler">x</span>')[1]) == [("spoiler", 0, 1)]
    with pytest.raises(BotApiError, match='Tag "span" must have class "tg-spoiler"'):
        parse_html("<span>x</span>")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("<a>no href</a>", "Can't find href in a tag"),
        ("x <b", "Unclosed start tag at byte offset 2"),
        ("привет <x>", 'Unsupported start tag "x" at byte offset 13'),  # byte offsets count UTF-8 bytes
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ],
)
def test_html_errors_match_telegram(source: str, message: str) -> None:
    with pytest.raises(BotApiError) as info:
        parse_html(source)
    assert info.value.code == 400 and message in info.value.description


def test_markdown_v2_escapes_and_links() -> None:
    text, entities = parse_markdown(r"[site](https://example.com/a\)b) \_not italic\_ ~gone~", v2=True)
    assert text == "site _not italic_ gone"
    assert entities[0] == {"type": "text_link", "offset": 0, "length": 4, "url": "https://example.com/a)b"}
    assert spans(entities)[1] == ("strikethrough", 18, 4)


def test_markdown_v2_code_keeps_reserved_characters() -> None:
    text, entities = parse_markdown("`a.b-c` and ```python\nprint(1)\n```", v2=True)
    assert text == "a.b-c and print(1)\n"
    assert entities[1]["type"] == "pre" and entities[1]["language"] == "python"


def test_legacy_markdown_is_lenient_with_punctuation() -> None:
    text, entities = parse_markdown("*Price:* 1.5 (approx.)", v2=False)
    assert text == "Price: 1.5 (approx.)"
    assert spans(entities) == [("bold", 0, 6)]


def test_explicit_entities_win_over_parse_mode() -> None:
    text, entities = format_text("<b>x</b>", "HTML", [{"type": "italic", "offset": 0, "length": 3}])
    assert text == "<b>x</b>" and spans(entities) == [("italic", 0, 3)]


def test_trimming_shifts_entities() -> None:
    text, entities = format_text("  <b>hi</b> there  ", "HTML", None)
    assert text == "hi there" and spans(entities) == [("bold", 0, 2)]


def test_command_entities_use_utf16_offsets() -> None:
    assert spans(command_entities("😀 /start@bot now /help")) == [("bot_command", 3, 10), ("bot_command", 18, 5)]


def test_bare_links_become_url_entities_outside_code() -> None:
    text, entities = format_text("See https://example.com/a. <code>http://x.y</code>", "HTML", None)
    assert text == "See https://example.com/a. http://x.y"
    assert spans(entities) == [("url", 4, 21), ("code", 27, 10)]
    assert spans(command_entities("/start https://t.me/x")) == [("bot_command", 0, 6), ("url", 7, 14)]
