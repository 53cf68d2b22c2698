"""Replay-case events as Elasticsearch holds them after our ingest pipelines: ECS names, typed
values, and the ECS fields that select a standard log source (`event.category`, `event.type` of a
process start) where the event is one. For the tests that run the Elastic queries in real engines."""

from __future__ import annotations

from typing import Any

from converter.fields import FieldDictionary

from .engines import Corpus

FRAMING = ("source", "line", "record", "extra", "warnings", "error")


def ecs_events(corpus: Corpus, dictionary: FieldDictionary) -> list[tuple[str, str, dict[str, Any]]]:
    """(`<file>:<line>`, log type, {ECS name: value}) for every event of the corpus."""
    out = []
    for event in corpus.events:
        doc = {dictionary[name].ecs: value for name, value in event.items() if name not in FRAMING}
        source = dictionary.logsources[event["log_type"]]
        if all(event.get(k) == v for k, v in source.conditions.items()):
            doc.update(dict(source.elastic_conditions))
        where = corpus.where(event)
        out.append((f"{where[0]}:{where[1]}", event["log_type"], doc))
    return out
