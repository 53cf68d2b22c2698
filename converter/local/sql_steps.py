"""Parser-definition conditions, derivation steps and flags as DuckDB SQL (the same meaning as
converter/parsing/rules.py and engine.py have in Python)."""

from __future__ import annotations

import re
from typing import Any

from ..parsing.redaction import Redactor
from ..parsing.rules import Condition, Step, When
from .duckdb_backend import sql_string


def column(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return sql_string(str(value))


SQL_CONDITIONS = frozenset({"present", "equals", "in", "matches", "equals_field"})  # what condition_sql can express


def condition_sql(condition: Condition) -> str:
    c = column(condition.field)
    if condition.kind == "present":
        return f"{c} IS {'NOT ' if condition.value else ''}NULL"
    if condition.kind == "equals":
        return f"{c} IS NOT DISTINCT FROM {literal(condition.value)}"
    if condition.kind == "in":
        return f"coalesce({c} IN ({', '.join(literal(v) for v in condition.value)}), FALSE)"
    if condition.kind == "matches":
        return f"coalesce(regexp_matches({c}, {sql_string(condition.value)}), FALSE)"
    if condition.kind == "equals_field":
        return f"({c} IS NOT NULL AND {c} IS NOT DISTINCT FROM {column(condition.value)})"
    raise AssertionError(condition.kind)


def when_sql(when: When) -> str:
    return " AND ".join(condition_sql(c) for c in when.conditions) or "TRUE"


def step_sql(step: Step, group_index: dict[str, int]) -> dict[str, str]:
    """The new value of each field the step sets (as `SELECT * REPLACE (...)` expressions)."""
    guard = when_sql(step.when)
    out: dict[str, str] = {}
    if step.set:
        for name, value in step.set.items():
            out[name] = f"CASE WHEN {guard} THEN {literal(value)} ELSE {column(name)} END"
    elif step.regex is not None and step.regex_field is not None:
        subject = column(step.regex_field)
        pattern = sql_string(step.regex.pattern)
        for name, index in group_index.items():
            captured = f"NULLIF(regexp_extract({subject}, {pattern}, {index}), '')"
            out[name] = f"CASE WHEN {guard} AND {captured} IS NOT NULL THEN {captured} ELSE {column(name)} END"
    elif step.strip is not None:
        name, prefix_field, separator, into = step.strip
        prefix = f"{column(prefix_field)} || {sql_string(separator)}"
        rest = f"NULLIF(substr({column(name)}, length({prefix}) + 1), '')"
        out[into] = (f"CASE WHEN {guard} AND starts_with({column(name)}, {prefix}) AND {rest} IS NOT NULL "
                     f"THEN {rest} ELSE {column(into)} END")
    else:
        names = sorted({n for _w, values in step.first for n in values})
        for name in names:
            branches = " ".join(f"WHEN {when_sql(w)} THEN {literal(values[name]) if name in values else column(name)}"
                                for w, values in step.first)
            out[name] = f"CASE WHEN {guard} THEN (CASE {branches} ELSE {column(name)} END) ELSE {column(name)} END"
    return out


# `l.raw` holds the line with its line break (the ingest shares the chunk's bytes): drop it, and one CR
BREAK_STRIPPED = ("CASE WHEN ends_with(l.raw, chr(13) || chr(10)) THEN left(l.raw, length(l.raw) - 2) "
                  "WHEN ends_with(l.raw, chr(10)) THEN left(l.raw, length(l.raw) - 1) ELSE l.raw END")


def _unnamed(pattern: str) -> str:
    return re.sub(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>", "(?:", pattern)


def redaction_sql(redactor: Redactor, text_fields: list[str]) -> list[str]:
    """`SELECT * REPLACE` items masking secrets as Redactor.text does, for the redactor's fields among
    `text_fields`: one pass of the rules' union first (most values hold no secret), then each rule."""
    any_secret = sql_string("|".join(f"(?:{_unnamed(rx.pattern)})" for _n, rx in redactor.rules))
    replacement = sql_string("\\1" + redactor.replacement + "\\3")
    items = []
    for name in redactor.fields:
        if name not in text_fields:
            continue
        expr = column(name)
        for _rule_name, rx in redactor.rules:
            expr = f"regexp_replace({expr}, {sql_string(rx.pattern)}, {replacement}, 'g')"
        items.append(f"CASE WHEN regexp_matches({column(name)}, {any_secret}) THEN {expr} ELSE {column(name)} END AS {column(name)}")
    return items
