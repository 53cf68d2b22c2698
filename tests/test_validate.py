"""`kamal-siem validate`: passes on the repository, and fails with a precise message (file, line,
reason) on each kind of broken content."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from converter.cli import main

from .conftest import ROOT

RULE = "audit/secrets_dumped_through_a_kamal_exec.yml"
CASE = "secrets_dumped_through_a_kamal_exec"
RULE_ID = "9a41d7c3-2e5b-4f80-8d16-7b3c0e9f5a02"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", *args])
    return result.exit_code, result.stdout


@pytest.fixture()
def content(tmp_path: Path) -> Path:
    """A content folder with one rule and its replay case, the repository's tuning and settings."""
    (tmp_path / "sigma_rules" / "audit").mkdir(parents=True)
    shutil.copy(ROOT / "sigma_rules" / RULE, tmp_path / "sigma_rules" / RULE)
    shutil.copytree(ROOT / "tests" / "replay" / CASE, tmp_path / "tests" / "replay" / CASE)
    # only the one rule is here: the case expects only its alerts
    case = tmp_path / "tests" / "replay" / CASE / "case.yml"
    data = yaml.safe_load(case.read_text())
    data["expected"] = {RULE_ID: data["expected"][RULE_ID]}
    case.write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.copy(ROOT / "tuning.yml", tmp_path / "tuning.yml")
    shutil.copy(ROOT / "validation.yml", tmp_path / "validation.yml")
    return tmp_path


def issues(content: Path, *extra: str) -> tuple[int, list[dict]]:
    code, out = run(str(content / "sigma_rules"), "--format", "json", *extra)
    return code, json.loads(out)["issues"]


def test_the_repository_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out = run("--format", "json")
    report = json.loads(out)
    assert [i for i in report["issues"] if i["severity"] == "error"] == []
    assert code == 0 and report["rules"] >= 30 and report["cases"] >= 30


def test_a_sound_rule_passes(content: Path) -> None:
    code, found = issues(content)
    assert (code, [i for i in found if i["severity"] == "error"]) == (0, [])


def test_invalid_yaml_names_file_and_line(content: Path) -> None:
    path = content / "sigma_rules" / RULE
    path.write_text(path.read_text().replace("level: high", "level: [high"))
    code, found = issues(content)
    assert code == 1
    [issue] = [i for i in found if i["check"] == "yaml"]
    assert issue["path"].endswith(RULE) and issue["line"] is not None and "invalid YAML" in issue["message"]


def test_unknown_field(content: Path) -> None:
    path = content / "sigma_rules" / RULE
    text = path.read_text()
    path.write_text(text.replace("    - cmd|contains:", "    - commandline|contains:"))
    code, found = issues(content)
    field = [i for i in found if i["check"] == "field"]
    assert code == 1 and len(field) == 1
    assert "'commandline' is not in the field dictionary for audit" in field[0]["message"]
    line = next(n for n, x in enumerate(path.read_text().splitlines(), start=1) if "commandline|contains" in x)
    assert field[0]["line"] == line


def test_a_field_of_another_log_source(content: Path) -> None:
    path = content / "sigma_rules" / RULE
    path.write_text(path.read_text().replace("    - cmd|contains:", "    - http_path|contains:"))
    _code, found = issues(content)
    assert any("'http_path' is not in the field dictionary for audit (it is a field of proxy)" in i["message"] for i in found)


def test_duplicate_id(content: Path) -> None:
    other = content / "sigma_rules" / "audit" / "secrets_dumped_again.yml"
    text = (content / "sigma_rules" / RULE).read_text().replace("Secrets Dumped Through a Kamal Exec", "Secrets Dumped Again")
    other.write_text(text)
    code, found = issues(content)
    [dup] = [i for i in found if i["check"] == "unique-id"]  # files are read in name order: "again" first
    assert code == 1 and dup["path"].endswith(RULE) and "secrets_dumped_again.yml" in dup["message"] and dup["line"] == 2


def test_missing_attack_technique(content: Path) -> None:
    path = content / "sigma_rules" / RULE
    path.write_text(path.read_text().replace("  - attack.t1552.001\n", ""))
    code, found = issues(content)
    assert code == 1
    assert any(i["check"] == "attack" and "no ATT&CK technique tag" in i["message"] for i in found)


