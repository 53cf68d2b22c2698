"""`kamal-siem build --target elastic`: Kibana detection rules that the Kibana rule schemas accept,
with the MITRE mapping, severity and schedule from the Sigma rules, a current version lock, and
byte-identical archives from the same content."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from converter.targets.elastic import RULES_FILE, build_elastic
from converter.targets.version_lock import apply_lock, load_lock
from converter.cli import main
from converter.fields import default_dictionary
from converter.tuning import load_tuning

from .conftest import ROOT, shared_path

LOCK = ROOT / "elastic-version-lock.json"


@pytest.fixture(scope="module")
def bodies() -> list[dict]:
    result = build_elastic(ROOT / "sigma_rules", ROOT, default_dictionary(), load_tuning(), LOCK, ROOT / "dashboards")
    assert result.refused == []
    return [json.loads(line) for line in result.files[RULES_FILE].decode().splitlines()]


def test_every_rule_validates_against_the_kibana_schema_of_its_type(bodies: list[dict]) -> None:
    schemas: dict[str, jsonschema.Draft4Validator] = {}
    for body in bodies:
        if body["type"] not in schemas:
            schema = json.loads(shared_path("elastic-api-schemas", "9.5", f"9.5.{body['type']}.json").read_text())
            schemas[body["type"]] = jsonschema.Draft4Validator(schema)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in schemas[body["type"]].iter_errors(body)]
        assert errors == [], f"{body['name']}: {errors}"
    # the type is chosen per rule (elastic_rules.py): every kind is in the catalogue, and checked above
    assert set(schemas) == {"query", "eql", "esql", "threshold"}
    assert {(b["type"], b["language"]) for b in bodies} == {("query", "lucene"), ("threshold", "lucene"), ("eql", "eql"),
                                                            ("esql", "esql")}


def test_every_lucene_query_parses(bodies: list[dict]) -> None:
    from luqum.exceptions import ParseError
    from luqum.parser import parser

    lucene = [b for b in bodies if b["language"] == "lucene"]
    assert len(lucene) == 10
    for body in lucene:
        parser.parse(body["query"])  # raises on a syntax error
    with pytest.raises(ParseError):
        parser.parse('event.action:(app_exec OR "unclosed)')


def test_every_eql_query_parses_in_elasticsearch_syntax(bodies: list[dict]) -> None:
    import eql

    queries = [b["query"] for b in bodies if b["language"] == "eql"]
    assert len(queries) == 23
    with eql.parser.elasticsearch_syntax:
        for query in queries:
            eql.parse_query(query)  # raises on a syntax error
        with pytest.raises(eql.EqlSyntaxError):
            eql.parse_query('any where process.command_line : "a\\/b"')  # `\/` is no EQL escape (pySigma's trap)


def test_a_schema_violation_is_caught(bodies: list[dict]) -> None:
    for rule_type, broken in (("query", {"severity": "informational"}), ("eql", {"language": "lucene"}),
                              ("esql", {"language": "eql"}), ("threshold", {"threshold": {"field": ["user.name"], "value": "3"}})):
        schema = json.loads(shared_path("elastic-api-schemas", "9.5", f"9.5.{rule_type}.json").read_text())
        body = dict(next(b for b in bodies if b["type"] == rule_type), **broken)
        assert list(jsonschema.Draft4Validator(schema).iter_errors(body)), rule_type


def test_each_rule_gets_the_type_whose_query_means_what_sigma_means(bodies: list[dict]) -> None:
    kinds: dict[str, list[str]] = {}
    for body in bodies:
        kinds.setdefault(body["type"], []).append(body["name"])
        assert body["meta"]["kamal_siem_rule_type"].startswith(body["type"] + ":"), body["name"]
        assert ("index" in body) == (body["type"] != "esql"), body["name"]  # an ES|QL rule's FROM names its indexes
    assert {k: len(v) for k, v in kinds.items()} == {"query": 7, "eql": 23, "esql": 2, "threshold": 3}
    # Lucene where every compared value is caseless (a boolean, a field's presence) or a lowercase value
    # of a `lowercase` dictionary field
    assert sorted(kinds["query"]) == ["Forged or Odd Performer in the Kamal Audit Log", "Kamal App Put in Maintenance Mode",
                                      "Kamal Deploy Lock Bypassed (Hook Emitter)", "Kamal Hook Spool Tampered With",
                                      "Kamal Proxy Container Died or Was Paused",
                                      "Kamal Proxy Refused a Host Already Owned by Another Service",
                                      "Unknown Message in the Kamal Audit Log"]
    # ES|QL: a text field (EQL does not search them), and a correlation whose base compares kamal.command
    stopped = next(b for b in bodies if b["name"] == "Kamal App Stopped on a Protected Destination")
    assert stopped["type"] == "esql" and "EQL refuses (Elasticsearch EQL does not search text fields" in stopped["meta"]["kamal_siem_rule_type"]
    assert 'NOT (message IS NOT NULL AND TO_LOWER(message) == "app stop")' in stopped["query"]
    assert stopped["query"].startswith("FROM logs-kamal.audit-* METADATA _id, _index, _version\n| WHERE ")
    rollbacks = next(b for b in bodies if b["name"] == "Repeated Kamal Rollbacks of One Service")
    assert rollbacks["type"] == "esql" and rollbacks["query"] == (
        "FROM logs-kamal.run-*\n"
        '| WHERE (event.action == "run_start" AND TO_LOWER(kamal.command) == "rollback") AND service.name IS NOT NULL\n'
        "| STATS event_count = COUNT(*) BY service.name\n| WHERE event_count >= 3\n| KEEP event_count, service.name")
    assert (rollbacks["interval"], rollbacks["from"]) == ("4h", "now-16h")  # 3 in 12 hours: look-back = timespan + interval


def test_rules_carry_their_sigma_meaning(bodies: list[dict]) -> None:
    by_id = {b["rule_id"]: b for b in bodies}
    assert len(by_id) == len(bodies) == 35  # every alerting rule; base rules live inside their correlation
    secrets = by_id["9a41d7c3-2e5b-4f80-8d16-7b3c0e9f5a02"]
    assert (secrets["type"], secrets["language"], secrets["severity"], secrets["risk_score"]) == ("eql", "eql", "high", 73)
    assert secrets["index"] == ["logs-kamal.audit-*"] and secrets["enabled"] is False
    [threat] = secrets["threat"]
    assert threat["tactic"]["id"] == "TA0006"
    assert threat["technique"] == [{"id": "T1552", "name": "Unsecured Credentials", "reference": "https://attack.mitre.org/techniques/T1552/",
                                    "subtechnique": [{"id": "T1552.001", "name": "Credentials In Files",
                                                      "reference": "https://attack.mitre.org/techniques/T1552/001/"}]}]
    assert secrets["query"].startswith('any where (event.action : ("app_exec", "accessory_exec", "server_exec")) and ')
    assert '"*printenv*"' in secrets["query"]  # `:` compares case-insensitively: PrintEnv matches, as in Sigma
    assert "## False positives" in secrets["note"]
    repeated = by_id["b58d0a6e-1f4c-4a93-9e27-c6f3d8a1b504"]  # 3 failed runs by one performer in 15 minutes
    assert repeated["type"] == "threshold" and repeated["threshold"] == {"field": ["user.name"], "value": 3}
    assert repeated["query"] == "event.action:run_failed" and repeated["index"] == ["logs-kamal.run-*"]
    assert (repeated["interval"], repeated["from"]) == ("5m", "now-20m")  # look-back = timespan + interval


def test_the_committed_version_lock_is_current(bodies: list[dict]) -> None:
    lock = load_lock(LOCK)
    _new, changed = apply_lock([{k: v for k, v in b.items() if k != "version"} for b in bodies], lock)
    assert changed == [], "run `kamal-siem build --update-lock` and commit elastic-version-lock.json"
    assert {b["rule_id"]: b["version"] for b in bodies} == {k: v["version"] for k, v in lock.items()}


def test_a_changed_rule_gets_the_next_version(bodies: list[dict]) -> None:
    lock = load_lock(LOCK)
    body = {k: v for k, v in bodies[0].items() if k != "version"}
    changed_body = dict(body, description=body["description"] + " More.")
    _lock, changed = apply_lock([changed_body], lock)
    assert changed == [body["rule_id"]] and changed_body["version"] == lock[body["rule_id"]]["version"] + 1


def test_two_builds_give_byte_identical_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    digests = []
    for name in ("one", "two"):
        result = CliRunner().invoke(main, ["build", "--target", "elastic", "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        digests.append((tmp_path / name / "kamal-siem-elastic.zip").read_bytes())
    assert digests[0] == digests[1]
