"""Both Splunk packages pass Splunk AppInspect as Splunk's app vetting runs it:
`splunk-appinspect inspect <package> --mode precert [--included-tags cloud] --ci`, in its own
environment (tests/tools.py). No failure, no error; every warning, manual check or skipped check
that remains is listed here with the reason it is acceptable, and one that is not listed fails.

AppInspect's exit codes with --ci: 0 clean, 103 warnings only, 101 failures (and other codes for
errors of its own).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from converter.fields import default_dictionary
from converter.targets.splunk import build_splunk
from converter.targets.splunk_app import APP
from converter.targets.splunk_ta import TA
from converter.tuning import load_tuning

from .conftest import ROOT
from .tools import appinspect

MODES = {"cloud": ["--included-tags", "cloud"], "precert": []}
OK = {"success", "not_applicable"}
EXIT = {"clean": 0, "warnings": 103, "failures": 101}

# (package, check): (why it is acceptable, text every message of the check holds, modes it is raised in)
ACCEPTED: dict[tuple[str, str], tuple[str, str, set[str]]] = {
    (TA, "check_for_indexer_synced_configs"): (
        "default/inputs.conf holds only examples, all disabled, for the forwarders that read Kamal's logs; indexers "
        "need none of it, so that Splunk Cloud (Victoria) does not sync it to them is what is wanted.",
        "default/inputs.conf will not be synced to indexers", {"precert"}),
}


def _run(package: Path, mode: str, out: Path) -> tuple[int, dict[str, Any]]:
    report = out / f"{package.name}-{mode}.json"
    proc = subprocess.run([str(appinspect()), "inspect", str(package), "--mode", "precert", *MODES[mode], "--ci",
                           "--skip-trusted-libraries-update", "--max-messages", "all", "--data-format", "json",
                           "--output-file", str(report)], capture_output=True, text=True, timeout=600, check=False)
    assert report.exists(), f"AppInspect wrote no report (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return proc.returncode, json.loads(report.read_text())


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
    """AppInspect's report for each package in each mode (each run once)."""
    tool = appinspect()  # skips or fails first when AppInspect is not installed
    assert tool.exists()
    out = tmp_path_factory.mktemp("appinspect")
    written, refused = build_splunk(ROOT / "sigma_rules", default_dictionary(), load_tuning(), out, ROOT / "dashboards")
    assert refused == []
    packages = {p.name.rsplit("-", 1)[0]: p for p in written if p.suffix == ".tgz"}
    assert set(packages) == {APP, TA}
    return {(name, mode): _run(path, mode, out) for name, path in packages.items() for mode in MODES}


def findings(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The checks whose result is not success or not_applicable, with their messages."""
    [result] = report["reports"]
    return {c["name"]: c for g in result["groups"] for c in g["checks"] if c["result"] not in OK}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("package", [APP, TA])
def test_appinspect_passes(reports: dict[tuple[str, str], tuple[int, dict[str, Any]]], package: str, mode: str) -> None:
    code, report = reports[(package, mode)]
    summary = report["reports"][0]["summary"]
    assert summary["failure"] == 0 and summary["error"] == 0 and summary.get("future_failure", 0) == 0, summary
    assert summary["success"] > 50  # it really inspected the package
    found = findings(report)
    unexplained = {name: [(m["result"], m["message"]) for m in check["messages"]] for name, check in found.items()
                   if (package, name) not in ACCEPTED or mode not in ACCEPTED[(package, name)][2]}
    assert unexplained == {}, "a finding that is not listed in ACCEPTED (fix it, or list it with the reason)"
    for name, check in found.items():
        assert check["result"] in ("warning", "manual_check", "skipped"), (name, check["result"])
        fragment = ACCEPTED[(package, name)][1]
        assert all(fragment in m["message"] for m in check["messages"]), (name, check["messages"])
    expected = {name for (p, name), (_why, _text, modes) in ACCEPTED.items() if p == package and mode in modes}
    assert set(found) == expected  # the list stays true: nothing accepted that no longer happens
    assert code == (EXIT["warnings"] if summary["warning"] else EXIT["clean"]), (code, summary)


def test_every_accepted_finding_says_why() -> None:
    for (package, check), (why, text, modes) in ACCEPTED.items():
        assert package in (APP, TA) and check.startswith("check_") and len(why) > 80 and text and modes <= set(MODES)
