"""Load parser definitions (parsers/<log_type>.yml): schema-checked, regexes linted and compiled,
every field name checked against the field dictionary for that log type."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..content import parsers_dir
from ..errors import ContentError, ContentErrors
from ..fields import FieldDictionary, default_dictionary
from ..schema_check import schema_errors
from ..regex_dialect import RegexDialectError, expand, group_names, lint
from ..yamlpos import LineMap, load_yaml
from . import pointer
from .rules import Condition, Step, When

NOT_DEFINITIONS = {"fields.yml", "redaction.yml"}  # the other content of parsers/


@dataclass(frozen=True)
class RegexUse:
    """A regex of a definition as the engines see it, with where it was written."""

    where: str
    line: int | None
    pattern: str  # `%{NAME}` expanded; named groups as (?P<name>...)


@dataclass(frozen=True)
class MessageRule:
    action: str
    role_tag: str
    set: dict[str, Any]
    regex: re.Pattern[str] | None  # the message alone, anchored at both ends (None: the fallback)
    line: int | None
    literal: str = ""  # text every message of this kind contains: messages without it skip the regex


@dataclass(frozen=True)
class Frame:
    """A text line: `head`, the free-text field `performer` up to a `]`, `tags`, then the message."""

    head: re.Pattern[str]
    performer: str
    tags: re.Pattern[str]  # matched right after the `]` that ends the performer; ends before the message
    max_splits: int


_META = re.compile(r"[\\()\[\]{}.*+?|^$%]")


def literal_prefix(match: str) -> str:
    """The plain text a message regex starts with (up to its first regex syntax)."""
    m = _META.search(match)
    if m is None:
        return match
    end = m.start()
    if m.group() in "*+?{" and end > 0:  # a quantifier makes the character before it optional too
        end -= 1
    return match[:end]


@dataclass(frozen=True)
class Envelope:
    name: str
    keys: tuple[str, ...] = ()
    inner: tuple[str, ...] = ()
    prefix: re.Pattern[str] | None = None
    fields: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    text_action: str | None = None  # a logged text that is not JSON becomes an event with this action
    text_timestamp: tuple[str, ...] = ()  # ... and the envelope's time


@dataclass(frozen=True)
class Case:
    when: When
    set: dict[str, Any]
    fields: dict[str, tuple[tuple[str, ...], ...]]


@dataclass
class ParserDefinition:
    log_type: str
    format: str
    description: str
    file: Path
    detect_line: re.Pattern[str] | None
    detect_path: re.Pattern[str] | None
    detect_keys: tuple[tuple[str, ...], ...]
    detect_unspecific: frozenset[str]  # actions that are only the shape of this log (see files.py)
    path_regexes: tuple[re.Pattern[str], ...]
    ts_sources: tuple[str, ...]
    ts_formats: tuple[str, ...]
    ts_zone: str | None
    frame: Frame | None = None
    messages: tuple[MessageRule, ...] = ()
    fallback: MessageRule | None = None
    known_destinations: tuple[str, ...] = ()
    envelopes: tuple[Envelope, ...] = ()
    expand: str | None = None
    documents: bool = False  # a JSON log that may also come as pretty-printed documents
    drop_empty: tuple[str, ...] = ()  # fields whose empty string means "none"
    fields: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    ignore: frozenset[tuple[str, ...]] = frozenset()
    cases: tuple[Case, ...] = ()
    derive: tuple[Step, ...] = ()
    flags: tuple[str, str, tuple[tuple[str, re.Pattern[str]], ...]] | None = None
    actions: tuple[str, ...] = ()
    regexes: list[RegexUse] = field(default_factory=list)


class _Loader:
    """Builds one ParserDefinition, collecting every problem with its line."""

    def __init__(self, data: dict[str, Any], lines: LineMap, path: Path, dictionary: FieldDictionary) -> None:
        self.data = data
        self.lines = lines
        self.path = path
        self.dictionary = dictionary
        self.errors: list[ContentError] = []
        self.log_type = data["log_type"]
        self.patterns: dict[str, str] = data.get("patterns", {})
        self.regexes: list[RegexUse] = []

    def error(self, where: list[str | int], reason: str) -> None:
        self.errors.append(ContentError(self.path, self.lines.line_of(where), reason))

    def check_field(self, name: str, where: list[str | int]) -> None:
        if name.startswith("_"):
            return
        if name not in self.dictionary:
            self.error(where, f"field {name!r} is not in the field dictionary ({self.dictionary.path.name})")
        elif self.log_type not in self.dictionary[name].sources:
            self.error(where, f"field {name!r} is not listed for log type {self.log_type!r} in {self.dictionary.path.name}")

    def regex(self, raw: str, where: list[str | int], *, named: bool = True) -> re.Pattern[str] | None:
        try:
            pattern = expand(raw, self.patterns)
        except RegexDialectError as exc:
            self.error(where, f"regex {raw!r}: {exc}")
            return None
        problems = lint(pattern)
        for problem in problems:
            self.error(where, f"regex {raw!r}: {problem}")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            self.error(where, f"regex {raw!r} does not compile: {exc}")
            return None
        if problems:
            return None
        if named:
            for name in group_names(pattern):
                self.check_field(name, where)
        self.regexes.append(RegexUse("/".join(map(str, where)), self.lines.line_of(where), pattern))
        return compiled

    def pointers(self, raw: list[str]) -> tuple[tuple[str, ...], ...]:
        return tuple(pointer.split(p) for p in raw)

    def fieldmap(self, raw: dict[str, list[str]], where: list[str | int]) -> dict[str, tuple[tuple[str, ...], ...]]:
        for name in raw:
            self.check_field(name, [*where, name])
        return {name: self.pointers(ptrs) for name, ptrs in raw.items()}

    def setmap(self, raw: dict[str, Any], where: list[str | int]) -> dict[str, Any]:
        for name in raw:
            self.check_field(name, [*where, name])
        return dict(raw)

    def when(self, raw: dict[str, Any] | None, where: list[str | int]) -> When:
        if not raw:
            return When()
        conditions = []
        for name, spec in raw.items():
            self.check_field(name, [*where, name])
            if isinstance(spec, dict):
                kind, value = next(iter(spec.items()))
                regex = self.regex(value, [*where, name, kind], named=False) if kind == "matches" else None
                if kind == "equals_field":
                    self.check_field(value, [*where, name, kind])
                conditions.append(Condition(name, kind, value, regex))
            else:
                conditions.append(Condition(name, "equals", spec))
        return When(tuple(conditions))

    def steps(self, raw: list[dict[str, Any]], where: list[str | int]) -> tuple[Step, ...]:
        steps = []
        for i, step in enumerate(raw):
            here = [*where, i]
            when = self.when(step.get("when"), [*here, "when"])
            if "set" in step:
                steps.append(Step(when, set=self.setmap(step["set"], [*here, "set"])))
            elif "regex" in step:
                self.check_field(step["regex"]["field"], [*here, "regex", "field"])
                steps.append(Step(when, regex_field=step["regex"]["field"],
                                  regex=self.regex(step["regex"]["pattern"], [*here, "regex", "pattern"])))
            elif "strip_prefix" in step:
                sp = step["strip_prefix"]
                for key in ("field", "prefix_field", "into"):
                    self.check_field(sp[key], [*here, "strip_prefix", key])
                steps.append(Step(when, strip=(sp["field"], sp["prefix_field"], sp["separator"], sp["into"])))
            elif "join" in step:
                jn = step["join"]
                for key in ("field", "into"):
                    self.check_field(jn[key], [*here, "join", key])
                steps.append(Step(when, join=(jn["field"], jn["separator"], jn["into"])))
            else:
                rules = tuple((self.when(r.get("when"), [*here, "first", j, "when"]),
                               self.setmap(r["set"], [*here, "first", j, "set"]))
                              for j, r in enumerate(step["first"]))
                steps.append(Step(when, first=rules))
        return tuple(steps)

    def build(self) -> ParserDefinition:
        d = self.data
        detect = d["detect"]
        keys_any = detect.get("keys_any") or ([detect["keys"]] if "keys" in detect else [])
        ts = d["timestamp"]
        ts_sources = tuple(ts["field"] if isinstance(ts["field"], list) else [ts["field"]])
        ts_formats = tuple(ts["format"] if isinstance(ts["format"], list) else [ts["format"]] * len(ts_sources))
        if len(ts_formats) != len(ts_sources):
            self.error(["timestamp", "format"], "give one format per timestamp field")
        definition = ParserDefinition(
            log_type=self.log_type,
            format=d["format"],
            description=d["description"].strip(),
            file=self.path,
            detect_line=self.regex(detect["line"], ["detect", "line"], named=False) if "line" in detect else None,
            detect_path=self.regex(detect["path"], ["detect", "path"], named=False) if "path" in detect else None,
            detect_keys=tuple(tuple(k) for k in keys_any),
            detect_unspecific=frozenset(detect.get("unspecific_actions", [])),
            path_regexes=tuple(r for r in (self.regex(p, ["path", i]) for i, p in enumerate(d.get("path", []))) if r),
            ts_sources=ts_sources,
            ts_formats=ts_formats,
            ts_zone=ts.get("zone_field"),
            known_destinations=tuple(d.get("known_destinations", [])),
            expand=d.get("expand"),
            documents=d.get("documents", False),
            drop_empty=tuple(d.get("drop_empty", [])),
            actions=tuple(d.get("actions", [])),
        )
        if d["format"] == "text":
            fr = d["frame"]
            head = self.regex(fr["head"], ["frame", "head"])
            tags = self.regex(fr["tags"], ["frame", "tags"])
            self.check_field(fr["performer"], ["frame", "performer"])
            if head is not None and tags is not None:
                definition.frame = Frame(head, fr["performer"], tags, fr["max_splits"])
            rules = []
            for i, msg in enumerate(d["messages"]):
                alone = self.regex(f"^(?:{msg['match']})$", ["messages", i, "match"])
                if alone is not None:
                    rules.append(MessageRule(msg["action"], msg["role_tag"], self.setmap(msg.get("set", {}), ["messages", i, "set"]),
                                             alone, self.lines.line_of(["messages", i]), literal_prefix(msg["match"])))
            fb = d["fallback"]
            definition.messages = tuple(rules)
            definition.fallback = MessageRule(fb["action"], "optional", {}, None, self.lines.line_of(["fallback"]))
            produced: list[tuple[str, list[str | int]]] = [
                (m["action"], ["messages", i, "action"]) for i, m in enumerate(d["messages"])]
            produced.append((fb["action"], ["fallback", "action"]))
        else:
            definition.envelopes = tuple(
                Envelope(name=e["name"], keys=tuple(e.get("keys", [])), inner=pointer.split(e["inner"]) if "inner" in e else (),
                         prefix=self.regex(e["prefix"], ["envelopes", i, "prefix"]) if "prefix" in e else None,
                         fields=self.fieldmap(e.get("fields", {}), ["envelopes", i, "fields"]),
                         text_action=e["text"]["action"] if "text" in e else None,
                         text_timestamp=pointer.split(e["text"]["timestamp"]) if "text" in e else ())
                for i, e in enumerate(d.get("envelopes", [])))
            produced = [(e["text"]["action"], ["envelopes", i, "text", "action"])
                        for i, e in enumerate(d.get("envelopes", [])) if "text" in e]
            definition.fields = self.fieldmap(d["fields"], ["fields"])
            for i, name in enumerate(d.get("drop_empty", [])):
                self.check_field(name, ["drop_empty", i])
            definition.ignore = frozenset(pointer.split(p) for p in d.get("ignore", []))
            definition.cases = tuple(
                Case(self.when(c.get("when"), ["cases", i, "when"]), self.setmap(c.get("set", {}), ["cases", i, "set"]),
                     self.fieldmap(c.get("fields", {}), ["cases", i, "fields"]))
                for i, c in enumerate(d.get("cases", [])))
            produced += [(c["set"]["action"], ["cases", i, "set", "action"])
                         for i, c in enumerate(d.get("cases", [])) if "action" in c.get("set", {})]
        definition.derive = self.steps(d.get("derive", []), ["derive"])
        for i, step in enumerate(d.get("derive", [])):
            if "action" in step.get("set", {}):
                produced.append((step["set"]["action"], ["derive", i, "set", "action"]))
            produced += [(rule["set"]["action"], ["derive", i, "first", j, "set", "action"])
                         for j, rule in enumerate(step.get("first", [])) if "action" in rule["set"]]
        if "flags" in d:
            fl = d["flags"]
            self.check_field(fl["field"], ["flags", "field"])
            self.check_field(fl["into"], ["flags", "into"])
            compiled = tuple((name, rx) for name, rx in
                             ((n, self.regex(p, ["flags", "flags", n], named=False)) for n, p in fl["flags"].items()) if rx)
            definition.flags = (fl["field"], fl["into"], compiled)
        produced += [(action, ["detect", "unspecific_actions", i]) for i, action in enumerate(detect.get("unspecific_actions", []))]
        if definition.actions:
            for action, where in produced:
                if action not in definition.actions:
                    self.error(where, f"action {action!r} is not in this definition's `actions` vocabulary")
        definition.regexes = self.regexes
        return definition


def load_definition(path: Path, dictionary: FieldDictionary | None = None) -> ParserDefinition:
    dictionary = dictionary or default_dictionary()
    data, lines = load_yaml(path)
    errors = schema_errors(data, lines, path, "parser.schema.json")
    if errors:
        raise ContentErrors(errors)
    if data["log_type"] not in dictionary.log_types:
        raise ContentErrors([ContentError(path, lines.line_of(["log_type"]),
                                          f"log type {data['log_type']!r} is not in the field dictionary's log_types")])
    if path.stem != data["log_type"]:
        raise ContentErrors([ContentError(path, lines.line_of(["log_type"]),
                                          f"the file of log type {data['log_type']!r} must be named {data['log_type']}.yml")])
    loader = _Loader(data, lines, path, dictionary)
    definition = loader.build()
    if loader.errors:
        raise ContentErrors(loader.errors)
    return definition


def load_definitions(directory: Path | None = None, dictionary: FieldDictionary | None = None) -> dict[str, ParserDefinition]:
    """Every parser definition in `directory`, by log type. All problems are reported together."""
    directory = directory or parsers_dir()
    dictionary = dictionary or default_dictionary()
    definitions: dict[str, ParserDefinition] = {}
    errors: list[ContentError] = []
    for path in sorted(directory.glob("*.yml")):
        if path.name in NOT_DEFINITIONS:
            continue
        if path.stem not in dictionary.log_types:
            errors.append(ContentError(path, None, f"{path.name} is not a parser definition: {path.stem!r} is not a log type "
                                                   f"of {dictionary.path.name} ({', '.join(dictionary.log_types)})"))
            continue
        try:
            definition = load_definition(path, dictionary)
        except ContentErrors as exc:
            errors.extend(exc.errors)
            continue
        except ContentError as exc:
            errors.append(exc)
            continue
        definitions[definition.log_type] = definition
    for log_type in dictionary.log_types:
        if not (directory / f"{log_type}.yml").exists():
            errors.append(ContentError(directory, None, f"no parser definition for log type {log_type!r}"))
    if errors:
        raise ContentErrors(errors)
    return definitions


@cache
def default_definitions() -> dict[str, ParserDefinition]:
    return load_definitions()
