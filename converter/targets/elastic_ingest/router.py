"""The router: the default pipeline of the catch-all data stream `logs-kamal-<namespace>`. It tells
the log type from the line (as `kamal-siem parse` does: the keys of a JSON object, the audit line's
shape, else the file name) and reroutes the document to `logs-kamal.<type>-<namespace>`, whose
default pipeline parses it. A line of no known type stays, marked as a pipeline error."""

from __future__ import annotations

from typing import Any

from ...fields import FieldDictionary
from ...parsing.definitions import ParserDefinition
from ...parsing.redaction import Redactor
from .painless import absent, all_of, any_of, lit, present, ref
from .processors import TMP, Processor, append, copy, grok, proc, remove, set_value
from .redaction import redaction_processors
from .regex import grok_regex

ROUTER = "kamal-siem-router"
LINE, DOC = "_tmp.line", "_tmp.doc"


def _keys(keys: tuple[str, ...]) -> str:
    return all_of(f"{ref(DOC)} instanceof Map", *(present(f"{DOC}.{k}") for k in keys))


def router_pipeline(definitions: dict[str, ParserDefinition], dictionary: FieldDictionary, redactor: Redactor) -> dict[str, Any]:
    route = "_tmp.route"
    processors: list[Processor] = [
        copy(LINE, "event.original", when=present("event.original")),
        copy(LINE, "message", when=all_of(absent(LINE), f"{ref('message')} instanceof String")),
    ]
    for definition in definitions.values():  # a docker-logs prefix before the JSON (kamal-proxy)
        for envelope in definition.envelopes:
            if envelope.prefix is not None:
                pattern = grok_regex(envelope.prefix.pattern) + r"(?<_tmp.rest>\{(?:.|\n)*)\Z"
                processors.append(grok(LINE, [pattern], ignore_failure=True, when=f"{ref(LINE)} instanceof String",
                                       tag=f"router_{envelope.name}"))
    processors += [
        copy("_tmp.rest", LINE, when=all_of(absent("_tmp.rest"), f"{ref(LINE)} instanceof String", f"{ref(LINE)}.trim().startsWith('{{')")),
        proc("json", field="_tmp.rest", target_field=DOC, allow_duplicate_keys=True, ignore_failure=True,
             when=present("_tmp.rest"), tag="router_json"),
    ]
    for log_type, definition in definitions.items():  # content first
        groups = list(definition.detect_keys) + [e.keys for e in definition.envelopes if e.keys]
        if groups:
            processors.append(set_value(route, log_type, when=all_of(absent(route), any_of(*(_keys(g) for g in groups)))))
        elif definition.detect_line is not None:
            marker = f"_tmp.line_of.{log_type}"
            processors += [grok(LINE, [f"(?<{marker}>{grok_regex(definition.detect_line.pattern)})"], ignore_failure=True,
                                when=all_of(absent(route), f"{ref(LINE)} instanceof String"), tag=f"router_{log_type}_line"),
                           set_value(route, log_type, when=all_of(absent(route), present(marker)))]
    for log_type, definition in definitions.items():  # then the file name
        if definition.detect_path is not None:
            marker = f"_tmp.path_of.{log_type}"
            processors += [grok("log.file.path", [f"(?<{marker}>{grok_regex(definition.detect_path.pattern)})"], ignore_missing=True,
                                ignore_failure=True, when=absent(route), tag=f"router_{log_type}_path"),
                           set_value(route, log_type, when=all_of(absent(route), present(marker)))]
    datasets = {t: dictionary.logsources[t].elastic_dataset or f"kamal.{t}" for t in definitions}
    processors += [set_value("event.dataset", datasets[t], when=f"{ref(route)} == {lit(t)}") for t in definitions]
    processors += [
        set_value("event.kind", "pipeline_error", when=absent(route)),
        append("error.message", f"{ROUTER}: the line is none of the kamal-siem log types ({', '.join(definitions)})", when=absent(route)),
        *redaction_processors(redactor, [], ["message", "event.original"], when=absent(route)),
        remove(TMP),
    ]
    processors += [proc("reroute", dataset=datasets[t], when=f"{ref('event.dataset')} == {lit(datasets[t])}", tag=f"route_{t}")
                   for t in definitions]
    return {"description": "kamal-siem: routes a Kamal log line to the data stream of its log type (logs-kamal.<type>-<namespace>).",
            "processors": processors,
            "on_failure": [set_value("event.kind", "pipeline_error"),
                           append("error.message", f"{ROUTER}: processor {{{{{{_ingest.on_failure_processor_type}}}}}} failed"),
                           remove(TMP)],
            "_meta": {"managed_by": "kamal-siem"}}