def test_attack_technique_that_does_not_exist_or_serves_another_tactic(content: Path) -> None:
    path = content / "sigma_rules" / RULE
    path.write_text(path.read_text().replace("  - attack.t1552.001\n", "  - attack.t1552.001\n  - attack.t9999\n  - attack.t1486\n"))
    _code, found = issues(content)
    messages = [i["message"] for i in found if i["check"] == "attack"]
    assert any("attack.t9999: no such technique" in m for m in messages)
    assert any("attack.t1486 (Data Encrypted for Impact) serves impact" in m for m in messages)


def test_rule_without_replay_case(content: Path) -> None:
    shutil.rmtree(content / "tests" / "replay" / CASE)
    code, found = issues(content)
    [issue] = [i for i in found if i["check"] == "replay"]
    assert code == 1 and issue["path"].endswith(RULE) and issue["rule"] == RULE_ID and "no replay case proves the rule" in issue["message"]


def test_replay_case_that_does_not_match(content: Path) -> None:
    case = content / "tests" / "replay" / CASE / "case.yml"
    case.write_text(case.read_text().replace("  - .kamal/shop-production-audit.log:6\n", "  - .kamal/shop-production-audit.log:7\n"))
    code, found = issues(content)
    replay = [i for i in found if i["check"] == "replay" and "expected but not raised" in i["message"]]
    assert code == 1 and len(replay) == 1
    assert "expected but not raised: .kamal/shop-production-audit.log:7" in replay[0]["message"]
    assert "raised but not expected: .kamal/shop-production-audit.log:6" in replay[0]["message"]
    expected_line = case.read_text().splitlines().index(f"  {RULE_ID}:") + 1
    assert replay[0]["path"].endswith("case.yml") and replay[0]["line"] == expected_line  # the rule's entry under `expected`
    # line 7 is also one of the case's near misses: listing it as a match is an error of its own
    assert any("listed both as a match and as a near miss" in i["message"] for i in found)


def test_undefined_placeholder(content: Path) -> None:
    path = content / "sigma_rules" / RULE
    path.write_text(path.read_text().replace("  condition: selection_action and selection_dump",
                                             "  filter:\n    performer|expand: '%kamal_nobody%'\n"
                                             "  condition: selection_action and selection_dump and not filter"))
    code, found = issues(content)
    assert code == 1 and any(i["check"] == "placeholder" and "%kamal_nobody%" in i["message"] for i in found)


def test_an_exception_makes_an_issue_a_warning_with_its_reason(content: Path) -> None:
    path = content / "sigma_rules" / RULE
    path.write_text(path.read_text().replace("  - attack.t1552.001\n", ""))
    config = content / "validation.yml"
    config.write_text(config.read_text().replace("exceptions: []", f"exceptions:\n  - rule: {RULE_ID}\n    check: attack\n"
                                                 "    severity: warning\n    reason: a test of the exception mechanism\n"))
    code, found = issues(content)
    [attack] = [i for i in found if i["check"] == "attack"]
    assert code == 0 and attack["severity"] == "warning" and attack["reason"] == "a test of the exception mechanism"


def test_junit_and_human_output(content: Path, tmp_path: Path) -> None:
    shutil.rmtree(content / "tests" / "replay" / CASE)
    junit = tmp_path / "junit.xml"
    code, out = run(str(content / "sigma_rules"), "--junitxml", str(junit))
    assert code == 1 and "error" in out and "no replay case proves the rule" in out and "1 error(s)" in out
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "1"
    [failed] = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed.get("name", "").endswith(RULE)


def test_validate_runs_offline(content: Path) -> None:
    """In a fresh process with every network call failing, validate still runs every check (pySigma
    and the SigmaHQ validators would download their data on first use: ours is seeded)."""
    import subprocess
    import sys

    script = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('network is off in this test')\n"
        "socket.socket.connect = refuse; socket.socket.connect_ex = refuse\n"
        "socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "from converter.cli import main\n"
        f"sys.argv = ['kamal-siem', 'validate', {str(content / 'sigma_rules')!r}, '--format', 'json']\n"
        "main()\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(content)})
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["errors"] == 0 and report["rules"] == 1 and report["cases"] == 1
