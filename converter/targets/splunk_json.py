"""Search-time fields of a JSON log source, from its parser definition.

Splunk reads the JSON itself (`KV_MODE = json`: `Actor.Attributes.name`, `targets{}`); the
definition's JSON Pointers become those names, its `fields`, `cases` and `derive` steps become eval
expressions (splunk_steps.py). Where the flattened name is also the name of a field the TA
computes, or one of Splunk's own (`host`, `source`, ...), the value is read with `spath(_raw, ...)`
instead, so that no calculated field depends on another. A Docker json-file envelope (`{"log":
"<line>", "stream": ...}`) is read with `spath(log, ...)`.

An OTLP logs export request (`expand: otlp_logs`) holds many log records in one line, and Splunk
keeps a line as one event: its attributes (`{"key": ..., "value": {"stringValue": ...}}`) become
fields named by their keys through transforms, and a record-level field is multivalue, one
value per record that has it. An array of strings (`{"arrayValue": {"values": [{"stringValue":
...}, ...]}}`, the hook emitter's `kamal.hosts`) is taken as its JSON text, one value per record,
and a `keyword_list` field reads its strings back with `spath`: multivalue, every string of every
record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..fields import FieldDictionary
from ..parsing.definitions import ParserDefinition
from ..parsing.rules import Condition
from .splunk_eval import (
    NULL,
    Call,
    Expr,
    Fld,
    Num,
    Str,
    and_,
    call,
    case,
    coalesce,
    concat,
    group,
    gt,
    if_,
    isnotnull,
    nonempty,
    not_,
)
from .splunk_steps import Env, literal, regex_groups, run_steps, when

# Splunk's own fields: a JSON key of that name is not read through automatic extraction
SPLUNK_FIELDS = frozenset({"host", "source", "sourcetype", "index", "splunk_server", "linecount", "punct", "eventtype",
                           "tag", "timestartpos", "timeendpos", "_raw", "_time"})
RECORDS = "resourceLogs{}.scopeLogs{}.logRecords{}"  # the log records of an OTLP request, as Splunk flattens them

Pointer = tuple[str, ...]


@dataclass(frozen=True)
class Transform:
    """A transforms.conf stanza for a REPORT- extraction."""

    name: str
    regex: str
    format: str
    mv_add: bool = False
    clean_keys: bool = True


@dataclass(frozen=True)
class Access:
    """How a JSON value is reached at search time."""

    taken: frozenset[str]  # names the TA computes or Splunk owns: read with spath, not by their flattened name
    envelope: str | None = None  # the field holding the inner JSON text of an envelope (`log`)

    def _kv(self, name: str) -> Expr:
        if name in self.taken or name.removesuffix("{}") in self.taken:
            if "." in name.removesuffix("{}"):
                raise NotImplementedError(f"JSON key {name!r} collides with a field name and has a dot")
            return Call("spath", (Fld("_raw"), Str(name)))
        return Fld(name)

    def pointer(self, parts: Pointer, listy: bool | None) -> Expr:
        """The value at `parts`; `listy`: an array (True), a scalar (False), either (None)."""
        name = ".".join(parts)
        names = [name + "{}", name] if listy else [name] if listy is False else [name, name + "{}"]
        options = [self._kv(n) for n in names]
        if self.envelope is not None:
            if any("." in p for p in parts):
                raise NotImplementedError(f"JSON key with a dot inside an envelope: {name!r}")
            options += [Call("spath", (Fld(self.envelope), Str(n))) for n in names]
        return coalesce(*options)


def _listy(name: str, dictionary: FieldDictionary) -> bool | None:
    if name.startswith("_"):
        return None
    return dictionary[name].type == "keyword_list"


def _chain(name: str, pointers: tuple[Pointer, ...], read: Callable[[Pointer], Expr], drop_empty: bool,
           claimed: frozenset[Pointer] = frozenset()) -> Expr:
    """The parser's `_map` of one field: the first pointer present wins; an empty string of a
    `drop_empty` field, or a pointer another case claims, leaves the field absent."""
    if not claimed and not drop_empty:
        return coalesce(*(read(p) for p in pointers))
    pairs = []
    for p in pointers:
        value = read(p)
        pairs.append((isnotnull(value), NULL if p in claimed else nonempty(value) if drop_empty else value))
    return case(pairs)


def json_env(definition: ParserDefinition, dictionary: FieldDictionary, taken: frozenset[str]) -> Env:
    """Every field of `definition` as an expression over what Splunk extracts from the raw JSON."""
    if definition.expand == "otlp_logs":
        return _otlp_env(definition, dictionary)
    envelope = next((e for e in definition.envelopes if e.keys and e.inner), None)
    if envelope is not None and len(envelope.inner) != 1:
        raise NotImplementedError("an envelope whose inner text is not a top-level key")
    access = Access(taken, envelope.inner[0] if envelope else None)
    env = Env()

    def read_for(name: str) -> Callable[[Pointer], Expr]:
        return lambda p: access.pointer(p, _listy(name, dictionary))

    if envelope is not None:  # the envelope's own fields, from the outer object
        outer = Access(taken)
        for name, pointers in envelope.fields.items():
            env.set(name, coalesce(*(outer.pointer(p, _listy(name, dictionary)) for p in pointers)))
    for name, pointers in definition.fields.items():
        env.set(name, _chain(name, pointers, read_for(name), name in definition.drop_empty))
    _cases(definition, env, read_for)
    run_steps(definition.derive, env)
    if envelope is not None and envelope.text_action is not None:
        # what the container wrote that is not JSON (a Go panic on stderr) is kept with its text
        assert access.envelope is not None
        text = Fld(access.envelope)
        unstructured = and_(isnotnull(text), not_(call("json_valid", text)))
        env.set("action", if_(unstructured, Str(envelope.text_action), env.get("action")))
        env.set("message", coalesce(env.get("message"), if_(unstructured, Call("replace", (text, Str("[\\r\\n]+$"), Str(""))), NULL)))
    return env


def _cases(definition: ParserDefinition, env: Env, read_for: Callable[[str], Callable[[Pointer], Expr]]) -> None:
    """The first case whose `when` holds sets its values and may map keys to other fields."""
    if not definition.cases:
        return
    branches: list[tuple[Expr, dict[str, Expr]]] = []
    for c in definition.cases:
        changes: dict[str, Expr] = {}
        claimed = frozenset(p for pointers in c.fields.values() for p in pointers)
        for name, pointers in definition.fields.items():
            if name not in c.fields and claimed & set(pointers):
                changes[name] = _chain(name, pointers, read_for(name), name in definition.drop_empty, claimed)
        for name, pointers in c.fields.items():
            changes[name] = _chain(name, pointers, read_for(name), name in definition.drop_empty)
        for name, value in c.set.items():
            changes[name] = literal(value)
        branches.append((when(c.when, env), changes))
    touched = sorted({name for _cond, changes in branches for name in changes})
    new = {name: case([(cond, changes.get(name, env.get(name))) for cond, changes in branches], env.get(name))
           for name in touched}
    for name, expr in new.items():
        env.set(name, expr)


# -- OTLP logs export requests -------------------------------------------------------------------------

OTLP_STRING_ATTRIBUTES = Transform(
    "kamal_otlp_string_attributes",
    r'"key"\s*:\s*"([^"\\]+)"\s*,\s*"value"\s*:\s*\{\s*"stringValue"\s*:\s*"((?:[^"\\]|\\.)*)"',
    "$1::$2", mv_add=True, clean_keys=False)
OTLP_SCALAR_ATTRIBUTES = Transform(
    "kamal_otlp_scalar_attributes",
    r'"key"\s*:\s*"([^"\\]+)"\s*,\s*"value"\s*:\s*\{\s*"(?:intValue|doubleValue|boolValue)"\s*:\s*"?([^",}\s]+)',
    "$1::$2", mv_add=True, clean_keys=False)
_OTLP_STRING_ELEMENT = r'\{\s*"stringValue"\s*:\s*"(?:[^"\\]|\\.)*"\s*\}'
# only arrays of strings, so that the elements of every record joined with `,` are a JSON array's
OTLP_ARRAY_ATTRIBUTES = Transform(
    "kamal_otlp_array_attributes",
    r'"key"\s*:\s*"([^"\\]+)"\s*,\s*"value"\s*:\s*\{\s*"arrayValue"\s*:\s*\{\s*"values"\s*:\s*\[\s*('
    + _OTLP_STRING_ELEMENT + r'(?:\s*,\s*' + _OTLP_STRING_ELEMENT + r')*)\s*\]',
    "$1::$2", mv_add=True, clean_keys=False)
OTLP_TRANSFORMS = (OTLP_STRING_ATTRIBUTES, OTLP_SCALAR_ATTRIBUTES, OTLP_ARRAY_ATTRIBUTES)


def _otlp_strings(elements: Fld) -> Expr:
    """The strings of the arrays `kamal_otlp_array_attributes` took (`{"stringValue": "a"}, ...`,
    one value per record): multivalue, null where no record has the attribute."""
    document = concat(concat(Str('{"values":['), call("mvjoin", elements, Str(","))), Str("]}"))
    return call("spath", document, Str("values{}.stringValue"))


def _otlp_read(parts: Pointer, listy: bool | None = False) -> Expr:
    attribute = None
    if len(parts) >= 3 and parts[0] == "record" and parts[1] == "attributes":
        attribute = Fld(".".join(parts[2:]))
    elif len(parts) >= 2 and parts[0] == "resource":
        attribute = Fld(".".join(parts[1:]))
    if attribute is not None:
        return _otlp_strings(attribute) if listy else attribute
    if listy:
        raise NotImplementedError(f"OTLP list field at /{'/'.join(parts)}: only attributes are read as arrays")
    if parts == ("record", "body"):
        return Fld(f"{RECORDS}.body.stringValue")
    if parts[0] == "record":
        return Fld(f"{RECORDS}.{'.'.join(parts[1:])}")
    if parts[0] == "scope":
        return Fld(f"resourceLogs{{}}.scopeLogs{{}}.scope.{'.'.join(parts[1:])}")
    raise NotImplementedError(f"OTLP pointer /{'/'.join(parts)}")


def _otlp_env(definition: ParserDefinition, dictionary: FieldDictionary) -> Env:
    """Multivalue fields, one value per record that has one. The `cases` may test one field only
    (they become a per-value mapping with `mvmap`, plus the value of the records without it), and
    `derive` steps may only be unconditional regexes (applied to each value). A `keyword_list` field
    holds the strings of its array attributes."""
    env = Env()
    for name, pointers in definition.fields.items():
        env.set(name, coalesce(*(_otlp_read(p, _listy(name, dictionary)) for p in pointers)))
    tested = sorted({c.field for case_ in definition.cases for c in case_.when.conditions})
    if len(tested) > 1:
        raise NotImplementedError(f"{definition.file.name}: OTLP cases may test one field, not {tested}")
    if tested:
        key = tested[0]
        subject = env.get(key)
        if not isinstance(subject, Fld):
            raise NotImplementedError(f"{definition.file.name}: the field the cases test must come from one key")
        one = Env()
        one.set(key, subject)
        without = gt(coalesce(call("mvcount", Fld(f"{RECORDS}.timeUnixNano")), Num(0)),
                     coalesce(call("mvcount", subject), Num(0)))
        for name in sorted({name for c in definition.cases for name in c.set}):
            on_value = case([(when(c.when, one), literal(c.set[name]) if name in c.set else NULL)
                             for c in definition.cases if not any(_absent(x) for x in c.when.conditions)])
            on_absent = next((literal(c.set[name]) if name in c.set else NULL for c in definition.cases
                              if all(_absent(x) for x in c.when.conditions)), NULL)
            mapped = call("mvmap", subject, on_value) if on_value != NULL else NULL
            env.set(name, mvappend(mapped, if_(without, on_absent, NULL)))
    for step in definition.derive:
        if step.when.conditions or step.regex is None or step.regex_field is None:
            raise NotImplementedError(f"{definition.file.name}: OTLP derive steps may only be unconditional regexes")
        subject = env.get(step.regex_field)
        if subject == NULL:
            continue
        if not isinstance(subject, Fld):
            raise NotImplementedError(f"{definition.file.name}: an OTLP regex step must read one key")
        for name, number in regex_groups(step.regex):
            env.set(name, coalesce(call("mvmap", subject, group(subject, step.regex.pattern, number)), env.get(name)))
    return env


def _absent(c: Condition) -> bool:
    return c.kind == "present" and not c.value


def mvappend(*parts: Expr) -> Expr:
    items = [p for p in parts if p != NULL]
    if not items:
        return NULL
    return items[0] if len(items) == 1 else Call("mvappend", tuple(items))
