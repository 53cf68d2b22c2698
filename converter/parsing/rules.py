"""Conditions and derivation steps of parser definitions (`when`, `cases`, `derive`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]


@dataclass(frozen=True)
class Condition:
    field: str
    kind: str  # equals | present | in | contains | matches | equals_field
    value: Any
    regex: re.Pattern[str] | None = None

    def holds(self, event: Event) -> bool:
        current = event.get(self.field)
        if self.kind == "present":
            return (current is not None) == self.value
        if current is None:
            return False
        if self.kind == "equals":
            return _same(current, self.value)
        if self.kind == "in":
            return any(_same(current, v) for v in self.value)
        if self.kind == "contains":  # a list with the value as an element, or the value alone
            return any(_same(v, self.value) for v in current) if isinstance(current, list) else _same(current, self.value)
        if self.kind == "matches":
            return isinstance(current, str) and self.regex is not None and self.regex.search(current) is not None
        if self.kind == "equals_field":
            return _same(current, event.get(self.value))
        raise AssertionError(self.kind)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


@dataclass(frozen=True)
class When:
    conditions: tuple[Condition, ...] = ()

    def holds(self, event: Event) -> bool:
        return all(c.holds(event) for c in self.conditions)


@dataclass(frozen=True)
class Step:
    """One `derive` step: exactly one of set / regex / strip_prefix / join / first, guarded by `when`."""

    when: When
    set: dict[str, Any] = field(default_factory=dict)
    regex_field: str | None = None
    regex: re.Pattern[str] | None = None
    strip: tuple[str, str, str, str] | None = None  # field, prefix_field, separator, into
    join: tuple[str, str, str] | None = None  # field (a list of strings), separator, into
    first: tuple[tuple[When, dict[str, Any]], ...] = ()

