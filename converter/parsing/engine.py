"""Run a parser definition over one line (or one JSON document) and build normalized events."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..fields import FieldDictionary, default_dictionary, value_fits
from . import audit_tags, otlp, pointer
from .definitions import Envelope, MessageRule, ParserDefinition
from .redaction import Redactor, default_redactor
from .rules import Step, When
from .timestamps import TimestampError, from_epoch, from_iso8601

Event = dict[str, Any]
_INT = re.compile(r"^-?[0-9]+$")
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
_FLOAT = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$")


@dataclass(frozen=True)
class TextPayload:
    text: str
    envelope: Envelope
    timestamp: Any


class LineError(ValueError):
    """The line cannot be parsed; the message says why (and never quotes the line)."""


@dataclass
class Context:
    source: str
    path_captures: dict[str, str] = field(default_factory=dict)
    assumed_tz: dt.tzinfo = dt.UTC
    assumed_tz_name: str = "UTC"


def coerce(field_type: str, value: Any) -> tuple[bool, Any]:
    """`value` as a value of `field_type`, or (False, None) when it is not one."""
    if field_type in ("keyword", "text"):
        if isinstance(value, str):
            return True, value
        if isinstance(value, bool):
            return True, "true" if value else "false"
        if isinstance(value, (int, float)):
            return True, json.dumps(value)
        return False, None
    if field_type == "long":
        if isinstance(value, bool):
            return False, None
        number: Any = None
        if isinstance(value, int):
            number = value
        elif (isinstance(value, float) and value.is_integer()) or (isinstance(value, str) and _INT.match(value) and len(value) < 21):
            number = int(value)
        return (True, number) if number is not None and LONG_MIN <= number <= LONG_MAX else (False, None)
    if field_type == "double":
        if isinstance(value, bool):
            return False, None
        if isinstance(value, (int, float)):
            return (True, float(value)) if math.isfinite(value) else (False, None)
        if isinstance(value, str) and _FLOAT.match(value):
            return (True, float(value)) if math.isfinite(float(value)) else (False, None)
        return False, None
    if field_type == "boolean":
        if isinstance(value, bool):
            return True, value
        if value in ("true", "false"):
            return True, value == "true"
        return False, None
    if field_type == "keyword_list":
        if isinstance(value, str):
            return True, [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return True, list(value)
        return False, None
    if field_type in ("ip", "object"):
        ok = value_fits(field_type, value)
        return ok, value if ok else None
    return False, None


def _describe(value: Any) -> str:
    """What kind of value it was, never the value (it may be a secret; it is kept in `extra`)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class EventBuilder:
    def __init__(self, definition: ParserDefinition, dictionary: FieldDictionary, redactor: Redactor) -> None:
        self.definition = definition
        self.dictionary = dictionary
        self.redactor = redactor
        self.order = dictionary.order()

    def put(self, event: Event, name: str, value: Any, origin: str | None = None) -> None:
        """Set `name`, converting to its dictionary type; a value that does not fit becomes a warning."""
        if value is None:
            event.pop(name, None)
            return
        if name.startswith("_"):
            event[name] = value
            if origin is not None:
                event.setdefault("_origins", {})[name] = origin  # where it was read, for a later warning
            return
        ok, converted = coerce(self.dictionary[name].type, value)
        if ok:
            event[name] = converted
            return
        event.pop(name, None)
        expected = self.dictionary[name].type.replace("_", " ")
        event.setdefault("warnings", []).append(f"{name}: expected a {expected}, got {_describe(value)}")
        event.setdefault("extra", {})[origin or name] = value

    def run_steps(self, event: Event, steps: tuple[Step, ...]) -> None:
        for step in steps:
            if not step.when.holds(event):
                continue
            if step.set:
                for name, value in step.set.items():
                    self.put(event, name, value)
            elif step.regex is not None and step.regex_field is not None:
                subject = event.get(step.regex_field)
                if subject is not None and not isinstance(subject, str):
                    event.setdefault("warnings", []).append(f"{step.regex_field.lstrip('_')}: expected a string, got {_describe(subject)}")
                if isinstance(subject, str):
                    m = step.regex.search(subject)
                    if m:
                        for name, value in m.groupdict().items():
                            if value:
                                self.put(event, name, value)
            elif step.join is not None:
                name, separator, into = step.join
                subject = event.get(name)
                if isinstance(subject, list) and all(isinstance(v, str) for v in subject):
                    if subject:
                        self.put(event, into, separator.join(subject))
                elif isinstance(subject, str):
                    if subject:
                        self.put(event, into, subject)  # a source that wrote the list as one string
                elif subject is not None:
                    origin = event.get("_origins", {}).get(name, name.lstrip("_"))
                    event.setdefault("warnings", []).append(f"{origin}: expected a list of strings, got {_describe(subject)}")
                    event.setdefault("extra", {})[origin] = subject  # kept, as a value of the wrong type is
            elif step.strip is not None:
                name, prefix_field, separator, into = step.strip
                subject, prefix = event.get(name), event.get(prefix_field)
                if isinstance(subject, str) and isinstance(prefix, str) and subject.startswith(prefix + separator):
                    rest = subject[len(prefix) + len(separator):]
                    if rest:
                        self.put(event, into, rest)
            else:
                for when, values in step.first:
                    if when.holds(event):
                        for name, value in values.items():
                            self.put(event, name, value)
                        break

    def timestamp(self, event: Event, raw: Any, fmt: str, zone: str | None, ctx: Context) -> str | None:
        """Set `timestamp` from `raw`; returns why not when it cannot be read (and sets nothing)."""
        try:
            if fmt == "iso8601":
                if not isinstance(raw, str):
                    raise TimestampError("not an ISO 8601 timestamp")
                value, assumed, note = from_iso8601(raw, zone, ctx.assumed_tz)
                if assumed:
                    event["timestamp_assumed_tz"] = ctx.assumed_tz_name
                if note:
                    event.setdefault("warnings", []).append(f"timestamp: the local time {note} in {ctx.assumed_tz_name}")
            else:
                if raw in (0, "0"):
                    raise TimestampError("zero means unknown")  # OTLP: 0 is "not set"
                value = from_epoch(raw, "ns" if fmt == "epoch_ns" else "s")
        except TimestampError as exc:
            return str(exc)
        event["timestamp"] = value
        return None

    def finish(self, event: Event, extra_flags: list[str] | None = None) -> Event:
        definition = self.definition
        if definition.flags is not None:
            name, into, flags = definition.flags
            subject = event.get(name)
            if isinstance(subject, str):
                raised = [flag for flag, rx in flags if rx.search(subject)] + (extra_flags or [])
                if raised:
                    event[into] = raised
        event["log_type"] = definition.log_type
        if "extra" in event and not event["extra"]:
            del event["extra"]
        public = self.redactor.event({k: v for k, v in event.items() if not k.startswith("_")})
        return dict(sorted(public.items(), key=lambda kv: self.order.get(kv[0], len(self.order))))


