"""Secret values never reach parse output: planted secrets in the sample logs come out masked."""

from __future__ import annotations

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
    assert len(planted_in_corpus()) == 13


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
