"""Processors that do what converter/parsing/engine.py does with a parser definition: `when`
conditions, `derive` steps, `cases`, putting a value with its dictionary type, timestamps.

The pipeline's working copy of an event is `_tmp.f.<name>` (dictionary names). A value that does
not fit its field's type is left out with a warning, as the parser does (the parser also keeps the
value in `extra`; the pipeline keeps the whole line in `event.original` instead)."""

from __future__ import annotations

from typing import Any

from ...fields import FieldDictionary
from ...parsing.definitions import ParserDefinition
from ...parsing.engine import coerce
from ...parsing.rules import Step, When
from ...regex_dialect import expand, group_names
from .painless import absent, all_of, any_of, lit, not_, present, ref
from .processors import Processor, append, copy, grok, proc, remove, set_value, stage, warning
from .regex import grok_regex

SCRATCH = "_tmp.g"  # captures of one regex step before they are put
# The parser's ISO 8601 reading (converter/parsing/timestamps.py), with at most 9 fraction digits kept
# (Elasticsearch's date_nanos precision)
ISO8601 = (r"\A(?<_tmp.ts.d>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?<_tmp.ts.t>[0-9]{2}:[0-9]{2}:[0-9]{2})"
           r"(?:\.(?<_tmp.ts.frac>[0-9]{1,9})[0-9]*)?(?<_tmp.ts.zone>Z|z|[+-][0-9]{2}:?[0-9]{2})?\Z")
DATE_FORMATS = ["yyyy-MM-dd'T'HH:mm:ssXXX", "yyyy-MM-dd'T'HH:mm:ssXX", "yyyy-MM-dd'T'HH:mm:ss"]
UTC_SECONDS = "yyyy-MM-dd'T'HH:mm:ss"