class TextParser:
    def __init__(self, definition: ParserDefinition, dictionary: FieldDictionary, redactor: Redactor) -> None:
        self.definition = definition
        self.builder = EventBuilder(definition, dictionary, redactor)

    def classify(self, message: str) -> MessageRule | None:
        for rule in self.definition.messages:
            if rule.literal in message and rule.regex is not None and rule.regex.match(message):
                return rule
        return None

    def parse(self, text: str, ctx: Context) -> list[Event]:
        """See the header of parsers/audit.yml: candidate ends of the performer, nearest first."""
        definition = self.definition
        frame, fallback = definition.frame, definition.fallback
        assert frame is not None and fallback is not None
        head = frame.head.match(text)
        if head is None:
            raise LineError(f"not a Kamal {definition.log_type} line")
        stem = ctx.path_captures.get("_file_stem")
        file_dest = audit_tags.file_destination(stem, definition.known_destinations)
        zone_less = definition.ts_zone is not None and not head.groupdict().get(definition.ts_zone)
        chosen: tuple[int, re.Match[str], MessageRule] | None = None
        mismatch: tuple[int, re.Match[str], MessageRule] | None = None
        nearest: tuple[int, re.Match[str]] | None = None
        splits = 0
        position = text.find("] ", head.end())
        while position != -1 and splits < frame.max_splits:
            splits += 1
            tags = frame.tags.match(text, position + 1)
            if tags is not None:
                nearest = nearest or (position, tags)
                rule = self.classify(text[tags.end():])
                if rule is not None:
                    found = tags.groupdict()
                    if audit_tags.consistent(found.get("_tag1"), found.get("_tag2"), rule.role_tag, stem, zone_less, file_dest):
                        chosen = (position, tags, rule)
                        break
                    mismatch = mismatch or (position, tags, rule)
            position = text.find("] ", position + 1)
        flags: list[str] = []
        if chosen is None and position != -1:
            flags.append("split_limit")  # more `] ` than max_splits: the rest were not tried
        if chosen is None and mismatch is not None:
            chosen = mismatch
            flags.append("tag_mismatch")
        if chosen is None:
            if nearest is None:
                raise LineError(f"not a Kamal {definition.log_type} line")
            chosen = (nearest[0], nearest[1], fallback)
        position, tags, rule = chosen
        message = text[tags.end():]
        captures: dict[str, str | None] = {**head.groupdict(), **tags.groupdict(), "message": message}
        captures[frame.performer] = text[head.end():position]
        if rule.regex is not None:
            alone = rule.regex.match(message)
            assert alone is not None
            captures.update(alone.groupdict())
        event: Event = dict(ctx.path_captures)
        for name, value in captures.items():
            if name in (frame.performer, "_tag1", "_tag2"):
                if value is not None:
                    event[name] = value  # kept even when empty: the flags and the tag rules need it
            elif value:
                self.builder.put(event, name, value)
        self.builder.put(event, "action", rule.action)
        for name, value in rule.set.items():
            self.builder.put(event, name, value)
        audit_tags.resolve(event, rule.role_tag, definition.known_destinations, zone_less)
        source = definition.ts_sources[0]
        if source in event:
            zone = event.get(definition.ts_zone) if definition.ts_zone else None
            problem = self.builder.timestamp(event, event[source], definition.ts_formats[0], zone, ctx)
            if problem:
                event.setdefault("warnings", []).append(f"timestamp: {problem}")
        else:
            event.setdefault("warnings", []).append("timestamp: missing")
        self.builder.run_steps(event, definition.derive)
        result = self.builder.finish(event, extra_flags=flags)
        if result.get("performer") == "":
            del result["performer"]  # an empty capture is absent, as in every engine; the flag says it was empty
        return [result]


