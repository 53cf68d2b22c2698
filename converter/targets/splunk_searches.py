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
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from ..fields import FieldDictionary
from ..pipelines import pipeline
from ..tuning import Tuning
from .sigma_rules import convert, event_count, load_in_conversion_order, rule_path

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
    backend = SplunkBackend(pipeline("splunk", dictionary, tuning))
    base_searches: dict[str, str] = {}
    out: list[SplunkSearch] = []
    for rule in load_in_conversion_order(paths):
        path = rule_path(rule)
        item = SplunkSearch(path, rule, stanza=f"kamal-siem - {rule.title}", filter_macro=macro_name(path))
        if isinstance(rule, SigmaRule):
            [query] = convert(backend, rule)
            base_searches[str(rule.id)] = str(query)
            if not rule._output:
                continue
            item.search = f"{query} | `{item.filter_macro}`"
        else:
            _correlation(item, rule, base_searches, dictionary)
        out.append(item)
    return sorted(out, key=lambda s: s.stanza)


def _correlation(item: SplunkSearch, rule: SigmaCorrelationRule, base_searches: dict[str, str], dictionary: FieldDictionary) -> None:
    count = event_count(rule)
    if count is None:
        item.refused = "only an event_count over one rule with gte/gt is built as a sliding-window search"
        return
    group = [dictionary[f].splunk for f in count.group_by]
    minutes = max(INTERVAL_MINUTES, -(-count.seconds // 60) // 3)
    by = f" BY {' '.join(group)}" if group else ""
    base = count.base
    query = base_searches[str(base.id)]
    source = dictionary.logsource_of(base.logsource.product, base.logsource.service, base.logsource.category)
    if source is not None and not query.startswith("`"):  # pySigma leaves a base rule's query unfinished
        query = f"`{source.splunk_macro}` {query}"
    item.search = (f"{query} | sort 0 _time | streamstats time_window={count.seconds}s count AS event_count{by}"
                   f" | where event_count >= {count.minimum} | `{item.filter_macro}`")
    item.cron = f"*/{minutes} * * * *" if minutes < 60 else f"0 */{minutes // 60} * * *"
    item.earliest = f"-{-(-count.seconds // 60) + minutes + 1}m@m"
    item.suppress_fields = tuple(group)
