"""Sigma rules as Splunk scheduled searches (SPL from pySigma's Splunk backend with our Splunk
pipeline: CIM names, the log source's macro first, tuning lists as lookups).

- A single-event rule runs every 5 minutes over the 5 minutes that ended a minute ago.
- An `event_count` correlation over one rule with `gte`/`gt` counts in a sliding window:
  `| sort 0 _time | streamstats time_window=<timespan> count AS event_count BY <group> | where
  event_count >= N`. (The upstream backend's `bin _time` buckets would miss a burst that straddles
  a bucket boundary.) Its search looks back the timespan plus the schedule interval, so a burst
  that fits the timespan is always seen whole.
- A regex condition OR-ed with others: the upstream backend runs the regex as `| rex ... | eval
  <field>Condition=...` and then `| search <condition>`, and moves leading `field=value` terms in
  front of the `| rex` as a mandatory filter, even when they are operands of an OR (`a="x" | rex ...
  | search OR <field>Condition="true"`: the OR dangles and `a="x"` became required).
  `KamalSplunkBackend` keeps the whole condition after `| search`.
- Detection values AppInspect refuses in a .conf file (`rm -rf`) are read from a lookup (splunk_values.py).
- Anything else is refused by name.
Each search ends with its own empty filter macro, where a Splunk admin tunes it without editing
the search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.backends.splunk import SplunkBackend
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from ..fields import FieldDictionary
from ..pipelines import pipeline
from ..tuning import Tuning
from .sigma_rules import convert, event_count, load_in_conversion_order, rule_path
from .splunk_values import ValueListError, move_flagged_values

INTERVAL_MINUTES = 5
# A single-event alert is throttled per actor and place, not as a whole: the fields of these
# (dictionary names) that its log type has. A correlation is throttled by its group-by fields.
THROTTLE_BY = ("performer", "User", "host", "destination", "service", "proxy_service", "container_name")


class KamalSplunkBackend(SplunkBackend):
    """pySigma's Splunk backend without the hoisting of `field=value` terms in front of deferred
    regex commands (see the module docstring): the log source macro already comes first."""

    def finalize_query_default(self, rule: Any, query: Any, index: int, state: Any) -> Any:
        state.processing_state.pop("deferred_or_condition_fields", None)  # what upstream hoists by
        return super().finalize_query_default(rule, query, index, state)


class SplunkRefusal(ValueError):
    pass


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
    lookups: dict[str, list[str]] = field(default_factory=dict)  # detection values read from lookups
    refused: str | None = None


def rule_stem(path: Path) -> str:
    return "kamal_siem_" + re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")


def macro_name(path: Path) -> str:
    return rule_stem(path) + "_filter"


def one_line(spl: str) -> str:
    """The backend's multi-line SPL on one line: outside quoted values, line breaks and runs of
    spaces become one space; a line break inside a quoted value cannot be written on a .conf line
    and is refused. Quoted values are kept exactly."""
    out: list[str] = []
    quoted, i = False, 0
    while i < len(spl):
        c = spl[i]
        if quoted and c == "\\" and i + 1 < len(spl):
            out.append(spl[i:i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in " \t\r\n" and not quoted:
            c = " "
            if out and out[-1] == " ":
                i += 1
                continue
        elif c in "\r\n":
            raise SplunkRefusal("a value with a line break cannot be written on one savedsearches.conf line")
        out.append(c)
        i += 1
    return "".join(out).strip()


def splunk_searches(paths: list[Path], dictionary: FieldDictionary, tuning: Tuning) -> list[SplunkSearch]:
    backend = KamalSplunkBackend(pipeline("splunk", dictionary, tuning))
    base_searches: dict[str, str] = {}
    lookups: dict[str, dict[str, list[str]]] = {}
    out: list[SplunkSearch] = []
    for rule in load_in_conversion_order(paths):
        path = rule_path(rule)
        item = SplunkSearch(path, rule, stanza=f"kamal-siem - {rule.title}", filter_macro=macro_name(path))
        try:
            if isinstance(rule, SigmaRule):
                lookups[str(rule.id)] = move_flagged_values(rule, rule_stem(path))
                [query] = convert(backend, rule)
                base_searches[str(rule.id)] = one_line(str(query))
                if not rule._output:
                    continue
                item.search = f"{base_searches[str(rule.id)]} | `{item.filter_macro}`"
                item.lookups = lookups[str(rule.id)]
                item.suppress_fields = throttle_fields(rule, dictionary)
            else:
                _correlation(item, rule, base_searches, lookups, dictionary)
        except (SigmaError, ValueListError, SplunkRefusal) as exc:
            item.refused = str(exc)
        out.append(item)
    return sorted(out, key=lambda s: s.stanza)


def throttle_fields(rule: SigmaRule, dictionary: FieldDictionary) -> tuple[str, ...]:
    source = dictionary.logsource_of(rule.logsource.product, rule.logsource.service, rule.logsource.category)
    if source is None:
        return ()
    names = {f.name for f in dictionary.fields_of(source.log_type)}
    return tuple(dict.fromkeys(dictionary[f].splunk for f in THROTTLE_BY if f in names))


def _correlation(item: SplunkSearch, rule: SigmaCorrelationRule, base_searches: dict[str, str],
                 lookups: dict[str, dict[str, list[str]]], dictionary: FieldDictionary) -> None:
    count = event_count(rule)
    if count is None:
        item.refused = "only an event_count over one rule with gte/gt is built as a sliding-window search"
        return
    base = count.base
    if str(base.id) not in base_searches:
        item.refused = f"its base rule {base.title!r} was not built"
        return
    group = [dictionary[f].splunk for f in count.group_by]
    minutes = max(INTERVAL_MINUTES, -(-count.seconds // 60) // 3)
    by = f" BY {' '.join(group)}" if group else ""
    query = base_searches[str(base.id)]
    source = dictionary.logsource_of(base.logsource.product, base.logsource.service, base.logsource.category)
    if source is not None and not query.startswith("`"):  # pySigma leaves a base rule's query unfinished
        query = f"`{source.splunk_macro}` {query}"
    item.search = (f"{query} | sort 0 _time | streamstats time_window={count.seconds}s count AS event_count{by}"
                   f" | where event_count >= {count.minimum} | `{item.filter_macro}`")
    item.cron = f"*/{minutes} * * * *" if minutes < 60 else f"0 */{minutes // 60} * * *"
    item.earliest = f"-{-(-count.seconds // 60) + minutes + 1}m@m"
    item.suppress_fields = tuple(group)
    item.lookups = lookups.get(str(base.id), {})
