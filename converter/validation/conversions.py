"""Every rule converts for every target, or the report says why not.

Targets: local (our DuckDB backend), Splunk (SPL), Elastic (Lucene, EQL and ES|QL: a rule needs one
of them; the others' refusals are noted with their reason), each with its pipeline generated from
the field dictionary."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from sigma.backends.elasticsearch import EqlBackend, ESQLBackend, LuceneBackend
from sigma.backends.splunk import SplunkBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from ..fields import FieldDictionary
from ..local.rules import RuleSet
from ..pipelines import pipeline
from ..targets.sigma_rules import convert
from ..tuning import Tuning
from .issues import Report

ELASTIC = {"elastic-lucene": LuceneBackend, "elastic-eql": EqlBackend, "elastic-esql": ESQLBackend}


def conversions(paths: list[Path], dictionary: FieldDictionary, tuning: Tuning) -> dict[str, dict[str, list[Any] | str]]:
    """Per rule id, per target: the queries, or why the backend refused the rule. pySigma's
    pipelines change the rules they process, so each target reads the rules afresh."""
    makers: dict[str, Callable[[], Any]] = {"splunk": lambda: SplunkBackend(pipeline("splunk", dictionary, tuning))}
    for name, cls in ELASTIC.items():
        makers[name] = partial(cls, pipeline("elastic", dictionary, tuning))
    out: dict[str, dict[str, list[Any] | str]] = {}
    for target, make in makers.items():
        collection = SigmaCollection.load_ruleset(list[str | Path](paths), collect_errors=True)
        collection.resolve_rule_references()
        rules = sorted(collection.rules, key=lambda r: isinstance(r, SigmaCorrelationRule))
        backend = make()
        for rule in rules:
            if rule.errors:
                continue
            try:
                result: list[Any] | str = convert(backend, rule)
            except Exception as exc:  # a backend's refusal, whatever its class: reported, not raised
                result = f"{type(exc).__name__}: {exc}"
            out.setdefault(str(rule.id), {})[target] = result
    return out


def check_conversions(paths: list[Path], dictionary: FieldDictionary, tuning: Tuning, ruleset: RuleSet,
                      report: Report) -> dict[str, dict[str, list[Any] | str]]:
    converted = conversions(paths, dictionary, tuning)
    for compiled in ruleset.rules:
        rule_id, where = compiled.id, compiled.path
        targets = converted.get(rule_id, {})
        if compiled.refused and isinstance(compiled.rule, SigmaRule):
            report.add("error", "convert:local", where, None, f"the local engine cannot run the rule: {compiled.refused}", rule_id)
        splunk = targets.get("splunk")
        if isinstance(splunk, str):
            report.add("error", "convert:splunk", where, None, f"Splunk: {splunk}", rule_id)
        elastic = {t: targets.get(t) for t in ELASTIC}
        if elastic and all(isinstance(v, str) for v in elastic.values()):
            report.add("error", "convert:elastic", where, None,
                       "no Elastic query language takes the rule: " + "; ".join(f"{t}: {v}" for t, v in elastic.items()), rule_id)
        for target, value in elastic.items():
            if isinstance(value, str):
                report.notes.append((report.relative(where), target, value))
    return converted