class JsonParser:
    def __init__(self, definition: ParserDefinition, dictionary: FieldDictionary, redactor: Redactor) -> None:
        self.definition = definition
        self.builder = EventBuilder(definition, dictionary, redactor)

    # -- decoding a line --------------------------------------------------------------------------
    def decode(self, text: str) -> tuple[Any, Event]:  # the object, or a TextPayload
        """The JSON object of a line, with envelope fields, after unwrapping known envelopes."""
        envelope_fields: Event = {}
        stripped = text.strip()
        for envelope in self.definition.envelopes:
            if envelope.prefix is not None and not stripped.startswith("{"):
                m = envelope.prefix.match(stripped)
                if m:
                    for name, value in m.groupdict().items():
                        if value:
                            self.builder.put(envelope_fields, name, value)
                    stripped = stripped[m.end():]
        obj = _loads(stripped)
        for envelope in self.definition.envelopes:
            if envelope.keys and isinstance(obj, dict) and all(k in obj for k in envelope.keys):
                inner = pointer.resolve(obj, envelope.inner)
                if not isinstance(inner, str):
                    raise LineError(f"{envelope.name} line whose {pointer.join(envelope.inner)} is not a string")
                for name, pointers in envelope.fields.items():
                    for parts in pointers:
                        value = pointer.resolve(obj, parts)
                        if value is not pointer.MISSING:
                            self.builder.put(envelope_fields, name, value, pointer.join(parts)[1:])
                            break
                try:
                    obj = _loads(inner.strip())
                except LineError as exc:
                    if envelope.text_action is None or not inner.strip():
                        raise LineError(f"{envelope.name} line: the logged text is {exc}") from None
                    return TextPayload(inner.rstrip("\r\n"), envelope, pointer.resolve(obj, envelope.text_timestamp)), envelope_fields
                break
        if not isinstance(obj, dict):
            raise LineError(f"expected a JSON object, got {type(obj).__name__}")
        return obj, envelope_fields

    def matches_keys(self, obj: Any) -> bool:
        if not isinstance(obj, dict):
            return False
        if not self.definition.detect_keys:
            return True
        return any(all(k in obj for k in keys) for keys in self.definition.detect_keys)

    def parse(self, text: str, ctx: Context) -> list[tuple[int | None, Event]]:
        obj, envelope_fields = self.decode(text)
        if isinstance(obj, TextPayload):
            return [(None, self.text_event(obj, ctx, envelope_fields))]
        return [(index, event) for index, _path, event in self.parse_object(obj, ctx, envelope_fields)]

    def text_event(self, payload: TextPayload, ctx: Context, envelope_fields: Event) -> Event:
        """A line the container wrote that is not JSON (a panic on stderr): kept, with its text."""
        event: Event = {**ctx.path_captures, **envelope_fields, "message": payload.text}
        self.builder.put(event, "action", payload.envelope.text_action)
        problem = self.builder.timestamp(event, payload.timestamp, "iso8601", None, ctx)
        if problem:
            event.setdefault("warnings", []).append(f"timestamp: {problem}")
        return self.builder.finish(event)

    def parse_object(self, obj: dict[str, Any], ctx: Context, envelope_fields: Event | None = None
                     ) -> Iterator[tuple[int | None, tuple[str | int, ...], Event]]:
        definition = self.definition
        if not self.matches_keys(obj):
            wanted = " or ".join("(" + ", ".join(keys) + ")" for keys in definition.detect_keys)
            raise LineError(f"JSON object without the keys of a {definition.log_type} record {wanted}")
        if definition.expand == "otlp_logs":
            try:
                records = list(otlp.expand(obj))
            except otlp.OtlpError as exc:
                raise LineError(f"invalid OTLP logs request: {exc}") from None
            if not records:
                raise LineError("OTLP logs request without log records")
            for index, (path, record) in enumerate(records, start=1):
                yield index, path, self.event(record, ctx, envelope_fields)
        else:
            yield None, (), self.event(obj, ctx, envelope_fields)

    # -- building the event -----------------------------------------------------------------------
    def _map(self, event: Event, obj: Any, mapping: dict[str, tuple[tuple[str, ...], ...]],
             chosen: dict[str, tuple[str, ...]]) -> None:
        """Set each field from the first of its pointers that is present; `chosen` records which."""
        for name, pointers in mapping.items():
            event.pop(name, None)
            chosen.pop(name, None)
            for parts in pointers:
                value = pointer.resolve(obj, parts)
                if value is pointer.MISSING:
                    continue
                chosen[name] = parts
                if name == "message" and isinstance(value, (dict, list)):
                    value = json.dumps(self.builder.redactor.value("message", value), sort_keys=True, ensure_ascii=False)
                if value == "" and name in self.definition.drop_empty:
                    break
                self.builder.put(event, name, value, pointer.join(parts)[1:])
                break

    def event(self, obj: Any, ctx: Context, envelope_fields: Event | None) -> Event:
        definition = self.definition
        event: Event = dict(ctx.path_captures)
        event.update(envelope_fields or {})
        chosen: dict[str, tuple[str, ...]] = {}
        self._map(event, obj, definition.fields, chosen)
        for case in definition.cases:
            if case.when.holds(event):
                if case.fields:
                    # a key the case maps to another field no longer feeds the field it fed by default
                    claimed = {parts for pointers in case.fields.values() for parts in pointers}
                    for name, parts in list(chosen.items()):
                        if parts in claimed and name not in case.fields:
                            event.pop(name, None)
                            del chosen[name]
                    self._map(event, obj, case.fields, chosen)
                for name, value in case.set.items():
                    self.builder.put(event, name, value)
                break
        consumed = set(definition.ignore) | set(chosen.values())
        problems = []
        for source, fmt in zip(definition.ts_sources, definition.ts_formats, strict=True):
            parts = pointer.split(source)
            value = pointer.resolve(obj, parts)
            if value is pointer.MISSING:
                continue
            problem = self.builder.timestamp(event, value, fmt, None, ctx)
            if problem is None:  # the other sources say the same thing less precisely
                consumed.update(pointer.split(other) for other in definition.ts_sources)
                break
            problems.append(f"timestamp: {source[1:]}: {problem}")  # the value stays in `extra`
        else:
            event.setdefault("warnings", []).extend(problems or ["timestamp: missing"])
        self.builder.run_steps(event, definition.derive)
        for where in duplicate_keys(obj):
            event.setdefault("warnings", []).append(f"duplicate key {where[1:]}: the last value was kept")
        extra = event.setdefault("extra", {})
        for parts, value in pointer.leaves(obj):
            if parts and parts not in consumed and value is not None and not any(
                    parts[: len(c)] == c for c in consumed if len(c) < len(parts)):
                extra.setdefault(pointer.join(parts)[1:], value)
        return self.builder.finish(event)


