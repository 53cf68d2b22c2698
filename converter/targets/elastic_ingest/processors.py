"""Ingest processors as plain data, and the naming of the scratch fields a pipeline works in.

A pipeline parses into `_tmp.f.<dictionary name>` (the field dictionary's names, so the parser
definitions' conditions read the same as in converter/parsing), then maps those to ECS names and
removes `_tmp`."""

from __future__ import annotations

from typing import Any

Processor = dict[str, Any]

TMP = "_tmp"
STAGE = "_tmp.f"


def stage(name: str) -> str:
    """Where a dictionary field (or an internal `_name`) lives while the pipeline runs."""
    return f"{STAGE}.{name}"


def proc(kind: str, *, when: str = "", tag: str = "", description: str = "", **options: Any) -> Processor:
    body: dict[str, Any] = {}
    if description:
        body["description"] = description
    if tag:
        body["tag"] = tag
    if when:
        body["if"] = when
    body.update({k: v for k, v in options.items() if v is not None})
    return {kind: body}


def set_value(field: str, value: Any, *, when: str = "", **options: Any) -> Processor:
    return proc("set", field=field, value=value, when=when, **options)


def copy(field: str, source: str, *, when: str = "", **options: Any) -> Processor:
    return proc("set", field=field, copy_from=source, when=when, **options)


def remove(*fields: str, when: str = "") -> Processor:
    return proc("remove", field=list(fields) if len(fields) > 1 else fields[0], ignore_missing=True, when=when)


def append(field: str, value: Any, *, when: str = "", **options: Any) -> Processor:
    return proc("append", field=field, value=value, when=when, **options)


def grok(field: str, patterns: list[str], *, when: str = "", tag: str = "", **options: Any) -> Processor:
    return proc("grok", field=field, patterns=patterns, when=when, tag=tag, **options)


def warning(text: str, *, when: str = "") -> Processor:
    """A problem with a line that was still parsed (`warnings`, kamal.warnings); never quotes a value."""
    return append(stage("warnings"), text, when=when)


def mustache(path: str) -> str:
    """A template snippet that renders the value at `path` unescaped."""
    return "{{{" + path + "}}}"
