"""JSON log types (run, proxy, docker, process): decode the line, unwrap envelopes and OTLP, then
map source keys to dictionary fields as parser definitions say (first pointer present wins, cases
may remap keys, derive steps), with the definition's timestamps."""

from __future__ import annotations

from ...parsing.definitions import Envelope, ParserDefinition
from .builder import Builder
from .painless import absent, all_of, any_of, lit, present, ref
from .processors import Processor, copy, grok, mustache, proc, remove, set_value, stage
from .regex import grok_regex

SOURCE = "_tmp.json"
Pointers = tuple[tuple[str, ...], ...]


def source(parts: tuple[str, ...]) -> str:
    return ".".join((SOURCE, *parts))


def reject(b: Builder, reason: str, when: str) -> None:
    """The line cannot be parsed: the pipeline's on_failure keeps it with `reason` (never a value)."""
    b.emit(set_value("_tmp.reject", reason, when=when), proc("fail", message=reason, when=when, tag="reject"))


def decode(b: Builder, field: str, target: str) -> None:
    b.emit(set_value("_tmp.reject", "invalid JSON"),
           proc("json", field=field, target_field=target, allow_duplicate_keys=True, tag="decode_json"),
           remove("_tmp.reject"))


def map_fields(b: Builder, mapping: dict[str, Pointers], when: str = "") -> None:
    """Each field from the first of its pointers that is present (the parser's `_map`)."""
    for name, pointers in mapping.items():
        if when:  # a case reads the field anew
            b.emit(remove(stage(name), when=when))
        for i, parts in enumerate(pointers):
            earlier = [absent(source(p)) for p in pointers[:i]]
            b.emit(copy(stage(name), source(parts), when=all_of(when, present(source(parts)), *earlier)))
            if name in b.definition.drop_empty:
                b.emit(remove(stage(name), when=f"{ref(stage(name))} == ''"))
        b.coerce(name)


def _chosen(pointers: Pointers, claimed: set[tuple[str, ...]]) -> str:
    """True when the pointer a field was read from is one of `claimed`."""
    return any_of(*(all_of(present(source(parts)), *(absent(source(p)) for p in pointers[:j]))
                    for j, parts in enumerate(pointers) if parts in claimed))


def cases(b: Builder, guard: str) -> None:
    """The first case whose `when` holds sets its values and may read keys into other fields."""
    definition = b.definition
    chosen = b.scratch("case")
    for i, case in enumerate(definition.cases):
        b.emit(set_value(chosen, str(i), when=all_of(guard, absent(chosen), b.condition(case.when))))
    for i, case in enumerate(definition.cases):
        this = f"{ref(chosen)} == {lit(str(i))}"
        if case.fields:
            claimed = {parts for pointers in case.fields.values() for parts in pointers}
            for name, pointers in definition.fields.items():
                if name not in case.fields and (taken := _chosen(pointers, claimed)):
                    b.emit(remove(stage(name), when=all_of(this, taken)))
            map_fields(b, case.fields, this)
        for name, value in case.set.items():
            b.put(name, value, this)


def dotted_parents(definition: ParserDefinition) -> list[str]:
    """Objects whose keys hold dots that pointers name (`org.opencontainers.image.title`): grok and
    set read `a.b` as a path, so such keys are expanded first."""
    parents = {source(parts[:i]) for pointers in definition.fields.values() for parts in pointers
               for i, part in enumerate(parts) if "." in part}
    return sorted(parents)


def require_object(b: Builder, guard: str = "") -> None:
    log_type = b.definition.log_type
    reject(b, "expected a JSON object", all_of(guard, f"!({ref(SOURCE)} instanceof Map)"))
    keys = b.definition.detect_keys
    if keys:
        wanted = " or ".join("(" + ", ".join(k) + ")" for k in keys)
        has = any_of(*(all_of(*(present(f"{SOURCE}.{key}") for key in group)) for group in keys))
        reject(b, f"JSON object without the keys of a {log_type} record {wanted}", all_of(guard, f"!({has})"))


# -- envelopes ------------------------------------------------------------------------------------------
TEXT = "_tmp.text"  # set when the envelope's logged text is not JSON


