"""The field dictionary (parsers/fields.yml): loaded, validated, and the source of every field name."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .content import parsers_dir
from .errors import ContentError, ContentErrors
from .schema_check import schema_errors
from .yamlpos import load_yaml

TIMESTAMP_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]*[1-9])?Z$")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    example: Any
    ecs: str
    splunk: str
    sources: tuple[str, ...]


def _example_fits(field_type: str, value: Any) -> bool:
    """Whether `value` is a valid value of `field_type` (used for examples and parsed values)."""
    if field_type in ("keyword", "text"):
        return isinstance(value, str)
    if field_type == "long":
        return isinstance(value, int) and not isinstance(value, bool)
    if field_type == "double":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if field_type == "boolean":
        return isinstance(value, bool)
    if field_type == "timestamp":
        return isinstance(value, str) and TIMESTAMP_RE.match(value) is not None
    if field_type == "ip":
        if not isinstance(value, str):
            return False
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    if field_type == "keyword_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if field_type == "object":
        return isinstance(value, dict)
    return False


value_fits = _example_fits


@dataclass(frozen=True)
class LogSource:
    """How a log type appears to Sigma rules (`logsource`) and in Splunk and Elastic."""

    log_type: str
    description: str
    sigma: dict[str, str]
    conditions: dict[str, str]
    splunk_sourcetype: str
    splunk_macro: str
    elastic_dataset: str | None
    elastic_index: tuple[str, ...]

    def matches(self, product: str | None, service: str | None, category: str | None) -> bool:
        """Whether a rule's logsource selects this log type (every attribute the rule names agrees)."""
        wanted = {"product": product, "service": service, "category": category}
        named = {k: v for k, v in wanted.items() if v}
        return bool(named) and all(self.sigma.get(k) == v for k, v in named.items()) and \
            all(k in named for k in self.sigma if k != "product")


class FieldDictionary:
    """All fields by name, in file order, with the log types that carry each."""

    def __init__(self, fields: list[Field], log_types: list[str], path: Path,
                 logsources: dict[str, LogSource] | None = None) -> None:
        self.path = path
        self.log_types = tuple(log_types)
        self._fields = {f.name: f for f in fields}
        self.logsources = logsources or {}

    def fields_of(self, log_type: str) -> list[Field]:
        return [f for f in self._fields.values() if log_type in f.sources]

    def logsource_of(self, product: str | None, service: str | None, category: str | None) -> LogSource | None:
        """The log type a Sigma `logsource` selects, or None when it is none of ours."""
        for source in self.logsources.values():
            if source.matches(product, service, category):
                return source
        return None

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def __getitem__(self, name: str) -> Field:
        return self._fields[name]

    def __iter__(self) -> Iterator[Field]:
        return iter(self._fields.values())

    def names(self) -> list[str]:
        return list(self._fields)

    def order(self) -> dict[str, int]:
        """Position of each field, for emitting event keys in dictionary order."""
        return {name: i for i, name in enumerate(self._fields)}


def load_field_dictionary(path: Path | None = None) -> FieldDictionary:
    """Load and validate the field dictionary; raises ContentErrors listing every problem."""
    path = path or parsers_dir() / "fields.yml"
    data, lines = load_yaml(path)
    errors = schema_errors(data, lines, path, "fields.schema.json")
    if errors:
        raise ContentErrors(errors)
    log_types = data["log_types"]
    fields: list[Field] = []
    seen: dict[str, int] = {}
    seen_ecs: dict[str, str] = {}
    seen_splunk: dict[str, str] = {}
    for i, raw in enumerate(data["fields"]):
        line = lines.line_of(["fields", i])
        name = raw["name"]
        if name in seen:
            errors.append(ContentError(path, line, f"field {name!r} is defined twice (first on line {seen[name]})"))
            continue
        seen[name] = line or 0
        for src in raw["sources"]:
            if src not in log_types:
                errors.append(ContentError(path, lines.line_of(["fields", i, "sources"]),
                                           f"field {name!r}: unknown log type {src!r} (known: {', '.join(log_types)})"))
        if not _example_fits(raw["type"], raw["example"]):
            errors.append(ContentError(path, lines.line_of(["fields", i, "example"]),
                                       f"field {name!r}: example {raw['example']!r} is not a {raw['type']}"))
        for table, key, label in ((seen_ecs, raw["ecs"], "ECS"), (seen_splunk, raw["splunk"], "Splunk")):
            if key in table:
                errors.append(ContentError(path, line, f"field {name!r}: {label} name {key!r} is already used by {table[key]!r}"))
            table[key] = name
        fields.append(Field(name=name, type=raw["type"], description=raw["description"].strip(),
                            example=raw["example"], ecs=raw["ecs"], splunk=raw["splunk"],
                            sources=tuple(raw["sources"])))
    logsources: dict[str, LogSource] = {}
    for log_type, raw in data["logsources"].items():
        if log_type not in log_types:
            errors.append(ContentError(path, lines.line_of(["logsources", log_type]), f"logsources: unknown log type {log_type!r}"))
            continue
        for name in raw.get("conditions", {}):
            if name not in seen:
                errors.append(ContentError(path, lines.line_of(["logsources", log_type, "conditions"]),
                                           f"logsources.{log_type}: condition on unknown field {name!r}"))
        logsources[log_type] = LogSource(log_type, raw["description"], dict(raw["sigma"]), dict(raw.get("conditions", {})),
                                         raw["splunk"]["sourcetype"], raw["splunk"]["macro"],
                                         raw["elastic"].get("dataset"), tuple(raw["elastic"]["index"]))
    for log_type in log_types:
        if log_type not in data["logsources"]:
            errors.append(ContentError(path, lines.line_of(["logsources"]), f"logsources: log type {log_type!r} is missing"))
    if errors:
        raise ContentErrors(errors)
    return FieldDictionary(fields, log_types, path, logsources)


@cache
def default_dictionary() -> FieldDictionary:
    return load_field_dictionary()


__all__ = ["Field", "FieldDictionary", "LogSource", "default_dictionary", "load_field_dictionary", "value_fits"]
