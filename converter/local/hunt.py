"""`kamal-siem hunt`: parse raw Kamal logs into DuckDB batch by batch, run every rule in one pass per
batch, keep what correlations need, then run them; report alerts with their raw lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..fields import FieldDictionary, default_dictionary
from ..parsing.definitions import default_definitions
from ..parsing.files import Options, Summary
from ..parsing.redaction import default_redactor
from .correlations import CorrelationRefused, run_correlation
from .event_batches import EventSource
from .events import row_event
from .rules import LEVELS, CompiledRule, RuleSet, compile_rules
from .sql_text import SQL_TYPES
from ..tuning import Tuning

EVENT_KEYS = ("source", "line", "record", "timestamp")
TS = "TRY_CAST(replace(replace(\"timestamp\", 'T', ' '), 'Z', '') AS TIMESTAMP)"


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


class _Rows:
    """Event rows as `kamal-siem parse` writes them: framing first, then the non-null fields."""

    def __init__(self, dictionary: FieldDictionary) -> None:
        self.dictionary = dictionary
        self.names = dictionary.column_names()  # one column for fields whose names differ only in case
        self.log_type_index = self.names.index("log_type")
        self.select = ", ".join(f'"{n}"' for n in self.names)

    def event(self, row: tuple[Any, ...]) -> dict[str, Any]:
        event = row_event(row, self.dictionary, self.log_type_index)
        ordered = {k: event[k] for k in EVENT_KEYS if k in event}
        ordered.update({k: v for k, v in event.items() if k not in ordered})
        return ordered


def hunt(paths: list[str], rules_dir: Path, options: Options, min_level: str = "informational",
         dictionary: FieldDictionary | None = None, progress: Callable[[str, int], None] | None = None,
         ruleset: RuleSet | None = None, tuning: Tuning | None = None) -> HuntResult:
    """Hunt with the rules under `rules_dir` (or an already compiled `ruleset`) and `tuning`."""
    dictionary = dictionary or default_dictionary()
    result = HuntResult()
    result.ruleset = ruleset if ruleset is not None else compile_rules(rules_dir, dictionary, tuning)
    floor = LEVELS.index(min_level)
    for rule in result.ruleset.rules:
        if rule.refused:
            result.refused.append((rule, rule.refused))
    singles = [r for r in result.ruleset.singles() if LEVELS.index(r.level) >= floor]
    correlations = [r for r in result.ruleset.correlations() if LEVELS.index(r.level) >= floor]
    bases = _correlation_bases(correlations, result)
    rows = _Rows(dictionary)
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE kept (" + ", ".join(f'"{c}" {SQL_TYPES[dictionary[c].type]}' for c in rows.names) + ", ts TIMESTAMP)")
    source = EventSource(con, default_definitions(), dictionary, default_redactor(), options, result.summary)
    source.progress = progress
    source.needed = _needed_columns(singles, bases, correlations, dictionary)
    found: list[tuple[CompiledRule, dict[str, Any]]] = []
    # every rule's condition is evaluated once per event, as a flag; the events with a flag set are
    # then read in full (single-event rules alert on them, correlations keep them). A batch holds
    # one input file, so one log type: only the rules on that log type are evaluated.
    key = [rows.names.index(n) for n in ("source", "line", "record")]
    flag_sql: dict[str | None, tuple[list[int], list[int], str]] = {}
    for view in source.batches(paths):
        result.events += con.execute(f"SELECT count(*) FROM {view}").fetchall()[0][0]
        log_type = source.log_type
        if log_type not in flag_sql:
            own = [i for i, r in enumerate(singles) if log_type in r.log_types]
            own_bases = [i for i, b in enumerate(bases) if log_type in b.log_types]
            columns = [f"coalesce(({singles[i].condition}), FALSE)" for i in own]
            columns += [f"coalesce(({bases[i].condition}), FALSE)" for i in own_bases]
            named = ", ".join(f"{c} AS _f{n}" for n, c in enumerate(columns))
            flag_sql[log_type] = (own, own_bases, named)
        own, own_bases, named = flag_sql[log_type]
        if not named:
            continue
        any_flag = " OR ".join(f"_f{n}" for n in range(len(own) + len(own_bases)))
        con.execute(f"CREATE OR REPLACE TEMP TABLE hit_rows AS SELECT * FROM "
                    f"(SELECT source, line, record, _sql, {named} FROM {view}) WHERE {any_flag}")
        hits = con.execute("SELECT * FROM hit_rows").fetchall()
        if not hits:
            continue
        full = {tuple(row[i] for i in key): row for row in source.full_rows(view, "hit_rows")}
        kept = []
        for hit in hits:
            row = full[hit[:3]]
            single_flags, base_flags = hit[4:4 + len(own)], hit[4 + len(own):]
            if any(single_flags):
                event = rows.event(row)
                found.extend((singles[i], event) for i, flag in zip(own, single_flags, strict=True) if flag)
            if any(base_flags):
                kept.append(row)
        if kept:
            con.executemany(f"INSERT INTO kept VALUES ({', '.join('?' for _ in rows.names)}, NULL)", kept)
    if bases:
        con.execute(f"UPDATE kept SET ts = {TS}")
    for rule, event in found:
        result.alerts.append(Alert(rule.id, rule.title, rule.level, rule.tags, [event]))
    if correlations:
        con.execute("CREATE TEMP TABLE events AS SELECT * FROM kept ORDER BY source, line, record NULLS FIRST")
        for rule in correlations:
            try:
                alerts = run_correlation(con, rule, result.ruleset)
            except (CorrelationRefused, duckdb.Error) as exc:
                rule.refused = str(exc)
                result.refused.append((rule, str(exc)))
                continue
            group_by = [str(f) for f in (rule.rule.group_by or [])]  # type: ignore[union-attr]
            wanted = sorted({r for a in alerts for r in a.rowids})
            by_rowid = {row[0]: rows.event(row[1:]) for row in con.execute(
                f"SELECT rowid, {rows.select} FROM events WHERE rowid IN (SELECT unnest(?::BIGINT[]))", [wanted]).fetchall()}
            for alert in alerts:
                events = sorted((by_rowid[r] for r in alert.rowids), key=_order)
                result.alerts.append(Alert(rule.id, rule.title, rule.level, rule.tags, events,
                                           dict(zip(group_by, alert.group, strict=True))))
    result.alerts.sort(key=lambda a: (*_order(a.events[0]), a.rule_id))
    return result


def _needed_columns(singles: list[CompiledRule], bases: list[CompiledRule], correlations: list[CompiledRule],
                    dictionary: FieldDictionary) -> set[str]:
    """The fields the rules read: the only ones every line needs parsed."""
    text = " ".join(r.condition or "" for r in (*singles, *bases))
    needed = {f.name for f in dictionary if f'"{f.name}"' in text}
    for rule in correlations:
        needed.update(str(f) for f in (rule.rule.group_by or []))  # type: ignore[union-attr]
        condition = getattr(rule.rule, "condition", None)
        needed.update(v for v in [getattr(condition, "fieldref", None)] if isinstance(v, str))
    return needed | {"source", "line", "record", "log_type", "timestamp"}


def _order(event: dict[str, Any]) -> tuple[str, str, int, int]:
    return (event.get("timestamp") or "", event["source"], event["line"], event.get("record", 0))


def _correlation_bases(correlations: list[CompiledRule], result: HuntResult) -> list[CompiledRule]:
    bases: list[CompiledRule] = []
    for rule in correlations:
        for reference in rule.rule.rules or []:  # type: ignore[union-attr]
            base = result.ruleset.by_reference(str(reference.reference))
            if base is not None and base.condition and base not in bases:
                bases.append(base)
    return bases