class Builder:
    """Collects the processors of one pipeline; hands out unique scratch names."""

    def __init__(self, definition: ParserDefinition, dictionary: FieldDictionary, patterns: dict[str, str] | None = None) -> None:
        self.definition = definition
        self.dictionary = dictionary
        self.patterns = patterns or {}
        self.out: list[Processor] = []
        self._count = 0

    def emit(self, *processors: Processor) -> None:
        self.out.extend(processors)

    def scratch(self, kind: str) -> str:
        self._count += 1
        return f"_tmp.m.{kind}{self._count}"

    # -- conditions ---------------------------------------------------------------------------------
    def condition(self, when: When) -> str:
        """`when` as a Painless condition on the working copy (regex tests run first, as grok)."""
        parts = []
        for c in when.conditions:
            path = stage(c.field)
            if c.kind == "present":
                parts.append(present(path) if c.value else absent(path))
            elif c.kind == "equals":
                parts.append(f"{ref(path)} == {lit(c.value)}")
            elif c.kind == "in":
                parts.append(any_of(*(f"{ref(path)} == {lit(v)}" for v in c.value)))
            elif c.kind == "contains":
                parts.append(any_of(f"({ref(path)} instanceof List && {ref(path)}.contains({lit(c.value)}))",
                                    f"{ref(path)} == {lit(c.value)}"))
            elif c.kind == "equals_field":
                parts.append(all_of(present(path), f"{ref(path)} == {ref(stage(c.value))}"))
            elif c.kind == "matches":
                marker = self.scratch("matches")
                regex = grok_regex(expand(c.value, self.patterns))
                self.emit(grok(path, [f"(?<{marker}>{regex})"], when=f"{ref(path)} instanceof String",
                               ignore_missing=True, ignore_failure=True, tag=f"{self.definition.log_type}_{marker}"))
                parts.append(present(marker))
            else:
                raise ValueError(f"unknown condition kind {c.kind!r}")
        return all_of(*parts)

    def guard(self, condition: str) -> str:
        """Evaluate `condition` once, now: the processors that follow may change what it reads."""
        if not condition:
            return ""
        marker = self.scratch("when")
        self.emit(set_value(marker, True, when=condition))
        return present(marker)

    # -- putting values -----------------------------------------------------------------------------
    def coerce(self, name: str) -> None:
        """Give `_tmp.f.<name>` its dictionary type, or leave it out with a warning."""
        if name.startswith("_"):
            return
        kind = self.dictionary[name].type
        path = stage(name)
        r = ref(path)
        expected = kind.replace("_", " ")
        failed = [warning(f"{name}: expected a {expected}"), remove(path)]

        def reject(condition: str) -> None:
            self.emit(warning(f"{name}: expected a {expected}", when=condition), remove(path, when=condition))

        if kind in ("keyword", "text"):
            reject(f"{r} instanceof Map || {r} instanceof List")
            self.emit(proc("convert", field=path, type="string", when=f"{r} != null && !({r} instanceof String)"))
        elif kind in ("long", "double", "boolean", "ip"):
            reject(f"{r} instanceof Map || {r} instanceof List")
            if kind == "ip":
                reject(f"{r} != null && !({r} instanceof String)")
            self.emit(proc("convert", field=path, type=kind, when=present(path), tag=f"type_{name}", on_failure=failed))
        elif kind == "keyword_list":
            reject(f"{r} != null && !({r} instanceof String) && !({r} instanceof List)")

    def put(self, name: str, value: Any, when: str = "") -> None:
        """Set a value the definition gives (checked against the field's type here, once)."""
        if not name.startswith("_"):
            fits, value = coerce(self.dictionary[name].type, value)
            if not fits:
                raise ValueError(f"{self.definition.file.name}: {value!r} is not a {self.dictionary[name].type} ({name})")
        self.emit(set_value(stage(name), value, when=when))

    def put_captures(self, names: list[str], when: str = "") -> None:
        """Move regex captures from the scratch object: empty captures are absent, as in the parser."""
        for name in names:
            source = f"{SCRATCH}.{name}"
            self.emit(copy(stage(name), source, when=all_of(when, present(source), f"{ref(source)} != ''")))
            self.coerce(name)
        self.emit(remove(SCRATCH))

    # -- derive steps -------------------------------------------------------------------------------
    def regex_step(self, field: str, pattern: str, when: str) -> None:
        subject = stage(field)
        names = group_names(pattern)
        self.emit(remove(SCRATCH),
                  warning(f"{field.lstrip('_')}: expected a string",
                          when=all_of(when, present(subject), not_(f"{ref(subject)} instanceof String"))),
                  grok(subject, [grok_regex(pattern, lambda n: f"{SCRATCH}.{n}")], ignore_failure=True,
                       when=all_of(when, f"{ref(subject)} instanceof String"), tag=f"derive_{field.lstrip('_')}"))
        self.put_captures(names)

    def steps(self, steps: tuple[Step, ...], pointers: dict[str, tuple[tuple[str, ...], ...]], base: str = "") -> None:
        for step in steps:
            when = self.guard(all_of(base, self.condition(step.when)))
            if step.set:
                for name, value in step.set.items():
                    self.put(name, value, when)
            elif step.regex is not None and step.regex_field is not None:
                self.regex_step(step.regex_field, step.regex.pattern, when)
            elif step.join is not None:
                name, separator, into = step.join
                src, dst = stage(name), stage(into)
                origin = "/".join(pointers[name][0]) if pointers.get(name) else name.lstrip("_")
                self.emit(proc("join", field=src, separator=separator, target_field=dst,
                               when=all_of(when, f"{ref(src)} instanceof List", f"{ref(src)}.size() > 0"), tag=f"join_{into}"),
                          copy(dst, src, when=all_of(when, f"{ref(src)} instanceof String", f"{ref(src)} != ''")),
                          warning(f"{origin}: expected a list of strings",
                                  when=all_of(when, present(src), not_(f"{ref(src)} instanceof List"),
                                              not_(f"{ref(src)} instanceof String"))))
                self.coerce(into)
            elif step.strip is not None:
                name, prefix_field, separator, into = step.strip
                s, p = ref(stage(name)), ref(stage(prefix_field))
                self.emit(proc("script", lang="painless", tag=f"strip_{into.lstrip('_')}",
                               source=f"ctx.{stage(into)} = {s}.substring({p}.length() + {len(separator)})",
                               when=all_of(when, f"{s} instanceof String", f"{p} instanceof String",
                                           f"{s}.startsWith({p} + {lit(separator)})",
                                           f"{s}.length() > {p}.length() + {len(separator)}")))
                self.coerce(into)
            else:
                self.first(step.first, when)

    def first(self, rules: tuple[tuple[When, dict[str, Any]], ...], when: str) -> None:
        """The first rule whose `when` holds sets its values (all conditions read before any is set)."""
        chosen = self.scratch("first")
        for i, (rule_when, _values) in enumerate(rules):
            self.emit(set_value(chosen, str(i), when=all_of(when, absent(chosen), self.condition(rule_when))))
        for i, (_when, values) in enumerate(rules):
            for name, value in values.items():
                self.put(name, value, f"{ref(chosen)} == {lit(str(i))}")

    # -- timestamps ---------------------------------------------------------------------------------
    def timestamp(self, value: str, fmt: str, problem_prefix: str, assumed_tz: bool) -> None:
        """Set `_tmp.f.timestamp` from the value at `value` unless an earlier source did; a failure is
        recorded in `_tmp.ts.problems` (turned into a warning when no source gives a time)."""
        pending = all_of(absent("_tmp.ts.utc"), present(value))
        self.emit(remove("_tmp.ts.d", "_tmp.ts.t", "_tmp.ts.frac", "_tmp.ts.zone", "_tmp.ts.s", "_tmp.ts.text"))
        if fmt == "iso8601":
            self.emit(append("_tmp.ts.problems", f"{problem_prefix}not an ISO 8601 timestamp",
                             when=all_of(pending, not_(f"{ref(value)} instanceof String"))),
                      grok(value, [ISO8601], when=all_of(pending, f"{ref(value)} instanceof String"), tag="timestamp_iso8601",
                           on_failure=[append("_tmp.ts.problems", f"{problem_prefix}not an ISO 8601 timestamp")]),
                      set_value("_tmp.ts.zone", "Z", when=equals_z()),
                      set_value("_tmp.ts.text", "{{{_tmp.ts.d}}}T{{{_tmp.ts.t}}}{{{_tmp.ts.zone}}}", when=present("_tmp.ts.d")),
                      proc("date", field="_tmp.ts.text", target_field="_tmp.ts.utc", formats=DATE_FORMATS, timezone="UTC",
                           output_format=UTC_SECONDS, when=present("_tmp.ts.text"), tag="timestamp_date",
                           on_failure=[append("_tmp.ts.problems", f"{problem_prefix}invalid timestamp")]))
            if assumed_tz:
                self.emit(set_value(stage("timestamp_assumed_tz"), "UTC",
                                    when=all_of(present("_tmp.ts.text"), present("_tmp.ts.utc"), absent("_tmp.ts.zone"))))
        else:
            digits = r"\A(?<_tmp.ts.s>[0-9]+)(?<_tmp.ts.frac>[0-9]{9})\Z" if fmt == "epoch_ns" else r"\A(?<_tmp.ts.s>[0-9]+)\Z"
            self.emit(proc("convert", field=value, target_field="_tmp.ts.text", type="string",
                           when=all_of(pending, not_(f"{ref(value)} instanceof Map"), not_(f"{ref(value)} instanceof List"))),
                      grok("_tmp.ts.text", [digits], when=present("_tmp.ts.text"), tag=f"timestamp_{fmt}",
                           on_failure=[append("_tmp.ts.problems", f"{problem_prefix}not an epoch time")]),
                      proc("date", field="_tmp.ts.s", target_field="_tmp.ts.utc", formats=["UNIX"], timezone="UTC",
                           output_format=UTC_SECONDS, when=present("_tmp.ts.s"), tag="timestamp_unix",
                           on_failure=[append("_tmp.ts.problems", f"{problem_prefix}epoch time out of range")]))
        self.emit(set_value(stage("timestamp"), "{{{_tmp.ts.utc}}}.{{{_tmp.ts.frac}}}Z",
                            when=all_of(present("_tmp.ts.utc"), absent(stage("timestamp")), present("_tmp.ts.frac"))),
                  set_value(stage("timestamp"), "{{{_tmp.ts.utc}}}Z",
                            when=all_of(present("_tmp.ts.utc"), absent(stage("timestamp")))))

    def timestamp_missing(self, prefix: str = "timestamp: ") -> None:
        self.emit(proc("foreach", field="_tmp.ts.problems", ignore_missing=True, when=absent("_tmp.ts.utc"),
                       processor=append(stage("warnings"), "{{{_ingest._value}}}")),
                  append(stage("warnings"), f"{prefix}missing", when=all_of(absent("_tmp.ts.utc"), absent("_tmp.ts.problems"))))


def equals_z() -> str:
    return f"{ref('_tmp.ts.zone')} == 'z'"


def copy_if_present(target: str, source: str) -> Processor:
    return copy(target, source, when=present(source))
