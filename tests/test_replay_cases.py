"""Every replay case passes through the hunt engine (the exact alerts, line by line), and every rule
that alerts has a case of its own (a correlation's base rules are proven by the correlation's case)."""

from __future__ import annotations

from pathlib import Path

import pytest

from converter.fields import default_dictionary
from converter.local.rules import compile_rules
from converter.replay import find_cases, load_case, run_case
from converter.tuning import load_tuning

from .conftest import ROOT

RULES = ROOT / "sigma_rules"
CASES = find_cases(ROOT / "tests" / "replay")


@pytest.fixture(scope="module")
def ruleset():  # type: ignore[no-untyped-def]
    return compile_rules(RULES, default_dictionary(), load_tuning())


@pytest.mark.parametrize("root", CASES, ids=lambda p: p.name)
def test_case_raises_exactly_the_expected_alerts(root: Path, ruleset) -> None:  # type: ignore[no-untyped-def]
    case = load_case(root)
    result = run_case(case, RULES, default_dictionary(), load_tuning(), ruleset)
    assert not result.problems, "\n".join(str(p) for p in result.problems)
    assert case.expected.get(case.rule), f"{case.path}: the case raises nothing for its own rule"
    assert case.near_misses, f"{case.path}: a case needs near misses"


def test_every_alerting_rule_has_a_case(ruleset) -> None:  # type: ignore[no-untyped-def]
    proven = {load_case(root).rule for root in CASES}
    missing = sorted(f"{r.path.relative_to(ROOT)} ({r.id})" for r in ruleset.rules if r.alerts and r.id not in proven)
    assert not missing, f"rules without a replay case: {missing}"
