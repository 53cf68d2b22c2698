"""Every single-event rule in the three Elastic query languages: Lucene (pySigma's backend as is,
with whether it is exact), EQL and ES|QL (ours, elastic_eql.py and elastic_esql.py), each with our
Elastic pipeline, or the reason a language refuses the rule. pySigma's pipelines change the rules
they convert, so each language reads the rules afresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sigma.backends.elasticsearch import LuceneBackend
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from ..fields import FieldDictionary
from ..pipelines import pipeline
from ..tuning import Tuning
from .elastic_eql import KamalEqlBackend
from .elastic_esql import KamalEsqlBackend
from .elastic_fields import EcsField, ecs_fields
from .lucene_exact import lucene_problems
from .sigma_rules import Rule, convert, load_in_conversion_order


@dataclass
class Forms:
    """One single-event rule's queries (a string) or refusals (`refused[language]`)."""

    rule: SigmaRule
    log_type: str | None
    fields: dict[str, EcsField]
    index: list[str]
    lucene: str | None = None
    lucene_problems: list[str] = field(default_factory=list)  # why the Lucene query is not exact
    eql: str | None = None  # the condition after `any where`
    esql: str | None = None  # the condition after `WHERE`
    refused: dict[str, str] = field(default_factory=dict)  # language -> why

    @property
    def lucene_exact(self) -> bool:
        return self.lucene is not None and not self.lucene_problems


def _message(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def rule_forms(paths: list[Path], dictionary: FieldDictionary, tuning: Tuning) -> tuple[list[Rule], dict[str, Forms]]:
    """The rules (conversion order) and, per single-event rule id, its forms."""
    rules = load_in_conversion_order(paths)
    forms: dict[str, Forms] = {}
    for rule in rules:
        if isinstance(rule, SigmaRule):
            source = dictionary.logsource_of(rule.logsource.product, rule.logsource.service, rule.logsource.category)
            log_type = source.log_type if source else None
            forms[str(rule.id)] = Forms(rule, log_type, ecs_fields(dictionary, log_type) if log_type else {},
                                        list(source.elastic_index) if source else [])
    for language in ("lucene", "eql", "esql"):
        backend = {"lucene": LuceneBackend, "eql": KamalEqlBackend, "esql": KamalEsqlBackend}[language](
            pipeline("elastic", dictionary, tuning))
        for rule in load_in_conversion_order(paths):
            if not isinstance(rule, SigmaRule):
                continue
            form = forms[str(rule.id)]
            if hasattr(backend, "use_fields"):
                backend.use_fields(form.fields)
            try:
                queries = convert(backend, rule)
            except (SigmaError, NotImplementedError) as exc:  # pySigma says "not supported" both ways
                form.refused[language] = _message(exc)
                continue
            if len(queries) != 1:
                form.refused[language] = f"the backend gives {len(queries)} queries, not one"
                continue
            setattr(form, language, str(queries[0]))
            if language == "lucene":
                form.lucene_problems = lucene_problems(rule, form.fields)
    return rules, forms
