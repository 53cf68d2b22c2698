"""The ES|QL the Elastic build writes: a hunting query for every single-event rule and the `esql`
rules, each parsed and analyzed against the ECS schema of the field dictionary (ECS names and
types, `@timestamp`) by Elastic's detection-rules-esql-py, which needs Python >= 3.12 and runs in its
own environment (tests/esql_analyze.py, `make tools`). The rules also pass detection-rules' checks
of a Kibana ES|QL rule. A static check makes sure no string is compared case-sensitively where case
could matter: ES|QL's `==`, `IN` and `LIKE` are case-sensitive, Sigma is not."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from converter.fields import default_dictionary
from converter.local.rules import rule_files
from converter.targets.elastic_fields import ecs_fields, esql_schema
from converter.targets.elastic_rules import ElasticContent, elastic_content
from converter.tuning import load_tuning

from .conftest import ROOT
from .tools import esql_python


@pytest.fixture(scope="module")
def content() -> ElasticContent:
    return elastic_content(rule_files(ROOT / "sigma_rules"), ROOT, default_dictionary(), load_tuning())


def analyze(queries: dict[str, dict[str, Any]], tmp_path: Path, schema: dict[str, str] | None = None) -> dict[str, str | None]:
    request = tmp_path / "esql-request.json"
    request.write_text(json.dumps({"schema": schema or esql_schema(default_dictionary()), "queries": queries}))
    run = subprocess.run([str(esql_python()), str(ROOT / "tests" / "esql_analyze.py"), str(request)],
                         capture_output=True, text=True, check=True)
    result: dict[str, str | None] = json.loads(run.stdout)
    return result


def test_every_single_event_rule_has_a_hunting_query_and_correlations_are_refused_by_name(content: ElasticContent) -> None:
    stems = sorted(p.stem for p in (ROOT / "sigma_rules").rglob("*.yml") if p.parent.name != "correlations")
    assert sorted(Path(name).stem for name in content.hunting) == stems and len(stems) == 35
    assert all(name.startswith("hunting/") and name.endswith(".esql") for name in content.hunting)
    assert [Path(path).parent.name for path, _why in content.hunting_refused] == ["correlations"] * 4
    assert all("fixed date_trunc buckets" in why for _path, why in content.hunting_refused)
    query = content.hunting["hunting/kamal_secrets_printed_or_fetched_on_a_deployer_machine.esql"].decode()
    assert query.startswith("// Kamal Secrets Printed or Fetched on a Deployer Machine\n// kamal-siem Sigma rule "
                            "sigma_rules/deployer/kamal_secrets_printed_or_fetched_on_a_deployer_machine.yml")
    assert ("\nFROM logs-endpoint.events.process-*, logs-system.process-*, logs-auditd_manager.auditd-*, auditbeat-*, "
            "logs-kamal.process-* METADATA _id, _index, _version\n| WHERE ") in query
    assert 'MV_CONTAINS(event.category, "process") AND MV_CONTAINS(event.type, "start")' in query
    assert ('NOT (process.parent.command_line IS NOT NULL AND TO_LOWER(process.parent.command_line) LIKE "*kamal*")'
            in query)  # null-safe not: Auditbeat records no parent command line


def test_every_esql_query_parses_and_analyzes_against_the_ecs_schema(content: ElasticContent, tmp_path: Path) -> None:
    queries = {name: {"query": data.decode(), "rule": False} for name, data in content.hunting.items()}
    rules = {r.body["rule_id"]: {"query": r.body["query"], "rule": True} for r in content.rules
             if r.body is not None and r.body["type"] == "esql"}
    assert len(queries) == 35 and len(rules) == 2
    result = analyze({**queries, **rules}, tmp_path)
    assert {name: error for name, error in result.items() if error} == {}
    assert set(result) == set(queries) | set(rules)


def test_the_analyzer_fails_on_an_unknown_field_a_type_mismatch_and_a_rule_without_metadata(tmp_path: Path) -> None:
    good = "FROM logs-kamal.proxy-* METADATA _id, _index, _version\n| WHERE http.response.status_code >= 500"
    result = analyze({
        "good": {"query": good, "rule": False},
        "unknown_field": {"query": good.replace("http.response.status_code", "http.response.status"), "rule": False},
        "type_mismatch": {"query": good.replace(">= 500", '>= "500"'), "rule": False},
        "text_vs_number": {"query": "FROM logs-kamal.audit-*\n| WHERE TO_LOWER(message) > 5", "rule": False},
        "syntax": {"query": good + " AND", "rule": False},
        "rule_without_metadata": {"query": good.replace(" METADATA _id, _index, _version", "") + "\n| KEEP *", "rule": True},
    }, tmp_path)
    assert result["good"] is None
    assert (result["unknown_field"] or "").startswith("EsqlSchemaError") and "http.response.status" in str(result["unknown_field"])
    assert (result["type_mismatch"] or "").startswith("EsqlTypeMismatchError")
    assert (result["text_vs_number"] or "").startswith("EsqlTypeMismatchError")
    assert (result["syntax"] or "").startswith("EsqlSyntaxError")
    assert (result["rule_without_metadata"] or "").startswith("EsqlSemanticError")


_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|==|!=|[(),]|[A-Za-z_@`][\w.@`]*|\S')


def caseful_comparisons(query: str, lowercase_fields: set[str]) -> list[str]:
    """`field == / IN / LIKE "..."` where the literal has a letter with case and the field is
    neither under TO_LOWER nor a `lowercase` field compared with a lowercase literal."""
    tokens = [t for t in _TOKEN.findall(query) if not t.startswith("//")]
    found = []
    for i, token in enumerate(tokens):
        if token.upper() not in ("==", "IN", "LIKE", "MV_CONTAINS"):
            continue
        if token.upper() == "MV_CONTAINS":
            field, operands, lowered = tokens[i + 2], [tokens[i + 4]], False
        else:
            lowered = tokens[i - 1] == ")" and tokens[i - 4:i - 2] == ["TO_LOWER", "("]
            field = tokens[i - 2] if lowered else tokens[i - 1]
            operands = []
            j = i + 1
            if tokens[j] == "(":
                while tokens[j] != ")":
                    j += 1
                    operands.append(tokens[j])
            else:
                operands.append(tokens[j])
        for literal in (t for t in operands if t.startswith('"')):
            cased = any(c.lower() != c.upper() for c in literal)
            if lowered and literal != literal.lower():
                found.append(f"TO_LOWER({field}) compared with {literal}")
            elif not lowered and cased and not (field in lowercase_fields and literal == literal.lower()):
                found.append(f"{field} compared case-sensitively with {literal}")
    return found


def test_strings_compare_case_insensitively_where_case_could_matter(content: ElasticContent) -> None:
    dictionary = default_dictionary()
    lowercase = {name for log_type in dictionary.log_types for name, f in ecs_fields(dictionary, log_type).items() if f.lowercase}
    queries = [data.decode() for data in content.hunting.values()] + \
        [r.body["query"] for r in content.rules if r.body is not None and r.body["type"] == "esql"]
    for query in queries:
        assert caseful_comparisons(query, lowercase) == [], query
    assert sum(q.count("TO_LOWER(") for q in queries) > 100
    # the check sees what it must: pySigma's own ES|QL for `cmd|contains: printenv`, and a lowered field with a capital
    assert caseful_comparisons('FROM x | WHERE process.command_line like "*printenv*"', lowercase) == \
        ['process.command_line compared case-sensitively with "*printenv*"']
    assert caseful_comparisons('FROM x | WHERE TO_LOWER(user.name) IN ("a", "Root") AND event.action == "app_exec"', lowercase) == \
        ['TO_LOWER(user.name) compared with "Root"']
