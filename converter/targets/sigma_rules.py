"""What every target's build needs from the Sigma rules: the rules in conversion order, each
converted even when only a correlation uses it, and the one correlation shape the targets build."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaRuleLocation
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationConditionOperator, SigmaCorrelationRule, SigmaCorrelationType
from sigma.rule import SigmaRule

Rule = SigmaRule | SigmaCorrelationRule


_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=1024)
def _documents(path: Path, mtime_ns: int, size: int) -> tuple[Any, ...]:
    return tuple(yaml.load_all(path.read_text(encoding="utf-8"), Loader=_LOADER))  # a safe loader


def rule_documents(path: Path) -> list[Any]:
    """The YAML documents of a rule file, read once per build (libyaml) and copied for each caller:
    pySigma's pipelines change the rules they process, so every target needs rules of its own."""
    stat = path.stat()
    return copy.deepcopy(list(_documents(path, stat.st_mtime_ns, stat.st_size)))


def load_in_conversion_order(paths: Sequence[Path]) -> list[Rule]:
    """The rules of `paths`, references resolved, single-event rules first (a correlation needs its
    base rules converted by the same backend before it)."""
    collection = SigmaCollection.merge(
        [SigmaCollection.from_dicts(rule_documents(Path(p)), source=SigmaRuleLocation(Path(p)), resolve_references=False)
         for p in paths])
    collection.resolve_rule_references()
    return sorted(collection.rules, key=lambda r: isinstance(r, SigmaCorrelationRule))


def rule_path(rule: Rule) -> Path:
    source = getattr(rule, "source", None)
    return Path(source.path) if source is not None and source.path else Path("?")


def convert(backend: Any, rule: Rule) -> list[Any]:
    """The backend's queries for `rule`, also for a base rule a correlation uses (`generate: false`)."""
    output = rule._output
    rule._output = True
    try:
        if isinstance(rule, SigmaCorrelationRule):
            return list(backend.convert_correlation_rule(rule))
        return list(backend.convert_rule(rule))
    finally:
        rule._output = output


@dataclass(frozen=True)
class EventCount:
    """A correlation counting one base rule's events per group: at least `minimum` in `seconds`."""

    base: SigmaRule
    group_by: tuple[str, ...]
    minimum: int
    seconds: int


def event_count(rule: SigmaCorrelationRule) -> EventCount | None:
    """The correlation as an EventCount, or None when it is another shape (value_count, temporal,
    several base rules, a condition other than gte/gt)."""
    bases = [ref.rule for ref in rule.rules or []]
    condition = rule.condition
    if rule.type != SigmaCorrelationType.EVENT_COUNT or len(bases) != 1 or not isinstance(bases[0], SigmaRule) \
            or not isinstance(condition, SigmaCorrelationCondition) \
            or condition.op not in (SigmaCorrelationConditionOperator.GTE, SigmaCorrelationConditionOperator.GT):
        return None
    minimum = int(condition.count) + (1 if condition.op == SigmaCorrelationConditionOperator.GT else 0)
    return EventCount(bases[0], tuple(str(f) for f in rule.group_by or []), minimum, int(rule.timespan.seconds))
