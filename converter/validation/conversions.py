"""Every rule converts for every target, or the report says why not.

Targets: local (our DuckDB backend), Splunk (SPL), Elastic (the Kibana rule the build makes:
targets/elastic_rules.py chooses Lucene, EQL, ES|QL or a threshold per rule; the languages that
refuse a rule, or whose query would not be exact, are noted with the reason), each with its pipeline
generated from the field dictionary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from ..fields import FieldDictionary
from ..local.rules import RuleSet
from ..pipelines import pipeline
from ..targets.elastic_rules import elastic_content
from ..targets.sigma_rules import convert
from ..targets.splunk_searches import KamalSplunkBackend
from ..tuning import Tuning
from .issues import Report

LANGUAGES = {"lucene": "elastic-lucene", "eql": "elastic-eql", "esql": "elastic-esql"}


def conversions(paths: list[Path], dictionary: FieldDictionary, tuning: Tuning) -> dict[str, dict[str, list[Any] | str]]:
    """Per rule id, per target: the queries, or why the target refuses the rule. pySigma's
    pipelines change the rules they process, so each target reads the rules afresh. `elastic` is
    the Kibana rule's query; `elastic-<language>` says why a language was not taken for the rule."""
    makers: dict[str, Callable[[], Any]] = {"splunk": lambda: KamalSplunkBackend(pipeline("splunk", dictionary, tuning))}
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
    try:
        elastic = elastic_content(paths, Path.cwd(), dictionary, tuning)
    except Exception as exc:  # reported for every rule, not raised
        for targets in out.values():
            targets["elastic"] = f"{type(exc).__name__}: {exc}"
        return out
    for built in elastic.rules:
        targets = out.setdefault(built.rule_id, {})
        targets["elastic"] = [built.body["query"]] if built.body is not None else str(built.refused)
        form = elastic.forms.get(built.rule_id)
        if form is None:
            continue
        for language, target in LANGUAGES.items():
            if language in form.refused:
                targets[target] = form.refused[language]
        if form.lucene is not None and form.lucene_problems:
            targets["elastic-lucene"] = "not exact: " + "; ".join(form.lucene_problems)
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
        elastic = targets.get("elastic")
        if isinstance(elastic, str):
            report.add("error", "convert:elastic", where, None, f"Elastic: {elastic}", rule_id)
        for target in LANGUAGES.values():
            value = targets.get(target)
            if isinstance(value, str):
                report.notes.append((report.relative(where), target, value))
    return converted
