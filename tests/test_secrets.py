"""Secret values never reach parse output: planted secrets in the sample logs come out masked."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from converter.cli import main
from converter.errors import ContentErrors
from converter.parsing.redaction import default_redactor, load_redactor

from .conftest import ROOT

CORPUS = ROOT / "tests" / "parsers"
PLANTED = re.compile(r"[a-z]+-PLANTED-[0-9]+|cGxhbnRlZDpQTEFOVEVELTc=")


def planted_in_corpus() -> set[str]:
    found: set[str] = set()
    for path in CORPUS.rglob("*"):
        if path.is_file() and not path.name.endswith("-expected.json"):
            found.update(PLANTED.findall(path.read_text(encoding="utf-8")))
    return found


def test_the_corpus_really_holds_planted_secrets() -> None:
    assert len(planted_in_corpus()) == 17


@pytest.mark.parametrize("fmt", ["ndjson", "table"])
def test_no_planted_secret_in_any_output(fmt: str) -> None:
    result = CliRunner().invoke(main, ["parse", "--format", fmt, str(CORPUS)])
    assert result.exit_code == 0
    for secret in planted_in_corpus():
        assert secret not in result.stdout and secret not in result.stderr, secret
    assert result.stdout.count("[REDACTED]") >= 10 if fmt == "ndjson" else "REDACTED" in result.stdout


@pytest.mark.parametrize(("text", "expected"), [
    ("psql postgres://app:pw@db/shop", "psql postgres://app:[REDACTED]@db/shop"),
    ("docker login ghcr.io -u bob -p pw", "docker login ghcr.io -u bob -p [REDACTED]"),
    ("docker login -p [REDACTED] ghcr.io", "docker login -p [REDACTED] ghcr.io"),
    ("mysql -uroot -ppw shop", "mysql -uroot -p[REDACTED] shop"),
    ("RAILS_MASTER_KEY=abc bin/rails c", "RAILS_MASTER_KEY=[REDACTED] bin/rails c"),
    ("export AWS_SECRET_ACCESS_KEY='a b'; aws s3 ls", "export AWS_SECRET_ACCESS_KEY=[REDACTED]; aws s3 ls"),
    ("BW_SESSION=xyz bw get item x", "BW_SESSION=[REDACTED] bw get item x"),
    ("curl -H 'Authorization: Bearer abc' x", "curl -H 'Authorization: Bearer [REDACTED]' x"),
    ("cli --token=abc --verbose", "cli --token=[REDACTED] --verbose"),
    ("page=1&api_key=abc", "page=1&api_key=[REDACTED]"),
    ("git clone https://ghp_abc@github.com/x/y", "git clone https://[REDACTED]@github.com/x/y"),
    ("psql postgres://app:p@ss@db:5432/shop", "psql postgres://app:[REDACTED]@db:5432/shop"),
    ("docker login -ppw ghcr.io", "docker login -p[REDACTED] ghcr.io"),
    ("curl --user=admin:pw x", "curl --user=admin:[REDACTED] x"),
    ("curl -H 'X-Api-Key: k1' -H 'Cookie: sid=a; b=c' x", "curl -H 'X-Api-Key: [REDACTED]' -H 'Cookie: [REDACTED]' x"),
    ("""echo '{"password":"p","user":"u"}'""", """echo '{"password":"[REDACTED]","user":"u"}'"""),
    ("a?client_secret=s&x=1", "a?client_secret=[REDACTED]&x=1"),
    ("""echo '{"Vault/Shop/DB_PASSWORD":"p"}'""", """echo '{"Vault/Shop/DB_PASSWORD":"[REDACTED]"}'"""),
    # every value `kamal secrets fetch` printed is a secret, whatever its key
    ("""bin/kamal secrets extract DB_URL {"Shop/DB_URL":"postgres://x"}""", "bin/kamal secrets extract DB_URL [REDACTED]"),
    # not secrets: left alone
    ("docker run -p 8080:80 nginx", "docker run -p 8080:80 nginx"),
    ("bin/rails runner 'puts Token.count'", "bin/rails runner 'puts Token.count'"),
    ("printenv", "printenv"),
    ("psql postgres://app@db/shop", "psql postgres://app@db/shop"),
])
def test_redaction_rules(text: str, expected: str) -> None:
    assert default_redactor().text(text) == expected


def test_structured_values_are_masked_by_key() -> None:
    redactor = default_redactor()
    assert redactor.value("message", {"password": "p", "nested": {"api_key": "k"}, "user": "u"}) == {
        "password": "[REDACTED]", "nested": {"api_key": "[REDACTED]"}, "user": "u"}
    assert redactor.value("req_x_apikey", "k") == "[REDACTED]"


def test_bad_redaction_rule_names_file_and_line(tmp_path: Path) -> None:
    parsers = tmp_path / "parsers"
    shutil.copytree(ROOT / "parsers", parsers)
    path = parsers / "redaction.yml"
    text = path.read_text().replace("    secret: '[^ ]+'\n", "    secret: '\\S+'\n", 1)
    path.write_text(text)
    line = next(i for i, text_line in enumerate(text.splitlines(), 1) if "name: password_option" in text_line)
    with pytest.raises(ContentErrors) as info:
        load_redactor(path)
    [error] = info.value.errors
    assert error.line == line and r"escape \S" in error.reason


@pytest.mark.parametrize(("values", "expected"), [
    (["docker", "login", "ghcr.io", "-u", "dana", "-p", "pw"], ["docker", "login", "ghcr.io", "-u", "dana", "-p", "[REDACTED]"]),
    (["kamal", "app", "exec", "--password", "pw", "ls"], ["kamal", "app", "exec", "--password", "[REDACTED]", "ls"]),
    (["bash", "-c", "BW_SESSION=xyz bw get item x"], ["bash", "-c", "BW_SESSION=[REDACTED] bw get item x"]),
    (["env", "DB_PASSWORD=a b", "bin/rails", "c"], ["env", "DB_PASSWORD=[REDACTED] b", "bin/rails", "c"]),
    # not secrets: left alone
    (["docker", "run", "-p", "8080:80", "nginx"], ["docker", "run", "-p", "8080:80", "nginx"]),
    (["-p", 42, "x"], ["-p", 42, "x"]),
])
def test_a_list_is_also_read_as_an_argument_vector(values: list, expected: list) -> None:  # type: ignore[type-arg]
    """A process's arguments keep a secret in the element after its option: masked all the same."""
    assert default_redactor().value("process/entry_leader/args", values) == expected


