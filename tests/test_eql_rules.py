"""The Elastic rules' EQL, run for real: every single-event rule's EQL form (the 22 `eql` rules, and
the EQL of every other rule that has one), parsed in Elasticsearch's syntax and run by Elastic's
`eql` Python engine over every replay case in ECS form, matches exactly the lines the local engine
(DuckDB) matches, base rules of correlations included.

That engine compares strings case-insensitively everywhere, Elasticsearch only with `:`, `like~`,
`in~` and `regex~`: a static check makes sure the queries use case-sensitive operators only where
case cannot matter (numbers, booleans, null, the empty string), since the engine run cannot see it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import eql
import pytest

from converter.fields import default_dictionary
from converter.local.rules import rule_files
from converter.replay import find_cases
from converter.targets.elastic_forms import Forms, rule_forms
from converter.tuning import Tuning, load_tuning

from .conftest import ROOT
from .ecs_events import ecs_events
from .engines import _epoch_ns, duckdb_matches, load_corpus
from .test_differential import DIFFERS

RULES = ROOT / "sigma_rules"
_FORMS: dict[str, dict[str, Forms]] = {}


def forms(tuning: Tuning) -> dict[str, Forms]:
    key = json.dumps(tuning.vars(), sort_keys=True)
    if key not in _FORMS:
        _FORMS[key] = rule_forms(rule_files(RULES), default_dictionary(), tuning)[1]
    return _FORMS[key]


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """ECS dotted names as the nested objects of an Elasticsearch document (EQL's field paths)."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            assert isinstance(node, dict), f"{name}: {part} is a value and an object"
        assert leaf not in node, f"{name} is a value and an object"
        node[leaf] = value
    return out


def run_eql(query: str, events: list[tuple[str, str, dict[str, Any]]]) -> set[str]:
    with eql.parser.elasticsearch_syntax:
        parsed = eql.parse_query(query)
    engine = eql.PythonEngine({"time_unit": 1_000_000_000})
    found: list[Any] = []
    engine.add_output_hook(lambda result: found.extend(result.events))
    engine.add_query(parsed)
    stream = sorted(events, key=lambda e: _epoch_ns(e[2]["@timestamp"]))
    engine.stream_events([eql.Event(log_type, _epoch_ns(doc["@timestamp"]), {**nested(doc), "_where": where})
                          for where, log_type, doc in stream])
    return {event.data["_where"] for event in found}


CASES = find_cases(ROOT / "tests" / "replay")


@pytest.mark.parametrize("case_root", CASES, ids=lambda p: p.name)
def test_eql_matches_as_the_local_engine_in_every_case(case_root) -> None:  # type: ignore[no-untyped-def]
    corpus = load_corpus(case_root)
    local, _ruleset = duckdb_matches(RULES, corpus, base_rules=True)
    events = ecs_events(corpus, default_dictionary())
    compared = 0
    for rule_id, form in forms(corpus.tuning).items():
        if form.eql is None:
            assert "text" in form.refused["eql"], f"{rule_id}: {form.refused['eql']}"  # only the text-field rule
            continue
        expected = {f"{n}:{k}" for n, k in local[rule_id]}  # type: ignore[union-attr]
        got = run_eql(f"any where {form.eql}", [e for e in events if e[1] == form.log_type])
        assert got == expected, f"{form.rule.title}: EQL misses {sorted(expected - got)}, adds {sorted(got - expected)}"
        compared += 1
    assert compared == 34  # 35 single-event rules, one of which compares a text field


def test_eql_not_is_null_safe_where_upstream_eql_is_not() -> None:
    """test_differential.py records that upstream's EQL misses an Auditbeat process start without a
    parent command line (its `not` is null there); ours matches it."""
    [(engine, rule_id, case)] = [k for k in DIFFERS if k[0] == "eql"]
    missed, _why = DIFFERS[(engine, rule_id, case)]
    corpus = load_corpus(ROOT / "tests" / "replay" / case)
    form = forms(corpus.tuning)[rule_id]
    assert form.eql is not None and "(?process.parent.command_line != null and process.parent.command_line : " in form.eql
    got = run_eql(f"any where {form.eql}", [e for e in ecs_events(corpus, default_dictionary()) if e[1] == form.log_type])
    assert {f"{n}:{k}" for n, k in missed} <= got


_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|==|!=|<=|>=|[:<>(),~?]|[A-Za-z_@][\w.@]*|-?\d+(?:\.\d+)?|\S')
CASE_SENSITIVE = ("==", "!=", "in", "like")


def case_sensitive_strings(query: str) -> list[str]:
    """String literals with a letter that has case, compared by a case-sensitive operator (`==`,
    `!=`, `in`, `like` without `~`)."""
    tokens = _TOKEN.findall(query)
    found = []
    for i, token in enumerate(tokens):
        if token not in CASE_SENSITIVE or tokens[i + 1:i + 2] == ["~"]:
            continue
        j = i + 1
        operands = []
        if tokens[j] == "(":
            while tokens[j] != ")":
                j += 1
                operands.append(tokens[j])
        else:
            operands.append(tokens[j])
        found += [t for t in operands if t.startswith('"') and any(c.lower() != c.upper() for c in t)]
    return found


def test_case_sensitive_operators_only_where_case_cannot_matter() -> None:
    queries = [f"any where {f.eql}" for f in forms(load_tuning()).values() if f.eql is not None]
    assert len(queries) == 34
    for query in queries:
        assert case_sensitive_strings(query) == [], query
    assert sum(query.count(" : ") for query in queries) > 100  # they do compare strings, with `:`
    # the check sees what it must
    assert case_sensitive_strings('any where a == "X" and b : "Y" and c like~ ("Z") and d in ("k") and e != "" and f == 5') == \
        ['"X"', '"k"']
    assert case_sensitive_strings('any where a like ("x*", "Y") or b : "Q"') == ['"x*"', '"Y"']

