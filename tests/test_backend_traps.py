"""The upstream backend traps of DESIGN.md ("Traps already seen with the upstream backends") for
Elastic, the offline data and DuckDB. Each Elastic test shows the plain upstream backend doing what
DESIGN says (so the test notices when upstream changes) and our output doing the right thing, or a
refusal that names the rule and the target. The Splunk traps are tests/test_build_splunk.py's.

- pySigma's data downloaded at run time: `kamal-siem validate` offline is
  tests/test_validate.py::test_validate_runs_offline; the Elastic build offline is here.
- pysigma-backend-duckdb 0.1.4: not a dependency; our DuckDB backend's answer to each of its
  mistakes is a test in tests/test_duckdb_semantics.py (indexed below).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import eql
import jsonschema
import pytest
from sigma.backends.elasticsearch import EqlBackend, ESQLBackend, LuceneBackend
from sigma.collection import SigmaCollection

from converter.fields import default_dictionary
from converter.local.rules import rule_files
from converter.pipelines import pipeline
from converter.targets.elastic_rules import ElasticContent, elastic_content
from converter.tuning import load_tuning

from .conftest import ROOT, shared_path
from .test_esql import caseful_comparisons
from .test_lucene import harness, run_lucene  # noqa: F401 - the Lucene harness fixture

RULE = """title: Remote script fetched into tmp
id: 00000000-0000-4000-8000-0000000000a1
status: test
description: A trap test rule.
level: high
logsource: {product: kamal, service: audit}
detection:
  exec:
    action: app_exec
  fetch:
    cmd|re: 'curl .*/tmp/'
  dump:
    cmd|contains: printenv
  condition: exec and (fetch or dump)
"""
CORRELATED = """title: Fetch with uppercase check
id: 00000000-0000-4000-8000-0000000000a2
name: base_exec
status: test
description: A base rule whose Lucene query is not exact.
logsource: {product: kamal, service: audit}
detection:
  s:
    action: app_exec
    cmd|contains: curl
  condition: s
"""
CORRELATION = """title: Burst of {what}
id: {id}
status: test
description: A trap test correlation.
level: high
correlation:
  type: event_count
  rules: [{base}]
  group-by: [performer]
  timespan: 15m
  condition: {{gte: 3}}
"""
FAILED = """title: Kamal command failed (trap test)
id: 00000000-0000-4000-8000-0000000000a4
name: base_failed
status: test
description: A base rule whose Lucene query is exact.
logsource: {product: kamal, service: run}
detection:
  s:
    action: run_failed
  condition: s