def prefix_envelope(b: Builder, envelope: Envelope) -> None:
    assert envelope.prefix is not None
    names = [n for n in envelope.prefix.groupindex]
    pattern = grok_regex(envelope.prefix.pattern, lambda n: f"_tmp.g.{n}") + r"(?<_tmp.body>(?:.|\n)*)\Z"
    b.emit(remove("_tmp.g"), grok("event.original", [pattern], ignore_failure=True, when=absent("_tmp.body"),
                                  tag=f"envelope_{envelope.name}"))
    b.put_captures(names)


def key_envelope(b: Builder, envelope: Envelope) -> None:
    """`{"log": "<line>\\n", "stream": ...}`: the logged line is the event (and its event.original)."""
    has = all_of(f"{ref(SOURCE)} instanceof Map", *(present(f"{SOURCE}.{k}") for k in envelope.keys))
    inner = source(envelope.inner)
    b.emit(set_value("_tmp.envelope", envelope.name, when=has))
    inside = present("_tmp.envelope")
    reject(b, f"{envelope.name} line whose /{'/'.join(envelope.inner)} is not a string",
           all_of(inside, f"!({ref(inner)} instanceof String)"))
    map_fields(b, envelope.fields, inside)
    b.emit(copy("_tmp.line", inner, when=inside),
           proc("gsub", field="_tmp.line", pattern="[\\r\\n]+\\z", replacement="", ignore_missing=True),
           copy("event.original", "_tmp.line", when=inside))
    if envelope.text_action is None:
        decode(b, inner, "_tmp.inner")
    else:
        b.emit(proc("json", field=inner, target_field="_tmp.inner", allow_duplicate_keys=True, when=inside, tag="decode_logged_json",
                    on_failure=[set_value(TEXT, True)]))
        reject(b, f"{envelope.name} line: the logged text is invalid JSON",
               all_of(present(TEXT), f"{ref(inner)}.trim() == ''"))
        b.emit(copy("_tmp.envelope_time", source(envelope.text_timestamp), when=all_of(present(TEXT), present(source(envelope.text_timestamp)))),
               set_value(SOURCE, {}, when=present(TEXT)))
    b.emit(copy(SOURCE, "_tmp.inner", when=all_of(inside, absent(TEXT))))


def text_event(b: Builder, envelope: Envelope) -> None:
    """What the container wrote that is not JSON: kept with its text, action and the envelope's time."""
    assert envelope.text_action is not None
    b.emit(copy(stage("message"), "_tmp.line", when=present(TEXT)))
    b.put("action", envelope.text_action, present(TEXT))
    b.timestamp("_tmp.envelope_time", "iso8601", "timestamp: ", False)


# -- OTLP -------------------------------------------------------------------------------------------------
RAW = "_tmp.raw"
SCALARS = ("stringValue", "intValue", "doubleValue", "boolValue")  # an OTLP AnyValue holds one of them (or a list, a map)
VALUE = "".join(mustache(f"_ingest._value.value.{kind}") for kind in SCALARS)
ARRAY_VALUE = "".join(mustache(f"_ingest._value.{kind}") for kind in SCALARS)  # an element of an arrayValue


