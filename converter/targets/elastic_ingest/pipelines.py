"""One ingest pipeline per log type, generated from its parser definition, the field dictionary,
the redaction rules and ecs.yml; plus the router (router.py).

Every pipeline: keeps the raw line in `event.original` (from `message`, as Filebeat and Elastic
Agent send it), parses it into the dictionary's names under `_tmp.f`, maps them to their ECS names
with their dictionary types, sets `event.*` as ECS expects, masks secret values, removes `_tmp`
and calls the optional `logs-kamal.<type>@custom` pipeline. A line that cannot be parsed is kept:
`on_failure` sets `event.kind: pipeline_error`, `error.message` and `kamal.parse_error` with the
reason (never the line or a value of it: a failure message can quote a secret)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ...fields import FieldDictionary
from ...parsing.definitions import ParserDefinition
from ...parsing.redaction import Redactor
from .audit import audit_processors
from .builder import Builder
from .json_logs import json_processors
from .painless import absent, all_of, any_of, lit, present, ref
from .processors import TMP, Processor, append, copy, proc, remove, set_value, stage
from .redaction import redacted_fields, redaction_processors

NOT_WRITTEN = ("source", "line", "record", "error", "extra")  # the shipper's log.file.path; no line numbers; no `extra`
KEEPS_NO_ORIGINAL = ("process",)  # argument vectors in the raw JSON cannot be redacted by regexes


def pipeline_name(log_type: str) -> str:
    return f"kamal-siem-{log_type}"


def custom_pipeline(log_type: str) -> str:
    return f"logs-kamal.{log_type}@custom"


@cache
def ecs_settings() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "ecs.yml").read_text(encoding="utf-8"))
    return data


def start(log_type: str, dataset: str) -> list[Processor]:
    ecs = ecs_settings()
    return [
        set_value("ecs.version", ecs["ecs_version"]),
        proc("rename", field="message", target_field="event.original", ignore_missing=True, when=absent("event.original")),
        remove("message"),
        set_value(TMP, {"f": {}}),
        set_value("_tmp.reject", "no event.original or message to parse", when=f"!({ref('event.original')} instanceof String)"),
        proc("fail", message="no event.original or message to parse", tag="reject", when=present("_tmp.reject")),
        set_value("_tmp.reject", "blank line", when=f"{ref('event.original')}.trim() == ''"),
        proc("fail", message="blank line", tag="reject", when=present("_tmp.reject")),
        set_value("event.kind", ecs["kind"]),
        set_value("event.module", "kamal"),
        set_value("event.dataset", dataset),
        set_value("event.ingested", "{{{_ingest.timestamp}}}"),
        set_value("kamal.log_type", log_type),
    ]


def to_ecs(log_type: str, dictionary: FieldDictionary) -> list[Processor]:
    """The working copy's fields under their ECS names, typed (lists stay lists)."""
    out: list[Processor] = []
    for field in dictionary.fields_of(log_type):
        if field.name in NOT_WRITTEN or field.name == "log_type":
            continue
        staged = stage(field.name)
        if field.name == "timestamp":
            out.append(copy("@timestamp", staged, when=present(staged)))
        elif field.type == "keyword_list":
            out += [remove(field.ecs, when=present(staged)), append(field.ecs, None, copy_from=staged, when=present(staged))]
        else:
            out.append(copy(field.ecs, staged, when=present(staged)))
    return out


def categorize(log_type: str, dictionary: FieldDictionary) -> list[Processor]:
    """event.category and event.type from ecs.yml (a process event keeps the source's own)."""
    out: list[Processor] = []
    chosen = "_tmp.category"
    if log_type == "process":
        for name, target in (("_category", "event.category"), ("_type", "event.type")):
            out += [remove(target, when=present(stage(name))),
                    append(target, None, copy_from=stage(name), when=present(stage(name)))]
        out.append(set_value(chosen, "source", when=all_of(present(stage("_category")), present(stage("_type")))))
    for i, rule in enumerate(ecs_settings()["categorization"][log_type]):
        conditions = [any_of(*(f"{ref(stage(name))} == {lit(v)}" for v in values)) for name, values in rule.get("when", {}).items()]
        for name in rule.get("when", {}):
            if name not in dictionary or log_type not in dictionary[name].sources:
                raise ValueError(f"ecs.yml: {log_type}: {name!r} is not a field of the log type")
        out.append(set_value(chosen, str(i), when=all_of(absent(chosen), *conditions)))
        this = f"{ref(chosen)} == {lit(str(i))}"
        out += [set_value("event.category", rule["category"], when=this), set_value("event.type", rule["type"], when=this)]
    return out


def failure_handler(log_type: str, fields: list[str], redactor: Redactor) -> list[Processor]:
    name = pipeline_name(log_type)
    return [
        set_value("event.kind", "pipeline_error"),
        set_value("kamal.log_type", log_type),
        copy("kamal.parse_error", "_tmp.reject", when=present("_tmp.reject")),
        append("error.message", f"{name}: {{{{{{_tmp.reject}}}}}}", when=present("_tmp.reject")),
        append("error.message", f"{name}: processor {{{{{{_ingest.on_failure_processor_type}}}}}} "
                                f"[{{{{{{_ingest.on_failure_processor_tag}}}}}}] failed", when=absent("_tmp.reject")),
        remove("message", when=present("event.original")),
        *redaction_processors(redactor, fields, ["event.original"]),
        remove(TMP),
    ]


def log_pipeline(definition: ParserDefinition, dictionary: FieldDictionary, redactor: Redactor) -> dict[str, Any]:
    log_type = definition.log_type
    source = dictionary.logsources[log_type]
    dataset = source.elastic_dataset or f"kamal.{log_type}"
    builder = Builder(definition, dictionary)
    parse = audit_processors(builder) if definition.format == "text" else json_processors(builder)
    fields = redacted_fields(redactor, dictionary, log_type)
    keep_original = log_type not in KEEPS_NO_ORIGINAL
    processors = [
        *start(log_type, dataset),
        *parse,
        *to_ecs(log_type, dictionary),
        *categorize(log_type, dictionary),
        *redaction_processors(redactor, fields, ["event.original"] if keep_original else []),
        *([] if keep_original else [remove("event.original")]),
        remove(TMP),
        proc("pipeline", name=custom_pipeline(log_type), ignore_missing_pipeline=True,
             description="your own processors for this log type, if you create this pipeline"),
    ]
    return {
        "description": f"kamal-siem: {definition.description} Parses event.original into ECS fields "
                       f"(generated from parsers/{definition.file.name}; do not edit).",
        "processors": processors,
        "on_failure": failure_handler(log_type, fields, redactor),
        "_meta": {"managed_by": "kamal-siem", "log_type": log_type, "dataset": dataset},
    }
