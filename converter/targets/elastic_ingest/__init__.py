"""Elasticsearch ingest pipelines generated from the parser definitions: one per log type and a
router (see pipelines.py and router.py)."""

from __future__ import annotations

from typing import Any

from ...fields import FieldDictionary
from ...parsing.definitions import ParserDefinition
from ...parsing.redaction import Redactor
from .pipelines import KEEPS_NO_ORIGINAL, custom_pipeline, log_pipeline, pipeline_name
from .router import ROUTER, router_pipeline


def ingest_pipelines(definitions: dict[str, ParserDefinition], dictionary: FieldDictionary,
                     redactor: Redactor) -> dict[str, dict[str, Any]]:
    """Pipeline name -> the body of `PUT _ingest/pipeline/<name>`, in the log types' order."""
    ordered = {t: definitions[t] for t in dictionary.log_types if t in definitions}
    pipelines = {pipeline_name(t): log_pipeline(d, dictionary, redactor) for t, d in ordered.items()}
    pipelines[ROUTER] = router_pipeline(ordered, dictionary, redactor)
    return pipelines


__all__ = ["KEEPS_NO_ORIGINAL", "ROUTER", "custom_pipeline", "ingest_pipelines", "pipeline_name"]
