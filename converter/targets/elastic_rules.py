"""Sigma rules as the detection rules Kibana Security imports (NDJSON, one rule a line), each of the
Kibana rule type whose query means what the Sigma rule means, and ES|QL hunting queries.

Sigma compares strings case-insensitively and a missing field never satisfies `field: value`;
Elasticsearch keyword fields are case-sensitive in Lucene and ES|QL, and EQL and ES|QL use
three-valued logic. The type of each rule is chosen from its content (elastic_forms.py), in order:

1. `query` (Lucene, pySigma's backend) when the Lucene query is exact (lucene_exact.py): every
   string compared either has no letter with case, or is lowercase and compared with a `lowercase`
   field of the dictionary (a vocabulary our parsers write, such as the audit `action`), or is
   `|cased`; no regular expression, no string comparison on a text field. Lucene's `not` (must_not)
   already matches events without the field.
2. `eql` otherwise (elastic_eql.py): `:` and `like~` compare case-insensitively with wildcards,
   `==` only numbers, booleans, the empty string and `|cased` values; `not` is null-safe. Not for
   text fields, which Elasticsearch EQL does not search.
3. `esql` when EQL refuses (elastic_esql.py): `TO_LOWER(field)` with lowercased patterns, null-safe
   `not`; it also reads text fields (`message`).

A correlation that counts one base rule's events per group (`event_count`, `gte`/`gt`) becomes a
`threshold` rule over the base rule's Lucene query when that query is exact, and otherwise an `esql`
rule that counts the base rule's events with STATS. Both count over each run's look-back, not a
sliding window: the look-back is the Sigma timespan plus the run interval, so no burst that fits
the timespan is missed (a burst up to one interval longer may also count). Anything else is refused
by name (the report says why). `meta.kamal_siem_rule_type` says why the rule has its type.

Every single-event rule also gets an ES|QL hunting query (`hunting/<rule file stem>.esql`), to run
in Discover over any time range; correlations get none (a hunting query has no look-back to count
over, and pySigma's fixed `date_trunc` buckets are not Sigma's window), and the refusal names them.

`rule_id` is the Sigma id, severity and risk score come from the level, the MITRE mapping from the
ATT&CK tags (names from the installed ATT&CK data), the investigation guide from the rule's text.
Rules are imported disabled: an admin enables them after tuning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from ..fields import FieldDictionary
from ..offline_data import attack, attack_tags
from ..tuning import Tuning
from .elastic_esql import correlation_query, event_query
from .elastic_forms import Forms, rule_forms
from .sigma_rules import event_count, rule_path

SEVERITY = {"informational": ("low", 10), "low": ("low", 21), "medium": ("medium", 47), "high": ("high", 73),
            "critical": ("critical", 99)}
INTERVAL_SECONDS = 300  # single-event rules run every 5 minutes, looking back 6
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class ElasticRule:
    path: Path
    body: dict[str, Any] | None = None  # without `version` (the lock file gives it)
    refused: str | None = None
    log_type: str | None = None
    base: str | None = None  # a correlation's base rule (id): the events it counts
    rule_id: str = ""


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


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix() if path.resolve().is_relative_to(root.resolve()) else str(path)


def _single(form: Forms) -> tuple[dict[str, Any], str] | str:
    """The rule type, query and why that type; or why no type fits."""
    if form.lucene_exact:
        return {"type": "query", "language": "lucene", "query": form.lucene}, "query: the Lucene query is exact"
    lucene_why = _lucene_why(form)
    if form.eql is not None:
        return {"type": "eql", "language": "eql", "query": f"any where {form.eql}"}, f"eql: {lucene_why}"
    if form.esql is not None:
        query = event_query(form.index, form.esql) + "\n| KEEP _id, _index, _version, *"
        return ({"type": "esql", "language": "esql", "query": query},
                f"esql: {lucene_why}; EQL refuses ({form.refused.get('eql', '')})")
    return (f"no Kibana rule type fits: {lucene_why}; EQL refuses ({form.refused.get('eql', '')}); "
            f"ES|QL refuses ({form.refused.get('esql', '')})")


def _lucene_why(form: Forms) -> str:
    if form.lucene is None:
        return f"Lucene refuses ({form.refused.get('lucene', '')})"
    return f"Lucene is not exact ({'; '.join(form.lucene_problems)})"


@dataclass
class ElasticContent:
    rules: list[ElasticRule]
    hunting: dict[str, bytes]  # "hunting/<rule file stem>.esql" -> the query
    hunting_refused: list[tuple[str, str]]  # (rule file, why it has no hunting query)
    forms: dict[str, Forms]  # each single-event rule in each language, or why the language refuses it


def elastic_content(paths: list[Path], root: Path, dictionary: FieldDictionary, tuning: Tuning) -> ElasticContent:
    rules, forms = rule_forms(paths, dictionary, tuning)
    out: list[ElasticRule] = []
    hunting: dict[str, bytes] = {}
    hunting_refused: list[tuple[str, str]] = []
    for rule in rules:
        path = rule_path(rule)
        rel = _relative(path, root)
        if isinstance(rule, SigmaRule):
            form = forms[str(rule.id)]
            if form.esql is not None:
                hunting[f"hunting/{path.stem}.esql"] = _hunting(rule, rel, form).encode()
            else:
                hunting_refused.append((str(path), f"ES|QL: {form.refused.get('esql', '')}"))
            if not rule._output:
                continue  # a correlation's base rule: its query goes into the correlation
            chosen = _single(form)
            if isinstance(chosen, str):
                out.append(ElasticRule(path, refused=chosen, rule_id=str(rule.id)))
                continue
            fields, why = chosen
            body = _common(rule, rel, [form.log_type] if form.log_type else [], dictionary)
            body.update(fields)
            if fields["type"] == "esql":
                del body["index"]  # an ES|QL rule reads the indexes its FROM names
            body["meta"]["kamal_siem_rule_type"] = why
            body.update({"interval": _duration(INTERVAL_SECONDS), "from": f"now-{_duration(INTERVAL_SECONDS + 60)}"})
            out.append(ElasticRule(path, body, log_type=form.log_type, rule_id=str(rule.id)))
            continue
        hunting_refused.append((str(path), "a correlation: a hunting query has no look-back to count over, and ES|QL's "
                                           "fixed date_trunc buckets are not Sigma's sliding window (the Kibana rule counts "
                                           "over its look-back)"))
        out.append(_correlation(rule, path, rel, forms, dictionary))
    return ElasticContent(sorted(out, key=lambda r: (r.rule_id, str(r.path))), dict(sorted(hunting.items())),
                          sorted(hunting_refused), forms)


def elastic_rules(paths: list[Path], root: Path, dictionary: FieldDictionary, tuning: Tuning) -> list[ElasticRule]:
    return elastic_content(paths, root, dictionary, tuning).rules


def hunting_queries(paths: list[Path], root: Path, dictionary: FieldDictionary, tuning: Tuning) -> dict[str, bytes]:
    """{"hunting/<rule file stem>.esql": query} for every single-event rule ES|QL can express."""
    return elastic_content(paths, root, dictionary, tuning).hunting


def _hunting(rule: SigmaRule, rel: str, form: Forms) -> str:
    level = rule.level.name.lower() if rule.level else "medium"
    assert form.esql is not None
    return (f"// {rule.title}\n// kamal-siem Sigma rule {rel} (id {rule.id}, level {level}): an ES|QL hunting query, "
            f"to run in Discover over any time range\n{event_query(form.index, form.esql)}\n")


def _correlation(rule: SigmaCorrelationRule, path: Path, rel: str, forms: dict[str, Forms],
                 dictionary: FieldDictionary) -> ElasticRule:
    count = event_count(rule)
    if count is None:
        return ElasticRule(path, refused="only an event_count over one rule with gte/gt becomes a Kibana threshold or ES|QL rule",
                           rule_id=str(rule.id))
    base = forms[str(count.base.id)]
    group_by = [dictionary[f].ecs for f in count.group_by]
    interval = max(60, count.seconds // 3)
    body = _common(rule, rel, [base.log_type] if base.log_type else [], dictionary)
    if base.lucene_exact and len(group_by) <= 5:
        body.update({"type": "threshold", "language": "lucene", "query": base.lucene,
                     "threshold": {"field": group_by, "value": count.minimum}})
        body["meta"]["kamal_siem_rule_type"] = "threshold: the base rule's Lucene query is exact"
    elif base.esql is not None:
        body.update({"type": "esql", "language": "esql",
                     "query": correlation_query(base.index, base.esql, group_by, count.minimum)})
        del body["index"]  # an ES|QL rule reads the indexes its FROM names
        why = "a threshold groups by at most 5 fields" if base.lucene_exact else f"the base rule: {_lucene_why(base)}"
        body["meta"]["kamal_siem_rule_type"] = f"esql: {why}"
    else:
        return ElasticRule(path, refused=f"the base rule has neither an exact Lucene query nor an ES|QL one "
                                         f"({_lucene_why(base)}; ES|QL refuses ({base.refused.get('esql', '')}))",
                           rule_id=str(rule.id))
    body.update({"interval": _duration(interval), "from": f"now-{_duration(count.seconds + interval)}"})
    return ElasticRule(path, body, log_type=base.log_type, base=str(count.base.id), rule_id=str(rule.id))
