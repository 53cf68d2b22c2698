"""The Elastic rules' Lucene queries, run in real Lucene (Debian's liblucene8-java, the harness in
tests/lucene/ with keyword analysis as on ECS keyword fields and numbers as points) over every replay
case in ECS form: each `query` rule, and the base query of each `threshold` rule, matches exactly the
lines the local engine (DuckDB) matches, or KNOWN names the rule, the case and the reason (checked
to still hold, so a fix shows up).

The build gives a rule a Lucene query only where Lucene's case-sensitive matching cannot differ from
Sigma's (elastic_rules.py); the other rules' queries run in tests/test_eql_rules.py and the ES|QL
analyzer. A control below shows the harness does see case: a case-sensitive query misses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from converter.fields import default_dictionary
from converter.local.rules import rule_files
from converter.replay import find_cases
from converter.targets.elastic_rules import ElasticContent, elastic_content
from converter.tuning import Tuning

from .conftest import ROOT
from .lucene_harness import compile_harness
from .ecs_events import ecs_events
from .engines import duckdb_matches, load_corpus

RULES = ROOT / "sigma_rules"

# (rule id, case) -> (lines Lucene misses, lines Lucene adds, why): the differences we know of, each
# checked to still be exactly this. None remain: the rules whose Lucene query could differ from
# Sigma's by case are EQL or ES|QL rules now, and the harness reads numeric ranges as
# Elasticsearch's query_string does.
KNOWN: dict[tuple[str, str], tuple[set[str], set[str], str]] = {}
Harness = tuple[list[str], str]  # the java command, the file naming the numeric fields


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    out = tmp_path_factory.mktemp("lucene")
    command = compile_harness(out)
    numeric = out / "numeric.json"
    numeric.write_text(json.dumps(sorted(f.ecs for f in default_dictionary() if f.type in ("long", "double"))))
    return command, str(numeric)


def run_lucene(harness: Harness, tmp_path: Path, docs: list[dict], queries: dict[str, str]) -> dict[str, set[str]]:
    """Query id -> the `_id`s of the documents it matches."""
    command, numeric = harness
    (tmp_path / "docs.ndjson").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (tmp_path / "queries.ndjson").write_text("".join(json.dumps({"id": i, "query": q}) + "\n" for i, q in queries.items()))
    run = subprocess.run([*command, str(tmp_path / "docs.ndjson"), str(tmp_path / "queries.ndjson"), numeric],
                         capture_output=True, text=True, check=True)
    got: dict[str, set[str]] = {i: set() for i in queries}
    for line in run.stdout.splitlines():
        query_id, _, where = line.partition("\t")
        assert not where.startswith("PARSE_ERROR"), f"{query_id}: {where}"
        got[query_id].add(where)
    return got


def lucene_docs(events: list[tuple[str, str, dict]], log_type: str) -> list[dict]:
    """Keyword values as strings (booleans as Elasticsearch writes them), numbers as they are."""
    docs = []
    for where, event_log_type, event in events:
        if event_log_type != log_type:
            continue
        doc: dict = {"_id": where}
        for name, value in event.items():
            values = value if isinstance(value, list) else [value]
            doc[name] = [("true" if v else "false") if isinstance(v, bool) else str(v) for v in values]
        docs.append(doc)
    return docs


_CONTENT: dict[str, ElasticContent] = {}


def content(tuning: Tuning) -> ElasticContent:
    key = json.dumps(tuning.vars(), sort_keys=True)
    if key not in _CONTENT:
        _CONTENT[key] = elastic_content(rule_files(RULES), ROOT, default_dictionary(), tuning)
    return _CONTENT[key]


def lucene_queries(elastic: ElasticContent) -> dict[str, tuple[str, str, str]]:
    """Per rule id whose matches the Lucene query decides: (query, log type, the rule the local
    engine runs for it): a query rule itself, a threshold rule's base rule."""
    return {rule.body["rule_id"]: (rule.body["query"], str(rule.log_type), rule.base or rule.body["rule_id"])
            for rule in elastic.rules if rule.body is not None and rule.body["language"] == "lucene"}


def test_query_and_threshold_rules_match_in_lucene_as_in_the_local_engine(harness: Harness, tmp_path: Path) -> None:
    dictionary = default_dictionary()
    seen_known = set()
    problems = []
    compared = 0
    for case_root in find_cases(ROOT / "tests" / "replay"):
        corpus = load_corpus(case_root)
        local, _ruleset = duckdb_matches(RULES, corpus, base_rules=True)
        events = ecs_events(corpus, dictionary)
        queries = lucene_queries(content(corpus.tuning))
        for log_type in dictionary.logsources:
            own = {i: q for i, (q, t, _b) in queries.items() if t == log_type}
            docs = lucene_docs(events, log_type)
            if not own or not docs:
                continue
            got = run_lucene(harness, tmp_path, docs, own)
            for rule_id in own:
                base = queries[rule_id][2]
                expected = {f"{n}:{k}" for n, k in local[base]}  # type: ignore[union-attr]
                key = (rule_id, case_root.name)
                compared += 1
                if key in KNOWN:
                    missing, extra, _why = KNOWN[key]
                    seen_known.add(key)
                    assert (expected - got[rule_id], got[rule_id] - expected) == (missing, extra), f"{key}: update KNOWN"
                elif got[rule_id] != expected:
                    problems.append(f"{rule_id} in {case_root.name}: Lucene misses {sorted(expected - got[rule_id])}, "
                                    f"adds {sorted(got[rule_id] - expected)}")
    assert problems == [], "\n".join(problems)
    assert seen_known == set(KNOWN), f"KNOWN entries no case exercises: {set(KNOWN) - seen_known}"
    assert compared >= 8  # every query and threshold rule ran over at least its own case's log type


def test_the_harness_sees_case_and_reads_numeric_ranges_as_query_string_does(harness: Harness, tmp_path: Path) -> None:
    """Controls: what made the old Lucene rules differ is still visible to the harness, so the
    agreement above is not the harness's blindness."""
    docs = [{"_id": "upper", "process.command_line": ["DROP DATABASE shop"], "process.exit_code": ["137"]},
            {"_id": "lower", "process.command_line": ["drop database shop"], "process.exit_code": ["0"]}]
    got = run_lucene(harness, tmp_path, docs, {
        "wildcard": "process.command_line:*drop\\ database*",  # upstream's Lucene for `cmd|contains: drop database`
        "above_zero": "process.exit_code:>0", "at_least": "process.exit_code:>=137", "range": "process.exit_code:[1 TO 200]",
        "exact": "process.exit_code:0"})
    assert got == {"wildcard": {"lower"}, "above_zero": {"upper"}, "at_least": {"upper"}, "range": {"upper"}, "exact": {"lower"}}
