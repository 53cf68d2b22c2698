"""Sigma semantics of the DuckDB backend, one test per known upstream mistake (DESIGN.md "Traps",
pysigma-backend-duckdb 0.1.4): each fails if the mistake comes back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sigma.collection import SigmaCollection

from converter.fields import default_dictionary
from converter.local.correlations import run_correlation
from converter.local.events import create_events_table, to_arrow
from converter.local.rules import compile_rules

HEADER = """title: {title}
id: {id}
logsource: {{product: kamal, service: audit}}
"""


def events_db(events: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    rows = [{"source": "t.log", "line": i + 1, "log_type": "audit", **e} for i, e in enumerate(events)]
    create_events_table(con, to_arrow(rows, default_dictionary()))
    return con


def matching_lines(tmp_path: Path, detection: str, events: list[dict[str, Any]]) -> list[int]:
    rule = HEADER.format(title="t", id="00000000-0000-4000-8000-000000000001") + detection
    (tmp_path / "r.yml").write_text(rule)
    ruleset = compile_rules(tmp_path, default_dictionary())
    [compiled] = ruleset.rules
    assert compiled.refused is None, compiled.refused
    con = events_db(events)
    rows = con.execute(f"SELECT line FROM events WHERE coalesce(({compiled.condition}), FALSE) ORDER BY line").fetchall()
    return [r[0] for r in rows]


def test_string_equality_is_case_insensitive(tmp_path: Path) -> None:
    detection = "detection:\n  s:\n    action: APP_Exec\n  condition: s\n"
    assert matching_lines(tmp_path, detection, [{"action": "app_exec"}, {"action": "app_boot"}]) == [1]


def test_cased_modifier_is_case_sensitive(tmp_path: Path) -> None:
    detection = "detection:\n  s:\n    cmd|cased: Printenv\n  condition: s\n"
    assert matching_lines(tmp_path, detection, [{"cmd": "printenv"}, {"cmd": "Printenv"}]) == [2]


def test_underscore_and_percent_are_literals(tmp_path: Path) -> None:
    detection = "detection:\n  s:\n    cmd:\n      - 'a_c'\n      - '50%'\n  condition: s\n"
    events = [{"cmd": "abc"}, {"cmd": "a_c"}, {"cmd": "50%"}, {"cmd": "500"}, {"cmd": "50% off"}]
    assert matching_lines(tmp_path, detection, events) == [2, 3]


def test_sigma_wildcards(tmp_path: Path) -> None:
    detection = "detection:\n  s:\n    cmd: 'cat ?proc*environ'\n  condition: s\n"
    events = [{"cmd": "cat /proc/1/environ"}, {"cmd": "cat proc/1/environ"}, {"cmd": "cat //proc/environ"}]
    assert matching_lines(tmp_path, detection, events) == [1]


def test_backslash_is_a_literal(tmp_path: Path) -> None:
    detection = "detection:\n  s:\n    cmd|contains: 'a\\\\b'\n  condition: s\n"
    assert matching_lines(tmp_path, detection, [{"cmd": "x a\\b y"}, {"cmd": "x ab y"}]) == [1]


def test_not_is_null_safe(tmp_path: Path) -> None:
    detection = "detection:\n  s:\n    action: app_boot\n  f:\n    destination: production\n  condition: s and not f\n"
    events = [{"action": "app_boot", "destination": "production"}, {"action": "app_boot"},
              {"action": "app_boot", "destination": "staging"}]
    assert matching_lines(tmp_path, detection, events) == [2, 3]


def test_missing_field_does_not_satisfy_a_value(tmp_path: Path) -> None:
    detection = "detection:\n  s:\n    destination|startswith: prod\n  condition: s\n"
    assert matching_lines(tmp_path, detection, [{"action": "x"}, {"destination": "production"}]) == [2]


def test_quotes_in_values_and_regexes_stay_inside_the_literal(tmp_path: Path) -> None:
    detection = "detection:\n  s:\n    cmd|contains: \"it's\"\n  r:\n    cmd|re: \"^echo '.*'$\"\n  condition: s or r\n"
    events = [{"cmd": "say it's fine"}, {"cmd": "echo 'hi'"}, {"cmd": "echo hi"}]
    assert matching_lines(tmp_path, detection, events) == [1, 2]


def test_list_fields_match_any_element(tmp_path: Path) -> None:
    detection = "detection:\n  s:\n    performer_flags: tag_mismatch\n  condition: s\n"
    events = [{"performer_flags": ["brackets", "tag_mismatch"]}, {"performer_flags": ["brackets"]}, {}]
    assert matching_lines(tmp_path, detection, events) == [1]


def test_exists_and_null(tmp_path: Path) -> None:
    detection = "detection:\n  s:\n    role|exists: true\n  n:\n    destination: null\n  condition: s and n\n"
    events = [{"role": "web"}, {"role": "web", "destination": "production"}, {}]
    assert matching_lines(tmp_path, detection, events) == [1]


@pytest.mark.parametrize(("detection", "reason"), [
    ("detection:\n  s:\n    cmd|re: '(?=x)x'\n  condition: s\n", "RE2"),
    ("detection:\n  s:\n    - printenv\n  condition: s\n", "keywords"),
    ("detection:\n  s:\n    commandline: x\n  condition: s\n", "not in the field dictionary"),
])
def test_what_cannot_be_expressed_is_refused_by_name(tmp_path: Path, detection: str, reason: str) -> None:
    (tmp_path / "r.yml").write_text(HEADER.format(title="Refused rule", id="00000000-0000-4000-8000-000000000002") + detection)
    [compiled] = compile_rules(tmp_path, default_dictionary()).rules
    assert compiled.refused is not None and reason in compiled.refused
    assert compiled.title == "Refused rule" and compiled.path.name == "r.yml"


# --- correlations: a time window, and sliding, not fixed buckets -----------------------------------------

BASE = HEADER.format(title="base", id="00000000-0000-4000-8000-00000000000a") + """name: base
detection:
  s:
    action: app_exec
  condition: s
