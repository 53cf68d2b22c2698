"""Shared test fixtures: the repository root, ../shared, and `--update` for golden files."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tools import missing

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update", action="store_true", default=False,
                     help="Rewrite the golden *-expected.json files from the current parser output (review the diff!).")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update"))


def shared_path(*parts: str) -> Path:
    """A file under ../shared; skips the test when ../shared is absent (a user's fresh clone), except in CI."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        missing(f"{path} is not here (../shared is beside the project only in CI and development)", "KAMAL_SIEM_REQUIRE_SHARED")
    return path