MAX_JSON_DEPTH = 64


class _Duplicates(dict[str, Any]):
    """A JSON object that remembers the keys it saw twice (json keeps the last value silently)."""

    duplicates: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = _Duplicates(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        result.duplicates = sorted({k for k, _ in pairs if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def duplicate_keys(value: Any) -> list[str]:
    """Keys that appeared twice in some object of `value` (JSON Pointer of the object, then the key)."""
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            found.extend(f"{where}/{key}" for key in getattr(node, "duplicates", []))
            stack.extend((child, f"{where}/{key}") for key, child in node.items())
        elif isinstance(node, list):
            stack.extend((child, f"{where}/{i}") for i, child in enumerate(node))
    return sorted(found)


def _loads(text: str) -> Any:
    if not text:
        raise LineError("blank line")
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        kind = "truncated JSON" if exc.pos >= len(text) - 1 else "invalid JSON"
        return _raise(f"{kind}: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return _raise(f"invalid JSON: nested more than {MAX_JSON_DEPTH} levels deep")
    except ValueError as exc:  # NaN/Infinity, integers with too many digits
        return _raise(f"invalid JSON: {exc}")
    if _depth(value) > MAX_JSON_DEPTH:
        return _raise(f"invalid JSON: nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def _raise(reason: str) -> Any:
    raise LineError(reason)


def parser_for(definition: ParserDefinition, dictionary: FieldDictionary | None = None,
               redactor: Redactor | None = None) -> TextParser | JsonParser:
    dictionary = dictionary or default_dictionary()
    redactor = redactor or default_redactor()
    if definition.format == "text":
        return TextParser(definition, dictionary, redactor)
    return JsonParser(definition, dictionary, redactor)


__all__ = ["Context", "Event", "JsonParser", "LineError", "TextParser", "When", "coerce", "parser_for"]
