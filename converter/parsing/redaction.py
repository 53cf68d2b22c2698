"""Mask secret values in events before they are emitted (parsers/redaction.yml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..content import parsers_dir
from ..errors import ContentError, ContentErrors
from ..fields import FieldDictionary, default_dictionary
from ..schema_check import schema_errors
from ..regex_dialect import group_names, lint
from ..yamlpos import load_yaml
from .definitions import RegexUse


@dataclass(frozen=True)
class Redactor:
    replacement: str
    fields: tuple[str, ...]
    keys: re.Pattern[str]
    rules: tuple[tuple[str, re.Pattern[str]], ...]
    regexes: tuple[RegexUse, ...]

    def text(self, value: str) -> str:
        for _name, rx in self.rules:
            value = rx.sub(lambda m: m.group("before") + self.replacement + m.group("after"), value)
        return value

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            return self.replacement if self.keys.search(key.lower()) else self.text(value)
        if isinstance(value, list):
            return self._vector(key, value)
        if isinstance(value, dict):
            return {k: self.value(f"{key}/{k}", v) for k, v in value.items()}
        return value

    def _vector(self, key: str, values: list[Any]) -> list[Any]:
        """A list, read as an argument vector too: a secret may be the element after its option
        (`["docker", "login", "-u", "dana", "-p", "s3cret"]`, a process's `args`). The rules also read
        the strings joined with spaces, and every element a secret reaches there is masked as well."""
        out = [self.value(key, v) for v in values]
        strings = [(i, v) for i, v in enumerate(values) if isinstance(v, str)]
        if len(strings) < 2 or self.keys.search(key.lower()):
            return out
        starts = []
        position = 0
        for _i, v in strings:
            starts.append(position)
            position += len(v) + 1
        joined = " ".join(v for _i, v in strings)
        spans = sorted(m.span("secret") for _name, rx in self.rules for m in rx.finditer(joined) if m.end("secret") > m.start("secret"))
        if not spans:
            return out
        for (i, v), start in zip(strings, starts, strict=True):
            end = start + len(v)
            cuts: list[list[int]] = []
            for s, e in spans:
                s, e = max(s, start) - start, min(e, end) - start
                if s >= e:
                    continue
                if cuts and s <= cuts[-1][1]:
                    cuts[-1][1] = max(cuts[-1][1], e)
                else:
                    cuts.append([s, e])
            if cuts:
                pieces, last = [], 0
                for s, e in cuts:
                    pieces += [v[last:s], self.replacement]
                    last = e
                out[i] = self.text("".join(pieces) + v[last:])
        return out

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        for name in ("warnings",):  # backstop: they never quote values, but a key name could hold one
            if name in event:
                event[name] = [self.text(w) for w in event[name]]
        for name in self.fields:
            if name in event:
                if name == "extra":
                    event[name] = {k: self.value(k, v) for k, v in event[name].items()}
                else:
                    event[name] = self.value(name, event[name])
        return event


def load_redactor(path: Path | None = None, dictionary: FieldDictionary | None = None) -> Redactor:
    path = path or parsers_dir() / "redaction.yml"
    dictionary = dictionary or default_dictionary()
    data, lines = load_yaml(path)
    errors = schema_errors(data, lines, path, "redaction.schema.json")
    if errors:
        raise ContentErrors(errors)
    for i, name in enumerate(data["fields"]):
        if name not in dictionary or dictionary[name].type not in ("keyword", "text", "keyword_list", "object"):
            errors.append(ContentError(path, lines.line_of(["fields", i]), f"{name!r} is not a text field of the field dictionary"))
    uses: list[RegexUse] = []
    rules = []

    def check(pattern: str, where: list[str | int]) -> re.Pattern[str] | None:
        problems = lint(pattern) + [f"named group {g!r}: rules may not name groups" for g in group_names(pattern)
                                    if g not in ("before", "secret", "after")]
        for problem in problems:
            errors.append(ContentError(path, lines.line_of(where), f"regex {pattern!r}: {problem}"))
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            errors.append(ContentError(path, lines.line_of(where), f"regex {pattern!r} does not compile: {exc}"))
            return None
        uses.append(RegexUse("/".join(map(str, where)), lines.line_of(where), pattern))
        return None if problems else compiled

    keys = check(data["keys"], ["keys"])
    for i, rule in enumerate(data["rules"]):
        for part in ("before", "secret", "after"):
            if group_names(rule[part]):
                errors.append(ContentError(path, lines.line_of(["rules", i, part]), f"rule {rule['name']!r}: {part} may not name groups"))
        rx = check(f"(?P<before>{rule['before']})(?P<secret>{rule['secret']})(?P<after>{rule['after']})", ["rules", i])
        if rx is not None:
            rules.append((rule["name"], rx))
    if errors or keys is None:
        raise ContentErrors(errors)
    return Redactor(data["replacement"], tuple(data["fields"]), keys, tuple(rules), tuple(uses))


@cache
def default_redactor() -> Redactor:
    return load_redactor()