"""
TEXTS = {"audit/fetch.yml": RULE, "audit/base_exec.yml": CORRELATED, "run/base_failed.yml": FAILED,
         "correlations/exec_burst.yml": CORRELATION.format(what="fetches", id="00000000-0000-4000-8000-0000000000a3",
                                                           base="base_exec"),
         "correlations/failed_burst.yml": CORRELATION.format(what="failures", id="00000000-0000-4000-8000-0000000000a5",
                                                             base="base_failed")}


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("traps")
    for name, text in TEXTS.items():
        (root / "sigma_rules" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "sigma_rules" / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def ours(rules_dir: Path) -> ElasticContent:
    return elastic_content(rule_files(rules_dir / "sigma_rules"), rules_dir, default_dictionary(), load_tuning())


def upstream(backend: type, *names: str, output_format: str = "default") -> Any:
    collection = SigmaCollection.from_yaml("\n---\n".join(TEXTS[n] for n in names))
    return backend(pipeline("elastic", default_dictionary(), load_tuning())).convert(collection, output_format=output_format)


def body(content: ElasticContent, rule_id: str) -> dict[str, Any]:
    [found] = [r.body for r in content.rules if r.body is not None and r.body["rule_id"] == rule_id]
    return found


def schema(rule_type: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads(shared_path("elastic-api-schemas", "9.5", f"9.5.{rule_type}.json").read_text()))


# --- EQL ------------------------------------------------------------------------------------------

def test_eql_regex_slash_escape(ours: ElasticContent, harness: Any, tmp_path: Path) -> None:  # noqa: F811
    """Upstream writes `regex~ "curl .*\\/tmp\\/"`: `\\/` is no EQL string escape (the query is
    rejected), `regex~` ignores case where Sigma's regex does not, and the Lucene regex EQL runs
    matches whole values where Sigma's searches. Ours parses and, run as a Lucene regex in real
    Lucene, matches what Python's `re.search` matches."""
    [theirs] = upstream(EqlBackend, "audit/fetch.yml")
    assert 'process.command_line regex~ "curl .*\\/tmp\\/"' in theirs
    with eql.parser.elasticsearch_syntax, pytest.raises(eql.EqlSyntaxError):
        eql.parse_query(theirs)
    query = body(ours, "00000000-0000-4000-8000-0000000000a1")["query"]
    assert body(ours, "00000000-0000-4000-8000-0000000000a1")["type"] == "eql"
    with eql.parser.elasticsearch_syntax:
        eql.parse_query(query)
    [regex] = re.findall(r'process\.command_line regex "((?:\\.|[^"\\])*)"', query)
    lucene_regex = json.loads(f'"{regex}"')  # EQL's string escapes are JSON's here: \\ \" \n
    assert lucene_regex == ".*curl [^\n]*\\/tmp\\/.*"
    values = ["curl http://x/tmp/a | sh", "echo; curl x/tmp/", "CURL http://x/tmp/", "curl x/tmpy", "a\ncurl x/tmp/",
              "curl x\n/tmp/", "curl http://x/tmp/"]
    docs = [{"_id": str(i), "process.command_line": [v]} for i, v in enumerate(values)]
    theirs_regex = "curl .*\\/tmp\\/"
    got = run_lucene(harness, tmp_path, docs, {"ours": f"process.command_line:/{lucene_regex}/",
                                               "theirs": f"process.command_line:/{theirs_regex}/"})
    sigma = {str(i) for i, v in enumerate(values) if re.search("curl .*/tmp/", v)}
    assert got["ours"] == sigma == {"0", "1", "4", "6"}
    assert got["theirs"] == {"5", "6"}  # whole values only, and Lucene's `.` takes a newline: misses 0, 1, 4, adds 5


def test_eql_siem_rule_output_for_correlations_is_invalid(ours: ElasticContent) -> None:
    """Upstream's siem_rule_ndjson for an event_count correlation: fields the Kibana schema
    rejects, `any where sequence ...` (no EQL), and a 5-minute look-back for a 15-minute window.
    Ours: a threshold rule over the base rule's exact Lucene query, valid, looking back window +
    interval (or an ES|QL rule when the base query is not exact: below)."""
    from converter.offline_data import seed_pysigma

    seed_pysigma(default_dictionary())  # upstream's siem_rule formats need ATT&CK data (the offline trap below)
    theirs = [b for b in upstream(EqlBackend, "run/base_failed.yml", "correlations/failed_burst.yml",
                                  output_format="siem_rule_ndjson") if b["rule_id"].endswith("a5")]
    [theirs_body] = theirs
    assert {e.message for e in schema("eql").iter_errors(theirs_body)} == \
        {"Additional properties are not allowed ('id', 'immutable', 'output_index' were unexpected)"}
    assert theirs_body["query"].startswith("any where sequence by user.name with maxspan=15m")
    with eql.parser.elasticsearch_syntax, pytest.raises(eql.EqlSyntaxError):
        eql.parse_query(theirs_body["query"])
    assert theirs_body["from"] == "now-5m"
    mine = body(ours, "00000000-0000-4000-8000-0000000000a5")
    assert list(schema("threshold").iter_errors(mine)) == []
    assert (mine["type"], mine["query"], mine["threshold"]) == ("threshold", "event.action:run_failed",
                                                                {"field": ["user.name"], "value": 3})
    assert (mine["interval"], mine["from"]) == ("5m", "now-20m")


# --- Lucene ---------------------------------------------------------------------------------------

