"""Golden parse tests: every raw sample log under tests/parsers/ against its `<file>-expected.json`.

Like elastic-package pipeline tests: the expected output is compared in full. After changing a parser,
regenerate with `pytest tests/test_golden_parse.py --update` and review the diff before committing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from converter.parsing.files import Options, Summary, parse_inputs

from .conftest import ROOT

CORPUS = ROOT / "tests" / "parsers"
SAMPLES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and not p.name.endswith("-expected.json"))


def run(relative: str) -> dict:
    summary = Summary()
    events = list(parse_inputs([relative], Options(), summary))
    [stats] = summary.sources
    return {
        "summary": {"log_type": stats.log_type, "lines": stats.lines, "parsed": stats.parsed,
                    "rejected": stats.rejected, "events": stats.events},
        "events": events,
    }


def test_every_log_type_has_samples() -> None:
    types = {p.relative_to(CORPUS).parts[0] for p in SAMPLES}
    assert types == {"audit", "run", "proxy", "docker", "process"}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_golden(sample: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    relative = sample.relative_to(ROOT).as_posix()
    actual = run(relative)
    expected_path = sample.with_name(sample.name + "-expected.json")
    if update_golden:
        expected_path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert expected_path.exists(), f"no {expected_path.name}: run pytest with --update and review it"
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert actual["summary"] == expected["summary"]
    assert len(actual["events"]) == len(expected["events"])
    for got, want in zip(actual["events"], expected["events"], strict=True):
        assert got == want, f"line {want.get('line')}"
    # the log type of every event is the one detected for the file, and the sample's folder names it
    assert actual["summary"]["log_type"] == sample.relative_to(CORPUS).parts[0]
    # every line is accounted for: parsed or rejected
    s = actual["summary"]
    assert s["parsed"] + s["rejected"] == s["lines"]
