"""The vendors' validators installed by `make tools` under .tools/, each in its own environment.

`make test` sets KAMAL_SIEM_REQUIRE_TOOLS=1: a missing validator then fails the test that needs it.
Run bare `pytest` without `make tools` and those tests skip, naming what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        reason = f"{what} is not installed at {path} (run `make tools`)"
        if os.environ.get("KAMAL_SIEM_REQUIRE_TOOLS") == "1":
            pytest.fail(f"KAMAL_SIEM_REQUIRE_TOOLS=1 but {reason}")
        pytest.skip(reason)
    return path


def appinspect() -> Path:
    """The splunk-appinspect command, in .tools/appinspect (it pins old libraries)."""
    return _require(TOOLS / "appinspect" / "bin" / "splunk-appinspect", "splunk-appinspect")


def dashboard_node_modules() -> Path:
    """node_modules holding @splunk/dashboard-validation and the visualization schemas."""
    return _require(TOOLS / "node" / "node_modules" / "@splunk" / "dashboard-validation", "@splunk/dashboard-validation").parents[1]


def esql_python() -> Path:
    """A Python >= 3.12 with detection-rules-esql-py (Elastic's ES|QL parser and analyzer)."""
    return _require(TOOLS / "esql" / "bin" / "python", "detection-rules-esql-py (Python >= 3.12)")


def node_modules() -> Path:
    """node_modules of tools/package.json: Splunk's dashboard validator, the Elasticsearch client's
    API types (generated from Elastic's API specification) and TypeScript to check against them."""
    return _require(TOOLS / "node" / "node_modules" / "typescript", "TypeScript and @elastic/elasticsearch").parent
