"""Validate a content file against its JSON Schema, as errors that name the file and the line."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from .content import schemas_dir
from .errors import ContentError
from .yamlpos import LineMap


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((schemas_dir() / name).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def schema_errors(data: Any, lines: LineMap, path: Path, schema: str) -> list[ContentError]:
    """Every way `data` (loaded from `path`) breaks `schema` (a file of converter/schemas/), by line."""
    errors = []
    for err in _validator(schema).iter_errors(data):
        where = list(err.absolute_path)
        label = "/".join(map(str, where)) or "document"
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = sorted(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - set(allowed)):
                errors.append(ContentError(path, lines.line_of([*where, key]),
                                           f"{label}: unknown key {key!r} (allowed: {', '.join(allowed)})"))
            continue
        errors.append(ContentError(path, lines.line_of(where), f"{label}: {err.message}"))
    return sorted(errors, key=lambda e: (e.line or 0, e.reason))
