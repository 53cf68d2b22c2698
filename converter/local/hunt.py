"""`kamal-siem hunt`: parse raw Kamal logs into DuckDB, run every rule, report alerts with their lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..fields import FieldDictionary, default_dictionary
from ..parsing.files import Options, Summary, parse_inputs
from .correlations import CorrelationRefused, run_correlation
from .events import create_events_table, to_arrow
from .rules import LEVELS, CompiledRule, RuleSet, compile_rules

EVENT_KEYS = ("source", "line", "record", "timestamp")


@dataclass
class Alert:
    rule_id: str
    title: str
    level: str
    tags: list[str]
    events: list[dict[str, Any]]
    group: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule_id": self.rule_id, "title": self.title, "level": self.level, "tags": self.tags}
        if self.group is not None:
            out["group"] = self.group
        out["events"] = self.events
        return out


@dataclass
class HuntResult:
    alerts: list[Alert] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)
    ruleset: RuleSet = field(default_factory=RuleSet)
    refused: list[tuple[CompiledRule, str]] = field(default_factory=list)
    events: int = 0


def _event_rows(con: duckdb.DuckDBPyConnection, rowids: list[int], dictionary: FieldDictionary) -> dict[int, dict[str, Any]]:
    """The events of `rowids` as parse writes them: framing first, then the non-null fields."""
    if not rowids:
        return {}
    names = [f.name for f in dictionary]
    cursor = con.execute(f"SELECT rowid, {', '.join(chr(34) + n + chr(34) for n in names)} FROM events "
                         f"WHERE rowid IN (SELECT unnest(?::BIGINT[]))", [rowids])
    out = {}
    objects = {f.name for f in dictionary if f.type == "object"}
    for row in cursor.fetchall():
        event: dict[str, Any] = {}
        for name, value in zip(names, row[1:], strict=True):
            if value is None:
                continue
            event[name] = json.loads(value) if name in objects else value
        ordered = {k: event[k] for k in EVENT_KEYS if k in event}
        ordered.update({k: v for k, v in event.items() if k not in ordered})
        out[row[0]] = ordered
    return out


def hunt(paths: list[str], rules_dir: Path, options: Options, min_level: str = "informational",
         dictionary: FieldDictionary | None = None, progress: Callable[[str], None] | None = None) -> HuntResult:
    dictionary = dictionary or default_dictionary()
    result = HuntResult()
    result.ruleset = compile_rules(rules_dir, dictionary)
    floor = LEVELS.index(min_level)
    active = [r for r in result.ruleset.rules if LEVELS.index(r.level) >= floor]
    for rule in result.ruleset.rules:
        if rule.refused:
            result.refused.append((rule, rule.refused))
    con = duckdb.connect()
    parsed = (e for e in parse_inputs(paths, options, result.summary, dictionary=dictionary) if "error" not in e)
    table = to_arrow(parsed, dictionary)
    result.events = table.num_rows
    create_events_table(con, table)
    singles = [r for r in result.ruleset.singles() if r in active]
    matches: dict[int, list[int]] = {}
    if singles:
        columns = ", ".join(f"coalesce(({r.condition}), FALSE) AS r{i}" for i, r in enumerate(singles))
        any_rule = " OR ".join(f"coalesce(({r.condition}), FALSE)" for r in singles)
        query = f"SELECT rowid, {columns} FROM events WHERE {any_rule} ORDER BY source, line, record NULLS FIRST"
        for row in con.execute(query).fetchall():
            for i, hit in enumerate(row[1:]):
                if hit:
                    matches.setdefault(i, []).append(row[0])
    pending: list[tuple[CompiledRule, list[int], dict[str, Any] | None]] = []
    for i, rule in enumerate(singles):
        pending.extend((rule, [rowid], None) for rowid in matches.get(i, []))
    for rule in result.ruleset.correlations():
        if rule not in active:
            continue
        try:
            found = run_correlation(con, rule, result.ruleset)
        except (CorrelationRefused, duckdb.Error) as exc:
            rule.refused = str(exc)
            result.refused.append((rule, str(exc)))
            continue
        group_by = [str(f) for f in (rule.rule.group_by or [])]  # type: ignore[union-attr]
        pending.extend((rule, alert.rowids, dict(zip(group_by, alert.group, strict=True))) for alert in found)
    rows = _event_rows(con, sorted({rid for _r, rids, _g in pending for rid in rids}), dictionary)
    for rule, rids, group in pending:
        events = sorted((rows[r] for r in rids), key=lambda e: (e.get("timestamp") or "", e["source"], e["line"], e.get("record", 0)))
        result.alerts.append(Alert(rule.id, rule.title, rule.level, rule.tags, events, group))
    result.alerts.sort(key=lambda a: (a.events[0].get("timestamp") or "", a.events[0]["source"], a.events[0]["line"], a.rule_id))
    return result
