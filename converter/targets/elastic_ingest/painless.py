"""The Painless the pipelines use: `if` conditions and a few one-statement scripts, built here so
that every expression stays in a small subset (null-safe field access, literals, `==`, `!=`, `&&`,
`||`, `!`, `instanceof`, `+`, and the String/List methods `startsWith`, `endsWith`, `contains`,
`length`, `size`, `substring`, `get`). tests/ingest_sim.py interprets exactly this subset."""

from __future__ import annotations

import re
from typing import Any

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def lit(value: Any) -> str:
    """A Painless literal: strings single-quoted (only `\\\\` and `\\'` are escapes), numbers, booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) + ("L" if abs(value) > 2**31 - 1 else "")
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise ValueError(f"no Painless literal for {value!r}")


def ref(path: str, *, safe: bool = True) -> str:
    """`ctx` access to a dotted ingest path; with `safe`, null-safe after the first segment."""
    out = "ctx"
    for i, part in enumerate(path.split(".")):
        dot = "?." if safe and i > 0 else "."
        out += f"{dot}{part}" if _IDENTIFIER.match(part) else f"{dot}get({lit(part)})"
    return out


def present(path: str) -> str:
    return f"{ref(path)} != null"


def absent(path: str) -> str:
    return f"{ref(path)} == null"


def equals(path: str, value: Any) -> str:
    return f"{ref(path)} == {lit(value)}"


def all_of(*conditions: str) -> str:
    parts = [c for c in conditions if c]
    if not parts:
        return ""
    return " && ".join(f"({c})" if "||" in c else c for c in parts)


def any_of(*conditions: str) -> str:
    parts = [c for c in conditions if c]
    if len(parts) < 2:
        return parts[0] if parts else ""
    return "(" + " || ".join(f"({c})" if "&&" in c else c for c in parts) + ")"


def not_(condition: str) -> str:
    return f"!({condition})"
