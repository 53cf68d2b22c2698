"""Escaping of values for the report. Log content is attacker-controlled: a value is shown as text,
never as markup, and control and formatting characters (terminal escapes, bidirectional overrides,
zero-width characters) are shown as `\\xNN`/`\\uNNNN` so that a value cannot hide or reorder what is
shown around it."""

from __future__ import annotations

import html
import re

from ..parse_report import _visible

_BACKTICKS = re.compile(r"`+")


def visible(text: str) -> str:
    return _visible(text)


def esc(text: str) -> str:
    """Text for HTML (and SVG) content and attribute values."""
    return html.escape(_visible(text), quote=True)


def md_code(text: str) -> str:
    """Text as a Markdown code span inside a GFM table cell: never markup, never a link, `|` escaped."""
    shown = _visible(text).replace("|", "\\|")
    if not shown:
        return ""
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(shown)), default=0) + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") or (shown.startswith(" ") and shown.endswith(" ")) else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>&|~#!])")


def md_plain(text: str) -> str:
    """kamal-siem's own words in Markdown: the characters that could start markup escaped."""
    return _MD_SPECIAL.sub(r"\\\1", _visible(text))


_PROSE_SPECIAL = re.compile(r"([\\*_{}\[\]<>&|~#!])")
_CODE = re.compile(r"`([^`]+)`")


def md_prose(text: str) -> str:
    """kamal-siem's own sentences in Markdown: `code` spans kept, other markup characters escaped."""
    parts = _CODE.split(_visible(text))
    return "".join(f"`{part}`" if i % 2 else _PROSE_SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


def html_prose(text: str) -> str:
    """kamal-siem's own sentences in HTML: escaped, `code` spans as <code>."""
    parts = _CODE.split(_visible(text))
    return "".join(f"<code>{html.escape(part, quote=True)}</code>" if i % 2 else html.escape(part, quote=True)
                   for i, part in enumerate(parts))