def test_process_command_lines_are_redacted(tmp_path: Path) -> None:
    """CommandLine and ParentCommandLine (from `process.command_line`, or the arguments joined) and the
    argument lists kept in `extra` never show a planted secret."""
    secrets = ["tok-PLANTED-91", "pw-PLANTED-92", "pw-PLANTED-93", "pw-PLANTED-94"]
    events = [
        {"@timestamp": "2026-11-20T09:14:05Z", "event": {"category": ["process"], "type": ["start"], "action": "exec"},
         "process": {"executable": "/usr/bin/docker", "command_line": f"docker login ghcr.io -u dana --password {secrets[1]}",
                     "parent": {"command_line": f"bash -c 'KAMAL_REGISTRY_PASSWORD={secrets[0]} bin/kamal deploy'"},
                     "entry_leader": {"args": ["docker", "login", "-u", "dana", "-p", secrets[2]]}}},
        {"@timestamp": "2026-11-20T09:14:06Z", "event": {"category": ["process"], "type": ["start"], "action": "executed"},
         "process": {"executable": "/usr/bin/docker", "args": ["docker", "login", "-u", "dana", "-p", secrets[3]],
                     "parent": {"args": ["bash", "-c", f"KAMAL_REGISTRY_PASSWORD={secrets[0]} bin/kamal deploy"]}}},
    ]
    path = tmp_path / "endpoint-process.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    result = CliRunner().invoke(main, ["parse", "-q", str(path)])
    assert result.exit_code == 0
    for secret in secrets:
        assert secret not in result.stdout, secret
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["CommandLine"] == "docker login ghcr.io -u dana --password [REDACTED]"
    assert first["ParentCommandLine"] == "bash -c 'KAMAL_REGISTRY_PASSWORD=[REDACTED] bin/kamal deploy'"
    assert first["extra"]["process/entry_leader/args"][-2:] == ["-p", "[REDACTED]"]
    assert second["CommandLine"] == "docker login -u dana -p [REDACTED]"
    assert second["ParentCommandLine"] == "bash -c KAMAL_REGISTRY_PASSWORD=[REDACTED] bin/kamal deploy"
