"""The vendors' validators installed by `make tools` under .tools/, each in its own environment.

`make test` sets KAMAL_SIEM_REQUIRE_TOOLS=1: a missing validator then fails the test that needs it.
Run bare `pytest` without `make tools` and those tests skip, naming what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"


def missing(reason: str, required_by: str = "KAMAL_SIEM_REQUIRE_TOOLS") -> NoReturn:
    """Something a test needs is absent: skip it, or fail it when `required_by` is set to 1 (`make
    test` sets KAMAL_SIEM_REQUIRE_TOOLS, `.ci/run` KAMAL_SIEM_REQUIRE_SHARED)."""
    if os.environ.get(required_by) == "1":
        pytest.fail(f"{required_by}=1 but {reason}")
    pytest.skip(reason)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        missing(f"{what} is not installed at {path} (run `make tools`)")
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
