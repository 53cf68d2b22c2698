"""Sigma rules as the detection rules Kibana Security imports (NDJSON, one rule a line).

- A single-event rule becomes a `query` rule in Lucene (pySigma's Lucene backend with our Elastic
  pipeline: ECS names, tuning values inlined).
- A correlation that counts one base rule's events per group (`event_count`, `gte`/`gt`) becomes a
  `threshold` rule over the base rule's query. Kibana counts over each run's look-back, not a sliding
  window: the look-back is the Sigma timespan plus the run interval, so no burst that fits the
  timespan is missed (a burst up to one interval longer may also count).
- Anything else is refused by name (the report says why).

`rule_id` is the Sigma id, severity and risk score come from the level, the MITRE mapping from the
ATT&CK tags (names from the installed ATT&CK data), the investigation guide from the rule's text.
Rules are imported disabled: an admin enables them after tuning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma.backends.elasticsearch import LuceneBackend
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from ..fields import FieldDictionary
from ..offline_data import attack, attack_tags
from ..pipelines import pipeline
from ..tuning import Tuning
from .sigma_rules import convert, event_count, load_in_conversion_order, rule_path

SEVERITY = {"informational": ("low", 10), "low": ("low", 21), "medium": ("medium", 47), "high": ("high", 73),
            "critical": ("critical", 99)}
INTERVAL_SECONDS = 300  # single-event rules run every 5 minutes, looking back 6
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class ElasticRule:
    path: Path
    body: dict[str, Any] | None = None  # without `version` (the lock file gives it)
    refused: str | None = None


def _duration(seconds: int) -> str:
    for unit in ("d", "h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def _threat(tags: list[str]) -> list[dict[str, Any]]:
    """The MITRE ATT&CK mapping Kibana shows: per tactic, the rule's techniques that serve it."""
    data = attack()
    tactics, techniques = attack_tags(tags)
    out = []
    for shortname in tactics:
        tactic = data.tactics.get(shortname)
        if tactic is None:
            continue
        entry: dict[str, Any] = {"framework": "MITRE ATT&CK", "tactic": {
            "id": tactic.id, "name": tactic.name, "reference": f"https://attack.mitre.org/tactics/{tactic.id}/"}}
        by_parent: dict[str, list[str]] = {}
        for technique in techniques:
            known = data.techniques.get(technique)
            if known is None or shortname not in known.tactics:
                continue
            parent = technique.split(".")[0]
            subs = by_parent.setdefault(parent, [])
            if "." in technique:
                subs.append(technique)
        if by_parent:
            entry["technique"] = []
            for parent in sorted(by_parent):
                item: dict[str, Any] = {"id": parent, "name": data.techniques[parent].name,
                                        "reference": f"https://attack.mitre.org/techniques/{parent}/"}
                if by_parent[parent]:
                    item["subtechnique"] = [{"id": sub, "name": data.techniques[sub].name,
                                             "reference": f"https://attack.mitre.org/techniques/{sub.replace('.', '/')}/"}
                                            for sub in sorted(by_parent[parent])]
                entry["technique"].append(item)
        out.append(entry)
    return out


def _note(rule: SigmaRule | SigmaCorrelationRule, path: str) -> str:
    lines = ["## Triage", "", " ".join(str(rule.description or "").split()), ""]
    if rule.falsepositives:
        lines += ["## False positives", ""] + [f"- {' '.join(str(fp).split())}" for fp in rule.falsepositives] + [""]
    lines += ["## Source", "", f"kamal-siem Sigma rule `{path}` (id `{rule.id}`). Tune it through `tuning.yml`, not here:",
              "the next import would undo edits made in Kibana."]
    return "\n".join(lines) + "\n"


def _common(rule: SigmaRule | SigmaCorrelationRule, path: str, log_types: list[str], dictionary: FieldDictionary) -> dict[str, Any]:
    level = rule.level.name.lower() if rule.level else "medium"
    severity, risk = SEVERITY[level]
    tags = [str(t) for t in rule.tags]
    index = sorted({pattern for t in log_types for pattern in dictionary.logsources[t].elastic_index})
    return {
        "rule_id": str(rule.id), "name": rule.title, "description": " ".join(str(rule.description or "").split()),
        "author": [rule.author or "kamal-siem"], "license": "MIT", "severity": severity, "risk_score": risk,
        "references": [str(r) for r in rule.references], "false_positives": [" ".join(str(f).split()) for f in rule.falsepositives],
        "tags": ["kamal-siem", *(f"Data Source: Kamal {t}" for t in log_types), *tags],
        "threat": _threat(tags), "note": _note(rule, path), "index": index, "enabled": False, "max_signals": 100,
        "meta": {"kamal_siem_sigma_file": path},
    }


def _log_types(rule: SigmaRule, dictionary: FieldDictionary) -> list[str]:
    source = dictionary.logsource_of(rule.logsource.product, rule.logsource.service, rule.logsource.category)
    return [source.log_type] if source is not None else []


def elastic_rules(paths: list[Path], root: Path, dictionary: FieldDictionary, tuning: Tuning) -> list[ElasticRule]:
    backend = LuceneBackend(pipeline("elastic", dictionary, tuning))
    lucene: dict[str, str] = {}
    out: list[ElasticRule] = []
    for rule in load_in_conversion_order(paths):
        path = rule_path(rule)
        rel = path.resolve().relative_to(root.resolve()).as_posix() if path.resolve().is_relative_to(root.resolve()) else str(path)
        if isinstance(rule, SigmaRule):
            [query] = convert(backend, rule)
            lucene[str(rule.id)] = str(query)
            if not rule._output:
                continue  # a correlation's base rule: its query goes into the correlation
            body = _common(rule, rel, _log_types(rule, dictionary), dictionary)
            body.update({"type": "query", "language": "lucene", "query": str(query),
                         "interval": _duration(INTERVAL_SECONDS), "from": f"now-{_duration(INTERVAL_SECONDS + 60)}"})
            out.append(ElasticRule(path, body))
            continue
        out.append(_correlation(rule, path, rel, lucene, dictionary))
    return sorted(out, key=lambda r: (r.body or {}).get("rule_id", str(r.path)))


def _correlation(rule: SigmaCorrelationRule, path: Path, rel: str, lucene: dict[str, str],
                 dictionary: FieldDictionary) -> ElasticRule:
    count = event_count(rule)
    if count is None:
        return ElasticRule(path, refused="only an event_count over one rule with gte/gt becomes a Kibana threshold rule")
    group_by = [dictionary[f].ecs for f in count.group_by]
    if len(group_by) > 5:
        return ElasticRule(path, refused="a Kibana threshold groups by at most 5 fields")
    interval = max(60, count.seconds // 3)
    body = _common(rule, rel, _log_types(count.base, dictionary), dictionary)
    body.update({"type": "threshold", "language": "lucene", "query": lucene[str(count.base.id)],
                 "threshold": {"field": group_by, "value": count.minimum},
                 "interval": _duration(interval), "from": f"now-{_duration(count.seconds + interval)}"})
    return ElasticRule(path, body)
