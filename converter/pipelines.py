"""pySigma processing pipelines generated from the field dictionary (parsers/fields.yml) and the
tuning file, for each target: local (our names), Splunk (CIM names, a macro per log source) and
Elastic (ECS names, the index patterns of the log source).

Each pipeline is built as the plain data of pySigma's YAML pipeline format and loaded from it, so
what `kamal-siem pipelines export` writes is exactly what the converter uses, and works with
`sigma convert -p`. Every pipeline is strict: a rule on one of our log sources that names a field
the dictionary does not give that log source fails to convert; a rule on any other log source fails
too.
"""

from __future__ import annotations

from typing import Any

import yaml
from sigma.processing.pipeline import ProcessingPipeline

from .fields import FieldDictionary, LogSource
from .tuning import Tuning

TARGETS = ("local", "splunk", "elastic")
# Fields that describe where an event was read, not what happened: rules do not match on them.
FRAMING = ("source", "line", "record", "error", "warnings")


def _logsource_condition(source: LogSource) -> dict[str, Any]:
    return {"type": "logsource", **source.sigma}


def rule_fields(dictionary: FieldDictionary, log_type: str) -> list[str]:
    """The dictionary names a rule on `log_type` may use."""
    return [f.name for f in dictionary.fields_of(log_type) if f.name not in FRAMING]


def _strict(dictionary: FieldDictionary, target: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{
        "id": "kamal_siem_other_logsources",
        "type": "rule_failure",
        "message": (f"kamal-siem ({target}): the rule's log source is none of the kamal-siem log sources "
                    f"({', '.join(_describe(s) for s in dictionary.logsources.values())})"),
        "rule_conditions": [_logsource_condition(s) for s in dictionary.logsources.values()],
        "rule_cond_op": "or",
        "rule_cond_not": True,
    }]
    for log_type, source in dictionary.logsources.items():
        items.append({
            "id": f"kamal_siem_{log_type}_unknown_fields",
            "type": "detection_item_failure",
            "message": (f"kamal-siem ({target}): a field that is not in the field dictionary for the "
                        f"{_describe(source)} log source (parsers/fields.yml), or keywords (values without a field)"),
            "rule_conditions": [_logsource_condition(source)],
            "field_name_conditions": [{"type": "include_fields", "fields": rule_fields(dictionary, log_type)}],
            "field_name_cond_not": True,
        })
    return items


def _describe(source: LogSource) -> str:
    return "/".join(f"{k}:{v}" for k, v in source.sigma.items())


def _scope(dictionary: FieldDictionary) -> list[dict[str, Any]]:
    """The condition that selects a log source's events: `log_type` and its fixed values."""
    return [{
        "id": f"kamal_siem_{log_type}_scope",
        "type": "add_condition",
        "conditions": {"log_type": log_type, **source.conditions},
        "rule_conditions": [_logsource_condition(source)],
    } for log_type, source in dictionary.logsources.items()]


def _mapping(dictionary: FieldDictionary, target: str) -> list[dict[str, Any]]:
    """Dictionary names to the target's names, per log source (only the names that differ)."""
    items = []
    for log_type, source in dictionary.logsources.items():
        mapping = {f.name: (f.splunk if target == "splunk" else f.ecs) for f in dictionary.fields_of(log_type)
                   if f.name not in FRAMING}
        mapping = {k: v for k, v in mapping.items() if k != v}
        if mapping:
            items.append({"id": f"kamal_siem_{log_type}_{target}_names", "type": "field_name_mapping", "mapping": mapping,
                          "rule_conditions": [_logsource_condition(source)]})
    return items


# Every Splunk search starts with its log source's macro (`kamal_audit`, ...), which an admin points
# at the index and sourcetype. In a correlation (`| multisearch [ search ... ]`) each subsearch
# starts with it.
SPLUNK_TEMPLATE = (
    "{%- set m = '`MACRO` ' -%}"
    "{%- if query.startswith('| multisearch') -%}{{ query | replace('[ search ', '[ search ' ~ m) }}"
    "{%- else -%}{{ m ~ query }}{%- endif -%}"
)
# A list placeholder becomes a lookup a Splunk admin edits: `<name>.csv`, one column `value`.
SPLUNK_LOOKUP = "[| inputlookup {id}.csv | rename value AS {field} | fields {field}]"


def pipeline_data(target: str, dictionary: FieldDictionary, tuning: Tuning) -> dict[str, Any]:
    """The pipeline for `target`, as pySigma's YAML pipeline format (a dict)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    data: dict[str, Any] = {"name": f"kamal-siem {target}", "priority": 20}
    if target == "splunk":
        data["allowed_backends"] = ["splunk"]
    elif target == "elastic":
        data["allowed_backends"] = ["lucene", "eql", "esql", "elasticsearch"]
    transformations = _strict(dictionary, target)
    if target == "splunk":
        transformations.append({"id": "kamal_siem_tuning_lookups", "type": "query_expression_placeholders",
                                "expression": SPLUNK_LOOKUP})
    else:
        data["vars"] = tuning.vars()
        transformations.append({"id": "kamal_siem_tuning", "type": "value_placeholders"})
    if target == "local":
        transformations += _scope(dictionary)
    else:
        transformations += _mapping(dictionary, target)
    if target == "elastic":
        for log_type, source in dictionary.logsources.items():
            transformations.append({"id": f"kamal_siem_{log_type}_index", "type": "set_state", "key": "index",
                                    "val": ",".join(source.elastic_index), "rule_conditions": [_logsource_condition(source)]})
            if source.elastic_conditions:
                transformations.append({"id": f"kamal_siem_{log_type}_elastic_scope", "type": "add_condition",
                                        "conditions": dict(source.elastic_conditions),
                                        "rule_conditions": [_logsource_condition(source)]})
    data["transformations"] = transformations
    if target == "splunk":
        data["postprocessing"] = [{"id": f"kamal_siem_{log_type}_macro", "type": "template",
                                   "template": SPLUNK_TEMPLATE.replace("MACRO", source.splunk_macro),
                                   "rule_conditions": [_logsource_condition(source)]}
                                  for log_type, source in dictionary.logsources.items()]
    return data


def pipeline(target: str, dictionary: FieldDictionary, tuning: Tuning) -> ProcessingPipeline:
    return ProcessingPipeline.from_dict(pipeline_data(target, dictionary, tuning))


def export_yaml(target: str, dictionary: FieldDictionary, tuning: Tuning) -> str:
    header = (f"# kamal-siem pySigma pipeline for {target}, generated from parsers/fields.yml and tuning.yml.\n"
              f"# Regenerate with `kamal-siem pipelines export`; do not edit.\n")
    return header + yaml.safe_dump(pipeline_data(target, dictionary, tuning), sort_keys=False, allow_unicode=True, width=100)
