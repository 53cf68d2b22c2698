"""Sigma rules as Splunk scheduled searches (SPL from pySigma's Splunk backend with our Splunk
pipeline: CIM names, the log source's macro first, tuning lists as lookups).

- A single-event rule runs every 5 minutes over the 5 minutes that ended a minute ago.
- An `event_count` correlation over one rule with `gte`/`gt` counts in a sliding window:
  `| sort 0 _time | streamstats time_window=<timespan> count AS event_count BY <group> | where
  event_count >= N`. (The upstream backend's `bin _time` buckets would miss a burst that straddles
  a bucket boundary.) Its search looks back the timespan plus the schedule interval, so a burst
  that fits the timespan is always seen whole.
- Anything else is refused by name.
Each search ends with its own empty filter macro, where a Splunk admin tunes it without editing
the search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sigma.backends.splunk import SplunkBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationConditionOperator, SigmaCorrelationRule, SigmaCorrelationType
from sigma.rule import SigmaRule

from ..fields import FieldDictionary
from ..pipelines import pipeline
from ..tuning import Tuning

INTERVAL_MINUTES = 5


@dataclass
class SplunkSearch:
    path: Path
    rule: SigmaRule | SigmaCorrelationRule
    stanza: str = ""  # the savedsearches.conf stanza name
    search: str = ""
    filter_macro: str = ""
    cron: str = f"*/{INTERVAL_MINUTES} * * * *"
    earliest: str = f"-{INTERVAL_MINUTES + 1}m@m"
    latest: str = "-1m@m"
    suppress_fields: tuple[str, ...] = ()
    refused: str | None = None


def macro_name(path: Path) -> str:
    return "kamal_siem_" + re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_") + "_filter"


def splunk_searches(paths: list[Path], dictionary: FieldDictionary, tuning: Tuning) -> list[SplunkSearch]:
    collection = SigmaCollection.load_ruleset([str(p) for p in paths])
    collection.resolve_rule_references()
    backend = SplunkBackend(pipeline("splunk", dictionary, tuning))
    base_searches: dict[str, str] = {}
    out: list[SplunkSearch] = []
    for rule in sorted(collection.rules, key=lambda r: isinstance(r, SigmaCorrelationRule)):
        source = getattr(rule, "source", None)
        path = Path(source.path) if source is not None and source.path else Path("?")
        item = SplunkSearch(path, rule, stanza=f"kamal-siem - {rule.title}", filter_macro=macro_name(path))
        if isinstance(rule, SigmaRule):
            output = rule._output
            rule._output = True
            try:
                [query] = backend.convert_rule(rule)
            finally:
                rule._output = output
            base_searches[str(rule.id)] = str(query)
            if not output:
                continue
            item.search = f"{query} | `{item.filter_macro}`"
        else:
            _correlation(item, rule, base_searches, dictionary)
        out.append(item)
    return sorted(out, key=lambda s: s.stanza)


def _correlation(item: SplunkSearch, rule: SigmaCorrelationRule, base_searches: dict[str, str], dictionary: FieldDictionary) -> None:
    bases = [ref.rule for ref in rule.rules or []]
    condition = rule.condition
    if rule.type != SigmaCorrelationType.EVENT_COUNT or len(bases) != 1 or not isinstance(condition, SigmaCorrelationCondition) \
            or condition.op not in (SigmaCorrelationConditionOperator.GTE, SigmaCorrelationConditionOperator.GT):
        item.refused = "only an event_count over one rule with gte/gt is built as a sliding-window search"
        return
    group = [dictionary[str(f)].splunk for f in rule.group_by or []]
    value = int(condition.count) + (1 if condition.op == SigmaCorrelationConditionOperator.GT else 0)
    span = int(rule.timespan.seconds)
    minutes = max(INTERVAL_MINUTES, -(-span // 60) // 3)
    by = f" BY {' '.join(group)}" if group else ""
    base = bases[0]
    assert isinstance(base, SigmaRule)
    query = base_searches[str(base.id)]
    source = dictionary.logsource_of(base.logsource.product, base.logsource.service, base.logsource.category)
    if source is not None and not query.startswith("`"):  # pySigma leaves a base rule's query unfinished
        query = f"`{source.splunk_macro}` {query}"
    item.search = (f"{query} | sort 0 _time | streamstats time_window={span}s count AS event_count{by}"
                   f" | where event_count >= {value} | `{item.filter_macro}`")
    item.cron = f"*/{minutes} * * * *" if minutes < 60 else f"0 */{minutes // 60} * * *"
    item.earliest = f"-{-(-span // 60) + minutes + 1}m@m"
    item.suppress_fields = tuple(group)
