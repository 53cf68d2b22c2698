"""Sigma correlation rules on DuckDB with sliding time windows.

Semantics (the same for every type): a window of `timespan` ends at each base event; it holds the
base events of the same group (the `group-by` fields, all present) from `timespan` before it up to
it, ties included. A correlation fires for every window that meets the condition; overlapping
firing windows of a group are merged into one alert, which points at every base event inside them.

- event_count: the number of base events (of all referenced rules) in the window, `gte`/`gt`;
- value_count: the number of distinct values of `condition.field` in the window, `gte`/`gt`;
- temporal: every referenced rule matched at least once in the window.
Conditions `lt`, `lte`, `eq` and `neq` are refused: with sliding windows they ask about the absence
of events, which no base event can anchor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)

from .rules import CompiledRule, RuleSet


class CorrelationRefused(ValueError):
    pass


@dataclass
class CorrelationAlert:
    rule: CompiledRule
    group: tuple[object, ...]
    rowids: list[int]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _threshold(rule: SigmaCorrelationRule) -> int:
    condition = rule.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise CorrelationRefused("only a simple condition (gte or gt a count) is supported")
    op, count = condition.op, int(condition.count)
    if op == SigmaCorrelationConditionOperator.GTE:
        return count
    if op == SigmaCorrelationConditionOperator.GT:
        return count + 1
    raise CorrelationRefused(f"condition {op.name.lower()} is not supported with sliding windows (only gte and gt)")


def correlation_sql(compiled: CompiledRule, ruleset: RuleSet) -> tuple[str, int]:
    """The query giving (rowid, ts, group..., fires) per base event, and the number of group columns."""
    rule = compiled.rule
    assert isinstance(rule, SigmaCorrelationRule)
    bases = []
    for reference in rule.rules or []:
        base = ruleset.by_reference(str(reference.reference))
        if base is None or base.condition is None:
            why = base.refused if base is not None else "no such rule"
            raise CorrelationRefused(f"referenced rule {reference.reference!r} cannot run here: {why}")
        bases.append(base)
    group = [_quote(str(f)) for f in (rule.group_by or [])]
    if rule.timespan is None:
        raise CorrelationRefused("a correlation needs a timespan")
    seconds = int(rule.timespan.seconds)
    partition = f"PARTITION BY {', '.join(group)} " if group else ""
    window = f"({partition}ORDER BY ts RANGE BETWEEN INTERVAL {seconds} SECONDS PRECEDING AND CURRENT ROW)"
    present = " AND ".join(["ts IS NOT NULL", *(f"{g} IS NOT NULL" for g in group)])
    select_group = "".join(f", {g}" for g in group)
    base_rows = " UNION ALL ".join(
        f"SELECT rowid AS rid, ts{select_group}, {i} AS base_rule FROM events WHERE ({b.condition}) AND {present}"
        for i, b in enumerate(bases))
    if rule.type == SigmaCorrelationType.EVENT_COUNT:
        measure, need = "COUNT(DISTINCT rid)", _threshold(rule)
        base_rows = f"SELECT DISTINCT * EXCLUDE (base_rule), 0 AS base_rule FROM ({base_rows})"
    elif rule.type == SigmaCorrelationType.VALUE_COUNT:
        field = rule.condition.fieldref if isinstance(rule.condition, SigmaCorrelationCondition) else None
        if not isinstance(field, str) or not field:
            raise CorrelationRefused("a value_count correlation needs one condition.field")
        need = _threshold(rule)
        base_rows = " UNION ALL ".join(
            f"SELECT rowid AS rid, ts{select_group}, {_quote(field)} AS counted, {i} AS base_rule FROM events "
            f"WHERE ({b.condition}) AND {present} AND {_quote(field)} IS NOT NULL" for i, b in enumerate(bases))
        measure = "COUNT(DISTINCT counted)"
    elif rule.type == SigmaCorrelationType.TEMPORAL:
        measure, need = "COUNT(DISTINCT base_rule)", len(bases)
    else:
        raise CorrelationRefused(f"correlation type {rule.type.name.lower()} is not supported")
    query = f"""
        WITH base AS ({base_rows})
        SELECT rid, ts{"".join(f", {g}" for g in group)}, {measure} OVER {window} >= {need} AS fires
        FROM base
    """
    return query, len(group)


def run_correlation(con: duckdb.DuckDBPyConnection, compiled: CompiledRule, ruleset: RuleSet) -> list[CorrelationAlert]:
    rule = compiled.rule
    assert isinstance(rule, SigmaCorrelationRule)
    query, _groups = correlation_sql(compiled, ruleset)
    rows = con.execute(query).fetchall()
    span = rule.timespan.seconds
    by_group: dict[tuple[object, ...], list[tuple[int, dt.datetime, bool]]] = {}
    for row in rows:
        rid, ts, *group_values, fires = row
        by_group.setdefault(tuple(group_values), []).append((rid, ts, bool(fires)))
    alerts = []
    for group_key in sorted(by_group, key=lambda k: tuple(str(v) for v in k)):
        members = sorted(set(by_group[group_key]), key=lambda m: (m[1], m[0]))
        intervals: list[tuple[dt.datetime, dt.datetime]] = []
        for _rid, ts, fires in members:
            if not fires:
                continue
            start = ts - dt.timedelta(seconds=span)
            if intervals and start <= intervals[-1][1]:
                intervals[-1] = (intervals[-1][0], ts)
            else:
                intervals.append((start, ts))
        for start, end in intervals:
            inside = sorted({rid for rid, ts, _f in members if start <= ts <= end})
            alerts.append(CorrelationAlert(compiled, group_key, inside))
    return alerts
