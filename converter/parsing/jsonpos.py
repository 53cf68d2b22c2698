"""Find where each JSON object starts in a document, so records of a pretty-printed file point at their line."""

from __future__ import annotations

import json
from json.decoder import scanstring  # type: ignore[attr-defined]

_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


def object_offsets(text: str) -> dict[tuple[str | int, ...], int]:
    """Character offset of every object and array in `text`, by path. `text` must be valid JSON."""
    offsets: dict[tuple[str | int, ...], int] = {}

    def skip(i: int) -> int:
        while i < len(text) and text[i] in _WS:
            i += 1
        return i

    def value(i: int, path: tuple[str | int, ...]) -> int:
        i = skip(i)
        c = text[i]
        if c == "{":
            offsets[path] = i
            i = skip(i + 1)
            if text[i] == "}":
                return i + 1
            while True:
                i = skip(i)
                key, i = scanstring(text, i + 1)
                i = skip(i)
                i = value(i + 1, (*path, key))  # past ':'
                i = skip(i)
                if text[i] == "}":
                    return i + 1
                i += 1  # ','
        if c == "[":
            offsets[path] = i
            i = skip(i + 1)
            if text[i] == "]":
                return i + 1
            index = 0
            while True:
                i = value(i, (*path, index))
                i = skip(i)
                if text[i] == "]":
                    return i + 1
                i += 1
                index += 1
        if c == '"':
            return scanstring(text, i + 1)[1]
        return _DECODER.raw_decode(text, i)[1]

    value(0, ())
    return offsets