def test_lucene_kibana_ndjson_hard_codes_the_beats_index(ours: ElasticContent) -> None:
    [theirs] = upstream(LuceneBackend, "run/base_failed.yml", output_format="kibana_ndjson")
    assert json.loads(theirs["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["index"] == "beats-*"
    assert theirs["references"][0]["id"] == "beats-*"
    assert body(ours, "00000000-0000-4000-8000-0000000000a5")["index"] == ["logs-kamal.run-*"]  # fields.yml's


def test_lucene_has_no_correlations(ours: ElasticContent) -> None:
    with pytest.raises(NotImplementedError, match="does not support correlation rules"):
        upstream(LuceneBackend, "run/base_failed.yml", "correlations/failed_burst.yml")
    assert body(ours, "00000000-0000-4000-8000-0000000000a5")["type"] == "threshold"


# --- ES|QL ----------------------------------------------------------------------------------------

def test_esql_correlations_use_fixed_buckets(ours: ElasticContent) -> None:
    """Upstream counts per `date_trunc(15minutes, @timestamp)` bucket: 3 failures at 10:14, 10:16
    and 10:17 fall into two buckets and never alert (tests/test_duckdb_semantics.py shows the local
    engine's window slides). Ours counts over the rule's look-back (timespan + interval), which
    holds every burst that fits the timespan; a hunting query, which has no look-back, is refused."""
    theirs = upstream(ESQLBackend, "audit/base_exec.yml", "correlations/exec_burst.yml")[-1]
    assert "| eval timebucket=date_trunc(15minutes, @timestamp) | stats event_count=count() by timebucket, user.name" in theirs
    mine = body(ours, "00000000-0000-4000-8000-0000000000a3")
    assert mine["type"] == "esql" and "date_trunc" not in mine["query"] and "timebucket" not in mine["query"]
    assert mine["query"] == ('FROM logs-kamal.audit-*\n| WHERE (event.action == "app_exec" AND TO_LOWER(process.command_line) '
                             'LIKE "*curl*") AND user.name IS NOT NULL\n| STATS event_count = COUNT(*) BY user.name\n'
                             "| WHERE event_count >= 3\n| KEEP event_count, user.name")
    assert list(schema("esql").iter_errors(mine)) == []
    refused = dict(ours.hunting_refused)
    assert set(refused) == {str(p) for p in (ours.rules[0].path.parents[2] / "sigma_rules" / "correlations").glob("*.yml")}
    assert all("fixed date_trunc buckets" in why for why in refused.values())
    # the look-back claim: with runs every `interval`, each looking back timespan + interval, some
    # run sees every event of any burst that fits the timespan (minutes, every start and spread)
    timespan, interval = 15, int(mine["interval"].removesuffix("m"))
    look_back = int(mine["from"].removeprefix("now-").removesuffix("m"))
    assert look_back == timespan + interval
    for first in range(0, 60):
        for spread in range(0, timespan + 1):
            last = first + spread
            run = -(-last // interval) * interval  # the first run at or after the last event
            assert run - look_back <= first and last <= run


def test_esql_like_is_case_sensitive(ours: ElasticContent) -> None:
    lowercase = {"event.action"}
    [theirs] = upstream(ESQLBackend, "audit/fetch.yml")
    assert 'process.command_line like "*printenv*"' in theirs
    assert caseful_comparisons(theirs, lowercase) == ['process.command_line compared case-sensitively with "*printenv*"']
    mine = ours.hunting["hunting/fetch.esql"].decode()
    assert 'TO_LOWER(process.command_line) LIKE "*printenv*"' in mine
    assert 'process.command_line RLIKE ".*curl [^\\n]*\\\\/tmp\\\\/.*"' in mine  # Lucene regex, as EQL's
    assert caseful_comparisons(mine, lowercase) == []


# --- what no Elastic language can express: refused by name ---------------------------------------

def test_a_rule_no_elastic_language_expresses_is_refused_by_name(tmp_path: Path) -> None:
    rules = tmp_path / "sigma_rules" / "audit"
    rules.mkdir(parents=True)
    (rules / "same_names.yml").write_text(RULE.replace("cmd|re: 'curl .*/tmp/'", "cmd|fieldref: performer")
                                          .replace("0000000000a1", "0000000000a9"))
    [refused] = elastic_content(rule_files(tmp_path / "sigma_rules"), tmp_path, default_dictionary(), load_tuning()).rules
    assert refused.body is None and refused.path == rules / "same_names.yml"
    assert refused.refused is not None and refused.refused.startswith("no Kibana rule type fits: ")
    assert "Lucene refuses (ES Lucene backend can't handle field references.)" in refused.refused
    assert "EQL refuses (process.command_line: EQL has no comparison for a SigmaFieldReference)" in refused.refused
    assert "ES|QL refuses (process.command_line: ES|QL has no comparison for a SigmaFieldReference)" in refused.refused


# --- pySigma's data, offline -------------------------------------------------------------------------

def test_offline_upstream_siem_rules_crash_and_the_elastic_build_does_not(rules_dir: Path) -> None:
    """In a fresh process with the network refused: upstream's siem_rule_ndjson fails to download
    ATT&CK; our build takes the ATT&CK names from the installed data (validate offline:
    tests/test_validate.py::test_validate_runs_offline)."""
    script = (
        "import json, socket, sys\n"
        "def refuse(*a, **k): raise OSError('network is off in this test')\n"
        "socket.socket.connect = refuse; socket.socket.connect_ex = refuse\n"
        "socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "from pathlib import Path\n"
        "from sigma.backends.elasticsearch import EqlBackend\n"
        "from sigma.collection import SigmaCollection\n"
        "from converter.fields import default_dictionary\n"
        "from converter.local.rules import rule_files\n"
        "from converter.pipelines import pipeline\n"
        "from converter.targets.elastic_rules import elastic_content\n"
        "from converter.tuning import load_tuning\n"
        f"root = Path({str(rules_dir)!r})\n"
        "try:\n"
        "    EqlBackend(pipeline('elastic', default_dictionary(), load_tuning())).convert(\n"
        "        SigmaCollection.from_yaml((root / 'sigma_rules/audit/fetch.yml').read_text()), output_format='siem_rule_ndjson')\n"
        "    print('UPSTREAM OK')\n"
        "except Exception as exc:\n"
        "    print('UPSTREAM', type(exc).__name__, exc)\n"
        "ROOT = Path.cwd()\n"
        "content = elastic_content(rule_files(ROOT / 'sigma_rules'), ROOT, default_dictionary(), load_tuning())\n"
        "print('OURS', json.dumps(sorted({t['tactic']['id'] for r in content.rules for t in r.body['threat']})))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(rules_dir)})
    assert result.returncode == 0, result.stderr[-2000:]
    upstream_line, ours_line = result.stdout.splitlines()
    assert upstream_line.startswith("UPSTREAM RuntimeError Failed to load MITRE ATT&CK data")
    assert "TA0006" in json.loads(ours_line.removeprefix("OURS "))
    import tests.test_validate as validate

    assert callable(validate.test_validate_runs_offline)


# --- DuckDB ---------------------------------------------------------------------------------------

DUCKDB_TRAPS = {  # pysigma-backend-duckdb 0.1.4's mistakes (DESIGN.md) -> the test our backend passes
    "case-sensitive `=`": "test_string_equality_is_case_insensitive",
    "`_` as a wildcard": "test_underscore_and_percent_are_literals",
    "null `not`": "test_not_is_null_safe",
    "correlations without a time window": "test_correlation_has_a_time_window",
    "unescaped `'` in regexes": "test_quotes_in_values_and_regexes_stay_inside_the_literal",
}


def test_every_duckdb_trap_has_its_test() -> None:
    import tests.test_duckdb_semantics as semantics

    assert all(callable(getattr(semantics, name, None)) for name in DUCKDB_TRAPS.values())
    design = shared_path("DESIGN.md").read_text()
    assert "pysigma-backend-duckdb 0.1.4: wrong semantics (case-sensitive `=`, `_` as wildcard, null `not`,\n  correlations " \
           "without a time window, unescaped `'` in regexes)" in design
