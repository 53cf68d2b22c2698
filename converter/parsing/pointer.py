"""JSON Pointers (RFC 6901) into parsed JSON, as parser definitions name source keys."""

from __future__ import annotations

from typing import Any

MISSING = object()


def split(pointer: str) -> tuple[str, ...]:
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:])


def join(parts: tuple[str, ...]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(document: Any, parts: tuple[str, ...]) -> Any:
    """The value at `parts`, or MISSING. JSON null counts as missing."""
    node = document
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return MISSING
    return MISSING if node is None else node


def leaves(document: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every non-object value with its path (lists are leaves); empty objects are leaves too."""
    if isinstance(document, dict) and document:
        out: list[tuple[tuple[str, ...], Any]] = []
        for key, value in document.items():
            out.extend(leaves(value, (*prefix, key)))
        return out
    return [(prefix, document)]
