"""The rule catalogue and the ATT&CK Navigator layer in docs/ are generated, current, deterministic,
and carry no secret value."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from converter.cli import main
from converter.offline_data import attack

from .conftest import ROOT

FILES = ("rules.md", "attack-navigator-layer.json")


def generate(out: Path) -> None:
    result = CliRunner().invoke(main, ["docs", "-o", str(out), "--rules", str(ROOT / "sigma_rules"),
                                       "--cases", str(ROOT / "tests" / "replay")])
    assert result.exit_code == 0, result.output


def test_committed_docs_are_current(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    generate(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (ROOT / "docs" / name).read_bytes(), \
            f"docs/{name} is out of date: run `kamal-siem docs`"


def test_catalogue_covers_every_rule_and_layer_is_valid(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    generate(tmp_path)
    catalogue = (tmp_path / "rules.md").read_text()
    rules = sorted((ROOT / "sigma_rules").rglob("*.yml"))
    for rule in rules:
        assert f"`{rule.relative_to(ROOT).as_posix()}`" in catalogue
    layer = json.loads((tmp_path / "attack-navigator-layer.json").read_text())
    assert layer["domain"] == "enterprise-attack" and layer["versions"]["layer"] == "4.5"
    known = attack()
    for entry in layer["techniques"]:
        technique = known.techniques[entry["techniqueID"]]
        assert entry["tactic"] in technique.tactics and 1 <= entry["score"] <= 5


def test_docs_hold_no_planted_secret(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # the secrets printed/fetched case has `kamal secrets extract` with a fetched value in its raw lines
    monkeypatch.chdir(ROOT)
    raw = "".join(p.read_text() for p in (ROOT / "tests" / "replay").rglob("*.ndjson"))
    assert "example-only" in raw
    generate(tmp_path)
    assert "example-only" not in (tmp_path / "rules.md").read_text()
