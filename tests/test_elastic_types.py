"""How the Elastic build picks each rule's Kibana type (elastic_rules.py), from the rule's content
alone, and what the choice rests on: the dictionary's `lowercase` fields hold lowercase values in
every parsed corpus, and Sigma regexes become Lucene regexes or are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.types import SigmaRegularExpression, SigmaRegularExpressionFlag

from converter.errors import ContentErrors
from converter.fields import default_dictionary, load_field_dictionary
from converter.local.rules import rule_files
from converter.parsing.files import Options, Summary, parse_inputs
from converter.targets.elastic_rules import ElasticContent, elastic_content
from converter.targets.lucene_regex import LuceneRegexError, lucene_regex
from converter.tuning import load_tuning

from .conftest import ROOT

HEADER = """title: {title}
id: 00000000-0000-4000-8000-{n:012d}
status: test
description: A rule of the type-choice test.
level: medium
logsource: {logsource}
detection:
"""
AUDIT, PROXY = "{product: kamal, service: audit}", "{product: kamal, service: proxy}"
CASES = {  # title -> (log source, detection, the type the build must choose)
    "lowercase value of a lowercase field": (AUDIT, "  s:\n    action: app_exec\n  condition: s\n", "query"),
    "capitals on a lowercase field": (AUDIT, "  s:\n    action: App_Exec\n  condition: s\n", "eql"),
    "caseless values": (PROXY, "  s:\n    action: request\n    http_status|gte: 500\n    target: ''\n  condition: s\n", "query"),
    "cased on purpose": (AUDIT, "  s:\n    cmd|cased: Printenv\n  condition: s\n", "eql"),  # upstream Lucene refuses |cased
    "a command line": (AUDIT, "  s:\n    cmd|contains: printenv\n  condition: s\n", "eql"),
    "a caseless command line": (AUDIT, "  s:\n    cmd|endswith: ' /'\n  condition: s\n", "query"),
    "a destination": (AUDIT, "  s:\n    destination: production\n  condition: s\n", "eql"),
    "a regular expression": (AUDIT, "  s:\n    cmd|re: '^rm -rf /'\n  condition: s\n", "eql"),
    "a text field": (AUDIT, "  s:\n    message|contains: stop\n  condition: s\n", "esql"),
    "a list field, exact": (AUDIT, "  s:\n    performer_flags: brackets\n  condition: s\n", "query"),
    "a list field, with capitals": (AUDIT, "  s:\n    performer_flags: Brackets\n  condition: s\n", "eql"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ElasticContent:
    root = tmp_path_factory.mktemp("types")
    (root / "sigma_rules").mkdir()
    for n, (title, (logsource, detection, _type)) in enumerate(CASES.items(), start=1):
        (root / "sigma_rules" / f"r{n:02d}.yml").write_text(HEADER.format(title=title, n=n, logsource=logsource) + detection)
    return elastic_content(rule_files(root / "sigma_rules"), root, default_dictionary(), load_tuning())


def test_each_rule_type_follows_from_the_rule(built: ElasticContent) -> None:
    chosen = {r.body["name"]: r.body["type"] for r in built.rules if r.body is not None}
    assert chosen == {title: rule_type for title, (_l, _d, rule_type) in CASES.items()}
    by_name = {r.body["name"]: r.body for r in built.rules if r.body is not None}
    assert by_name["capitals on a lowercase field"]["query"] == 'any where event.action : "App_Exec"'
    assert by_name["a regular expression"]["query"] == 'any where process.command_line regex "rm \\\\-rf \\\\/.*"'
    assert by_name["a list field, with capitals"]["query"] == 'any where kamal.performer_flags : "Brackets"'
    assert by_name["cased on purpose"]["query"] == 'any where process.command_line == "Printenv"'
    assert "Lucene refuses (Case-sensitive string matching is not supported by backend." in \
        by_name["cased on purpose"]["meta"]["kamal_siem_rule_type"]


def test_es_ql_refuses_a_case_insensitive_match_in_a_list_field_by_name(built: ElasticContent) -> None:
    refused = dict(built.hunting_refused)
    assert len(refused) == 1
    [(path, why)] = refused.items()
    assert path.endswith("r11.yml")
    assert why.startswith("ES|QL: kamal.performer_flags can hold several values, which ES|QL compares as null")
    assert 'MV_CONTAINS(kamal.performer_flags, "brackets")' in built.hunting["hunting/r10.esql"].decode()


def _parsed(paths: list[Path]) -> list[dict]:
    return [e for e in parse_inputs([str(p) for p in paths], Options(), Summary()) if "error" not in e]


def test_lowercase_fields_hold_lowercase_values_in_every_parsed_corpus() -> None:
    dictionary = default_dictionary()
    lowercase = [f.name for f in dictionary if f.lowercase]
    assert set(lowercase) == {"log_type", "action", "outcome", "performer_flags", "proxy_command", "container_kind",
                              "health_status"}
    corpora = [ROOT / "samples", ROOT / "tests" / "replay", ROOT / "tests" / "parsers"]
    files = sorted(p for c in corpora for p in c.rglob("*") if p.is_file() and not p.name.endswith((".yml", ".json")))
    events = _parsed(files)
    assert len(events) > 500
    seen: dict[str, set[str]] = {name: set() for name in lowercase}
    for event in events:
        for name in lowercase:
            values = event.get(name)
            for value in values if isinstance(values, list) else [values] if values is not None else []:
                assert value == value.lower(), f"{event['source']}:{event['line']}: {name} = {value!r}"
                seen[name].add(value)
    assert all(seen.values()), {k: v for k, v in seen.items() if not v}


def test_the_dictionary_refuses_lowercase_on_other_fields(tmp_path: Path) -> None:
    text = (ROOT / "parsers" / "fields.yml").read_text()
    broken = text.replace("    example: app_boot\n", "    example: App_Boot\n", 1)
    broken = broken.replace("  - name: runtime\n    type: double\n", "  - name: runtime\n    type: double\n    lowercase: true\n", 1)
    assert broken.count("lowercase: true") == text.count("lowercase: true") + 1 and "App_Boot" in broken
    (tmp_path / "fields.yml").write_text(broken)
    with pytest.raises(ContentErrors) as raised:
        load_field_dictionary(tmp_path / "fields.yml")
    messages = [e.reason for e in raised.value.errors]
    assert "field 'runtime': `lowercase` is for keyword fields whose example is lowercase" in messages
    assert "field 'action': `lowercase` is for keyword fields whose example is lowercase" in messages


@pytest.mark.parametrize(("regex", "flags", "lucene"), [
    ("curl .*/tmp/", set(), ".*curl [^\n]*\\/tmp\\/.*"),
    ("^rm -rf /$", set(), "rm \\-rf \\/"),
    ("(?i)printenv", set(), ".*[pP][rR][iI][nN][tT][eE][nN][vV].*"),
    ("printenv", {SigmaRegularExpressionFlag.IGNORECASE}, ".*[pP][rR][iI][nN][tT][eE][nN][vV].*"),
    ("a.b", {SigmaRegularExpressionFlag.DOTALL}, ".*a.b.*"),
    (r"\d{2,3}|x+?", set(), ".*([0-9]{2,3}|x+).*"),
    (r"[^\s@]+@", set(), ".*[^ \t\n\x0c\r\\@]+\\@.*"),
    (r"[a-c]\D", set(), ".*[a-c][^0-9].*"),
])
def test_sigma_regexes_become_lucene_regexes(regex: str, flags: set, lucene: str) -> None:
    value = SigmaRegularExpression(regex)
    value.flags = flags
    assert lucene_regex(value) == lucene


@pytest.mark.parametrize(("regex", "flags", "reason"), [
    (r"\bsudo\b", set(), "an anchor or word boundary that is not at an end"),
    ("(?=a)b", set(), "assert"),
    (r"(a)\1", set(), "groupref"),
    ("^a", {SigmaRegularExpressionFlag.MULTILINE}, r"the m \(multi-line\) flag"),
    (r"[\Da]", set(), "a negated class shorthand"),
])
def test_what_lucene_regexes_lack_is_refused_by_name(regex: str, flags: set, reason: str) -> None:
    value = SigmaRegularExpression(regex)
    value.flags = flags
    with pytest.raises(LuceneRegexError, match=reason):
        lucene_regex(value)
