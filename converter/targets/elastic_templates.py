"""Index templates, component templates and the ILM policy for the kamal-siem data streams
`logs-kamal.<log type>-<namespace>` (and the router's `logs-kamal-<namespace>`).

Mappings come from parsers/fields.yml (each field's ECS name and type) plus the fields the ingest
pipelines set themselves (`event.*`, `error.message`, ...). The index templates compose Elastic's
own `logs@mappings`, `logs@settings` and `ecs@mappings` (for what shippers add: agent.*, host.*,
...), then ours, then the optional `@custom` component templates an admin may add."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..fields import FieldDictionary
from .elastic_ingest import ROUTER, pipeline_name

POLICY = "kamal-siem"
SETTINGS = "kamal-siem@settings"
BASE_MAPPINGS = "kamal-siem@mappings"
PRIORITY = 200  # above Elastic's built-in `logs` template (100), as Elastic's integrations do
KEYWORD_LIMIT = 8191  # longer values are kept in _source but not indexed (Lucene's term limit, 4-byte UTF-8)
META = {"managed_by": "kamal-siem", "managed": False}

TYPES: dict[str, dict[str, Any]] = {
    "keyword": {"type": "keyword", "ignore_above": KEYWORD_LIMIT},
    "keyword_list": {"type": "keyword", "ignore_above": KEYWORD_LIMIT},
    "text": {"type": "text"},
    "long": {"type": "long"},
    "double": {"type": "double"},
    "boolean": {"type": "boolean"},
    "ip": {"type": "ip"},
    # sub-second digits are kept (OTLP and kamal-proxy write nanoseconds)
    "timestamp": {"type": "date_nanos"},
    # what a source carries beyond the dictionary, searchable without a mapping per key
    "object": {"type": "flattened"},
}
# What every pipeline sets besides the dictionary's fields (ECS types)
PIPELINE_FIELDS: dict[str, dict[str, Any]] = {
    "ecs.version": {"type": "keyword", "ignore_above": 1024},
    "event.original": {"type": "keyword", "index": False, "doc_values": False},
    "event.kind": {"type": "keyword", "ignore_above": 1024},
    "event.category": {"type": "keyword", "ignore_above": 1024},
    "event.type": {"type": "keyword", "ignore_above": 1024},
    "event.module": {"type": "keyword", "ignore_above": 1024},
    "event.dataset": {"type": "keyword", "ignore_above": 1024},
    "event.ingested": {"type": "date"},
    "error.message": {"type": "text"},
    "log.file.path": {"type": "keyword", "ignore_above": 1024},
}


def mapping_type(field_type: str) -> dict[str, Any]:
    return dict(TYPES[field_type])


def flat_mappings(dictionary: FieldDictionary, log_type: str | None) -> dict[str, dict[str, Any]]:
    """ECS name -> mapping, for the fields of `log_type` (None: only what every document has)."""
    flat = {name: dict(value) for name, value in PIPELINE_FIELDS.items()}
    for field in dictionary:
        if log_type is None and field.name not in ("log_type", "error", "warnings"):
            continue
        if log_type is not None and log_type not in field.sources:
            continue
        if field.name == "source":
            continue  # log.file.path, from the shipper (above)
        flat[field.ecs] = mapping_type(field.type)
    return flat


def properties(flat: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Dotted names as nested `properties`."""
    tree: dict[str, Any] = {}
    for name in sorted(flat):
        node = tree
        *parents, leaf = name.split(".")
        for part in parents:
            holder = node.setdefault(part, {"properties": {}})
            if "properties" not in holder:
                raise ValueError(f"{name}: {part} is both a field and an object")
            node = holder["properties"]
        if leaf in node:
            raise ValueError(f"{name} is both a field and an object")
        node[leaf] = flat[name]
    return tree


def component_mappings(dictionary: FieldDictionary, log_type: str | None) -> dict[str, Any]:
    what = f"the {log_type} log" if log_type else "every kamal-siem document"
    return {"template": {"mappings": {"properties": properties(flat_mappings(dictionary, log_type))}},
            "_meta": {**META, "description": f"kamal-siem: ECS mappings of {what} (generated from parsers/fields.yml)"}}


def component_settings() -> dict[str, Any]:
    return {"template": {"settings": {"index": {"lifecycle": {"name": POLICY}}}},
            "_meta": {**META, "description": f"kamal-siem: the ILM policy `{POLICY}` for the kamal-siem data streams"}}


def mappings_name(log_type: str) -> str:
    return f"kamal-siem.{log_type}@mappings"


def index_template(name: str, pattern: str, mappings: str, pipeline: str, custom: str) -> dict[str, Any]:
    return {
        "index_patterns": [pattern],
        "data_stream": {},
        "priority": PRIORITY,
        "composed_of": ["logs@mappings", "logs@settings", "ecs@mappings", SETTINGS, BASE_MAPPINGS, mappings,
                        "logs@custom", custom],
        "ignore_missing_component_templates": ["logs@custom", custom],
        "template": {"settings": {"index": {"default_pipeline": pipeline}}},
        "_meta": {**META, "description": f"kamal-siem: data streams {pattern}, parsed by the ingest pipeline {pipeline}"},
    }


@dataclass(frozen=True)
class Retention:
    """An ILM policy's parameters: rollover in the hot phase, optional warm and cold phases, delete."""

    name: str = POLICY
    rollover_max_age: str = "30d"
    rollover_max_primary_shard_size: str = "50gb"
    warm_after: str | None = None
    cold_after: str | None = None
    delete_after: str = "90d"
    description: str = "kamal-siem default: roll over at 30 days or 50 GB a primary shard, delete after 90 days"


DEFAULT_RETENTION = Retention()


def ilm_policy(retention: Retention = DEFAULT_RETENTION) -> dict[str, Any]:
    """The body of `PUT _ilm/policy/<retention.name>` (phase ages count from rollover)."""
    phases: dict[str, Any] = {"hot": {"min_age": "0ms", "actions": {"rollover": {
        "max_age": retention.rollover_max_age, "max_primary_shard_size": retention.rollover_max_primary_shard_size},
        "set_priority": {"priority": 100}}}}
    if retention.warm_after:
        phases["warm"] = {"min_age": retention.warm_after, "actions": {"set_priority": {"priority": 50}}}
    if retention.cold_after:
        phases["cold"] = {"min_age": retention.cold_after, "actions": {"set_priority": {"priority": 0}}}
    phases["delete"] = {"min_age": retention.delete_after, "actions": {"delete": {}}}
    return {"policy": {"phases": phases, "_meta": {**META, "description": retention.description}}}


def templates(dictionary: FieldDictionary) -> dict[str, dict[str, dict[str, Any]]]:
    """{"component": {name: body}, "index": {name: body}, "ilm": {name: body}}."""
    component = {SETTINGS: component_settings(), BASE_MAPPINGS: component_mappings(dictionary, None)}
    index = {}
    for log_type in dictionary.log_types:
        component[mappings_name(log_type)] = component_mappings(dictionary, log_type)
        dataset = dictionary.logsources[log_type].elastic_dataset or f"kamal.{log_type}"
        index[f"logs-{dataset}"] = index_template(f"logs-{dataset}", f"logs-{dataset}-*", mappings_name(log_type),
                                                  pipeline_name(log_type), f"logs-{dataset}@custom")
    router = index_template("logs-kamal", "logs-kamal-*", BASE_MAPPINGS, ROUTER, "logs-kamal@custom")
    router["composed_of"].remove(BASE_MAPPINGS)  # listed once
    index["logs-kamal"] = router
    return {"component": component, "index": index, "ilm": {POLICY: ilm_policy()}}