---
title: corr
id: 00000000-0000-4000-8000-00000000000b
correlation:
  type: {type}
  rules: [base]
  group-by: [performer]
  timespan: 15m
  condition: {condition}
"""


def correlated(tmp_path: Path, minutes: list[int], kind: str = "event_count", condition: str = "{gte: 2}",
               values: list[str] | None = None) -> list[list[int]]:
    (tmp_path / "r.yml").write_text(BASE.replace("{type}", kind).replace("{condition}", condition))
    ruleset = compile_rules(tmp_path, default_dictionary())
    start = dt.datetime(2026, 10, 1, 10, 0)
    events = [{"action": "app_exec", "performer": "bob", "cmd": (values or [""] * len(minutes))[i],
               "timestamp": (start + dt.timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ")} for i, m in enumerate(minutes)]
    con = events_db(events)
    [corr] = ruleset.correlations()
    return [[r + 1 for r in alert.rowids] for alert in run_correlation(con, corr, ruleset)]


def test_correlation_has_a_time_window(tmp_path: Path) -> None:
    assert correlated(tmp_path, [0, 60, 120]) == []


def test_correlation_windows_slide(tmp_path: Path) -> None:
    # 10:14 and 10:16 are 2 minutes apart but in different fixed 15-minute buckets
    assert correlated(tmp_path, [14, 16]) == [[1, 2]]


def test_overlapping_windows_make_one_alert_with_every_line(tmp_path: Path) -> None:
    assert correlated(tmp_path, [0, 10, 20, 90]) == [[1, 2, 3]]


def test_value_count_counts_distinct_values(tmp_path: Path) -> None:
    condition = "{gte: 3, field: cmd}"
    assert correlated(tmp_path, [0, 1, 2, 3], "value_count", condition, ["a", "b", "a", "b"]) == []
    assert correlated(tmp_path, [0, 1, 2], "value_count", condition, ["a", "b", "c"]) == [[1, 2, 3]]


def test_absence_conditions_are_refused(tmp_path: Path) -> None:
    from converter.local.correlations import CorrelationRefused

    with pytest.raises(CorrelationRefused, match="only gte and gt"):
        correlated(tmp_path, [0], condition="{lt: 2}")


def test_sigma_collection_is_used_for_parsing() -> None:
    assert SigmaCollection  # pySigma does the rule parsing; our code only converts
