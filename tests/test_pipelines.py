"""The pipelines generated from the field dictionary: exported as pySigma YAML, they are exactly what
the converter uses, and `sigma convert -p` (sigma-cli) works with them, strictly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from converter.cli import main
from converter.fields import default_dictionary
from converter.pipelines import TARGETS, pipeline_data
from converter.tuning import load_tuning

from .conftest import ROOT

SIGMA = Path(sys.executable).parent / "sigma"
RULE = ROOT / "sigma_rules" / "audit" / "secrets_dumped_through_a_kamal_exec.yml"
ALLOWLIST_RULE = """title: Deploy by someone else
id: 5f0c3c1e-7a39-4a61-9d0f-0a1b2c3d4e5f
status: experimental
description: An app boot by a performer outside the deployer allowlist, for the pipeline tests.
logsource: {product: kamal, service: audit}
detection:
  selection:
    action: app_boot
  allowed:
    performer|expand: '%kamal_deployers%'
  condition: selection and not allowed
level: medium
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pipelines")
    result = CliRunner().invoke(main, ["pipelines", "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def sigma_convert(backend: str, pipeline: Path, rule: Path) -> subprocess.CompletedProcess[str]:
    # no network: sigma-cli must not need it with these pipelines
    env = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    return subprocess.run([str(SIGMA), "convert", "-t", backend, "-p", str(pipeline), str(rule)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_export_is_what_the_converter_uses(exported: Path) -> None:
    for target in TARGETS:
        data = yaml.safe_load((exported / f"kamal-siem-{target}.yml").read_text())
        assert data == pipeline_data(target, default_dictionary(), load_tuning())


def test_export_is_deterministic(exported: Path, tmp_path: Path) -> None:
    CliRunner().invoke(main, ["pipelines", "export", "-o", str(tmp_path)])
    for target in TARGETS:
        assert (tmp_path / f"kamal-siem-{target}.yml").read_bytes() == (exported / f"kamal-siem-{target}.yml").read_bytes()


def test_sigma_convert_splunk(exported: Path, tmp_path: Path) -> None:
    result = sigma_convert("splunk", exported / "kamal-siem-splunk.yml", RULE)
    assert result.returncode == 0, result.stderr
    query = result.stdout.strip()
    assert query.startswith("`kamal_audit` ")  # the log source macro first
    assert 'kamal_action IN ("app_exec"' in query and 'command IN ("*printenv*"' in query  # Splunk names
    rule = tmp_path / "allowlist.yml"
    rule.write_text(ALLOWLIST_RULE)
    result = sigma_convert("splunk", exported / "kamal-siem-splunk.yml", rule)
    assert "NOT [| inputlookup kamal_deployers.csv | rename value AS user | fields user]" in result.stdout


def test_sigma_convert_elastic(exported: Path, tmp_path: Path) -> None:
    pipe = exported / "kamal-siem-elastic.yml"
    lucene = sigma_convert("lucene", pipe, RULE)
    assert lucene.returncode == 0 and "event.action:(app_exec OR accessory_exec OR server_exec)" in lucene.stdout
    esql = sigma_convert("esql", pipe, RULE)
    assert esql.returncode == 0 and esql.stdout.startswith("from logs-kamal.audit-* ")
    eql = sigma_convert("eql", pipe, RULE)
    assert eql.returncode == 0 and "process.command_line" in eql.stdout
    rule = tmp_path / "allowlist.yml"
    rule.write_text(ALLOWLIST_RULE)
    lucene = sigma_convert("lucene", pipe, rule)
    assert lucene.stdout.strip() == 'event.action:app_boot AND (NOT (user.name:(*@shop.example OR runner)))'  # tuning inlined


def test_sigma_convert_local_with_sqlite(exported: Path) -> None:
    result = sigma_convert("sqlite", exported / "kamal-siem-local.yml", RULE)
    assert result.returncode == 0 and result.stdout.startswith("SELECT * FROM logs WHERE log_type='audit' AND ")


@pytest.mark.parametrize("target,backend", [("splunk", "splunk"), ("elastic", "lucene"), ("local", "sqlite")])
def test_pipelines_are_strict(exported: Path, tmp_path: Path, target: str, backend: str) -> None:
    rule = tmp_path / "unknown.yml"
    rule.write_text(ALLOWLIST_RULE.replace("action: app_boot", "CommandLine: x"))
    result = sigma_convert(backend, exported / f"kamal-siem-{target}.yml", rule)
    assert result.returncode != 0
    assert "not in the field dictionary for the product:kamal/service:audit log source" in result.stdout + result.stderr
    rule.write_text(ALLOWLIST_RULE.replace("{product: kamal, service: audit}", "{product: windows, service: security}"))
    result = sigma_convert(backend, exported / f"kamal-siem-{target}.yml", rule)
    assert result.returncode != 0 and "none of the kamal-siem log sources" in result.stdout + result.stderr