def otlp_record(b: Builder) -> None:
    """An OTLP logs request holding exactly one log record, as the flat record the parser's
    converter/parsing/otlp.py makes ({resource, scope, record}). An ingest pipeline turns one
    document into one document: a request with several records is refused (see the README)."""
    resource_logs = f"ctx.{RAW}.resourceLogs"
    first_scope = f"{resource_logs}.get(0).scopeLogs"
    records = f"{first_scope}.get(0).logRecords"
    one = all_of(f"{resource_logs} instanceof List", f"{resource_logs}.size() == 1",
                 f"{first_scope} instanceof List", f"{first_scope}.size() == 1",
                 f"{records} instanceof List", f"{records}.size() == 1")
    reject(b, "expected a JSON object", f"!(ctx.{RAW} instanceof Map)")
    reject(b, "JSON object without the keys of a run record (resourceLogs)", absent(f"{RAW}.resourceLogs"))
    reject(b, "not exactly one log record in the OTLP logs request: an ingest pipeline makes one document of one line, "
              "so each log record must be a line of its own (see the bundle README)", f"!({one})")
    b.emit(copy("_tmp.rec", f"{RAW}.resourceLogs.0.scopeLogs.0.logRecords.0"),
           copy("_tmp.res", f"{RAW}.resourceLogs.0.resource", when=f"{resource_logs}.get(0).resource != null"),
           set_value(SOURCE, {"resource": {}, "record": {"attributes": {}}}),
           copy(f"{SOURCE}.scope", f"{RAW}.resourceLogs.0.scopeLogs.0.scope", when=f"{first_scope}.get(0).scope != null"))
    for key in ("timeUnixNano", "observedTimeUnixNano", "severityNumber", "severityText", "eventName", "flags", "traceId", "spanId"):
        b.emit(copy(f"{SOURCE}.record.{key}", f"_tmp.rec.{key}", when=present(f"_tmp.rec.{key}")))
    for field, target in (("_tmp.res.attributes", f"{SOURCE}.resource"), ("_tmp.rec.attributes", f"{SOURCE}.record.attributes")):
        b.emit(proc("foreach", field=field, ignore_missing=True, when=f"{ref(field)} instanceof List", tag="otlp_attributes",
                    processor=set_value(target + ".{{{_ingest._value.key}}}", VALUE, ignore_empty_value=True, ignore_failure=True)))
        # an array (the hook emitter's kamal.hosts, secret names): its AnyValues, made plain below
        b.emit(proc("foreach", field=field, ignore_missing=True, when=f"{ref(field)} instanceof List", tag="otlp_array_attributes",
                    processor=copy(target + ".{{{_ingest._value.key}}}", "_ingest._value.value.arrayValue.values",
                                   ignore_failure=True)))
    for name, pointers in b.definition.fields.items():
        if name.startswith("_") or b.dictionary[name].type != "keyword_list":
            continue
        for parts in pointers:
            if parts[:2] == ("record", "attributes") or parts[:1] == ("resource",):
                path = source(parts)
                b.emit(proc("foreach", field=path, ignore_missing=True, when=f"{ref(path)} instanceof List", tag=f"otlp_array_{name}",
                            processor=set_value("_ingest._value", ARRAY_VALUE, ignore_failure=True)))
    body = "".join(mustache(f"_tmp.rec.body.{kind}") for kind in SCALARS)
    b.emit(set_value(f"{SOURCE}.record.body", body, ignore_empty_value=True, when=present("_tmp.rec.body")))


def json_processors(b: Builder) -> list[Processor]:
    definition = b.definition
    prefixes = [e for e in definition.envelopes if e.prefix is not None]
    keyed = [e for e in definition.envelopes if e.keys]
    if definition.expand == "otlp_logs":
        decode(b, "event.original", RAW)
        otlp_record(b)
    else:
        for envelope in prefixes:
            prefix_envelope(b, envelope)
        b.emit(copy("_tmp.body", "event.original", when=absent("_tmp.body")))
        decode(b, "_tmp.body", SOURCE)
        for envelope in keyed:
            key_envelope(b, envelope)
        require_object(b, absent(TEXT) if keyed else "")
    for parent in dotted_parents(definition):
        b.emit(proc("dot_expander", field="*", path=parent, ignore_failure=True, when=f"{ref(parent)} instanceof Map"))
    not_text = absent(TEXT) if any(e.text_action for e in keyed) else ""
    map_fields(b, definition.fields)
    cases(b, not_text)
    b.steps(definition.derive, definition.fields, not_text)
    for envelope in keyed:
        if envelope.text_action is not None:
            text_event(b, envelope)
    for field, fmt in zip(definition.ts_sources, definition.ts_formats, strict=True):
        b.timestamp(source(tuple(field.split("/")[1:])), fmt, f"timestamp: {field[1:]}: ",
                    "timestamp_assumed_tz" in b.dictionary and definition.log_type in b.dictionary["timestamp_assumed_tz"].sources)
    b.timestamp_missing()
    return b.out
