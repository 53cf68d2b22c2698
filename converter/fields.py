"""The field dictionary (parsers/fields.yml): loaded, validated, and the source of every field name."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .content import parsers_dir
from .errors import ContentError, ContentErrors
from .schema_check import schema_errors
from .yamlpos import load_yaml

TIMESTAMP_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]*[1-9])?Z$")
CAMEL_CASE = re.compile(r"^[A-Z][A-Za-z]*$")  # Sigma's taxonomy names (Image, CommandLine, ...)


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    example: Any
    ecs: str
    splunk: str
    sources: tuple[str, ...]
    lowercase: bool = False  # every value is lowercase by construction (a vocabulary the parsers write)


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


def _all_lowercase(value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return all(isinstance(v, str) and v == v.lower() for v in values)


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
    elastic_conditions: tuple[tuple[str, str], ...] = ()  # ECS field values that select the events in those indexes

    @property
    def standard(self) -> bool:
        """A standard Sigma log source (a `category` such as process_creation, no Kamal `service`)."""
        return "category" in self.sigma and "service" not in self.sigma

    def matches(self, product: str | None, service: str | None, category: str | None) -> bool:
        """Whether a rule's logsource selects this log type: every attribute the rule names agrees.
        A standard log source names no product, so any product of the rule agrees with it (SigmaHQ's
        process_creation rules say `product: linux` or `macos`), as in pySigma's logsource conditions."""
        wanted = {"product": product, "service": service, "category": category}
        named = {k: v for k, v in wanted.items() if v and not (k == "product" and self.standard)}
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
        # DuckDB and SQLite read column names without regard to case: names that differ only in case
        # (validated: different log types, equal types) share one column, named by the first of them
        self._column: dict[str, str] = {}
        self._sharing: dict[str, list[str]] = {}
        self._event_names: dict[str | None, list[str]] = {}
        for f in fields:
            first = self._column.setdefault(f.name.lower(), f.name)
            self._sharing.setdefault(first, []).append(f.name)

    def column_names(self) -> list[str]:
        """The columns of the local engine's events table, in dictionary order (see `column_of`)."""
        return list(self._sharing)

    def column_of(self, name: str) -> str:
        """The column that holds field `name`: the first field whose name equals it ignoring case."""
        return self._column[name.lower()]

    def name_in(self, column: str, log_type: str | None) -> str:
        """The field an event of `log_type` has in `column` (the column's own name when none)."""
        for name in self._sharing[column]:
            if log_type in self._fields[name].sources:
                return name
        return column

    def event_names(self, log_type: str | None) -> list[str]:
        """For each column (`column_names` order), the name of its field in events of `log_type`."""
        names = self._event_names.get(log_type)
        if names is None:
            names = self._event_names[log_type] = [self.name_in(c, log_type) for c in self._sharing]
        return names

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
        lowercase = bool(raw.get("lowercase", False))
        if lowercase and (raw["type"] not in ("keyword", "keyword_list") or not _all_lowercase(raw["example"])):
            errors.append(ContentError(path, lines.line_of(["fields", i, "lowercase"]),
                                       f"field {name!r}: `lowercase` is for keyword fields whose example is lowercase"))
        fields.append(Field(name=name, type=raw["type"], description=raw["description"].strip(),
                            example=raw["example"], ecs=raw["ecs"], splunk=raw["splunk"],
                            sources=tuple(raw["sources"]), lowercase=lowercase))
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
                                         raw["elastic"].get("dataset"), tuple(raw["elastic"]["index"]),
                                         tuple(sorted(raw["elastic"].get("conditions", {}).items())))
    for log_type in log_types:
        if log_type not in data["logsources"]:
            errors.append(ContentError(path, lines.line_of(["logsources"]), f"logsources: log type {log_type!r} is missing"))
    errors += _shared_name_errors(fields, seen, path)
    errors += _camel_case_errors(fields, seen, logsources, path)
    if errors:
        raise ContentErrors(errors)
    return FieldDictionary(fields, log_types, path, logsources)


def _shared_name_errors(fields: list[Field], lines: dict[str, int], path: Path) -> list[ContentError]:
    """ECS and Splunk names are unique within a log type, and so are names ignoring case (DuckDB and
    SQLite columns): fields of different log types may share one when their types are equal."""
    errors: list[ContentError] = []
    kinds: list[tuple[str, Callable[[Field], str]]] = [
        ("ECS name", lambda f: f.ecs), ("Splunk name", lambda f: f.splunk), ("name ignoring case", lambda f: f.name.lower())]
    for label, key_of in kinds:
        earlier: dict[str, list[Field]] = {}
        for field in fields:
            key = key_of(field)
            for other in earlier.get(key, []):
                common = [t for t in field.sources if t in other.sources]
                if common:
                    errors.append(ContentError(path, lines[field.name], f"field {field.name!r}: {label} {key!r} is already used by "
                                                                         f"{other.name!r} in log type {common[0]!r}"))
                elif field.type != other.type:
                    errors.append(ContentError(path, lines[field.name], f"field {field.name!r}: {label} {key!r} is shared with "
                                                                         f"{other.name!r}, whose type differs ({field.type} vs {other.type})"))
            earlier.setdefault(key, []).append(field)
    return errors


def _camel_case_errors(fields: list[Field], lines: dict[str, int], logsources: dict[str, LogSource],
                       path: Path) -> list[ContentError]:
    """CamelCase names are Sigma's taxonomy names: only for fields of exactly one standard log source."""
    standard = [t for t, s in logsources.items() if s.standard]
    errors = []
    for field in fields:
        if CAMEL_CASE.match(field.name) and not (len(field.sources) == 1 and field.sources[0] in standard):
            errors.append(ContentError(path, lines[field.name], (
                f"field {field.name!r}: a CamelCase name is a Sigma taxonomy name, allowed only for a field whose "
                f"sources are exactly one log type with a standard Sigma log source ({', '.join(standard) or 'none'}), "
                f"not [{', '.join(field.sources)}]")))
    return errors


@cache
def default_dictionary() -> FieldDictionary:
    return load_field_dictionary()


__all__ = ["Field", "FieldDictionary", "LogSource", "default_dictionary", "load_field_dictionary", "value_fits"]
