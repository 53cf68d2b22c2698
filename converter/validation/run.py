"""Run every check of `kamal-siem validate` and collect one report."""

from __future__ import annotations

from pathlib import Path

from ..errors import ContentError
from ..fields import FieldDictionary, default_dictionary
from ..local.rules import RuleSet, compile_rules, rule_files
from ..replay import find_cases, load_case, run_case
from ..tuning import Tuning, load_tuning
from .config import load_config
from .conversions import check_conversions
from .issues import Report
from .pysigma_checks import check_with_pysigma
from .rule_checks import check_attack, check_fields, check_identity, load_rule_files


def validate(rules_dir: Path, cases_dir: Path | None, tuning_path: Path | None = None, config_path: Path | None = None,
             root: Path | None = None, dictionary: FieldDictionary | None = None) -> Report:
    dictionary = dictionary or default_dictionary()
    report = Report(root or Path.cwd())
    try:
        tuning: Tuning = load_tuning(tuning_path)
    except ContentError as exc:
        report.add("error", "tuning", exc.path, exc.line, exc.reason)
        return report
    try:
        config = load_config(config_path)
    except ContentError as exc:
        report.add("error", "config", exc.path, exc.line, exc.reason)
        return report
    paths = rule_files(rules_dir)
    files = load_rule_files(paths, report)
    report.rules = {report.relative(f.path): f.id or "" for f in files}
    check_identity(files, report)
    check_attack(files, report)
    check_fields(files, dictionary, tuning, report)
    sound = [f.path for f in files if f.rule is not None and not f.rule.errors]
    check_with_pysigma(sound, dictionary, config, report)
    ruleset = compile_rules(rules_dir, dictionary, tuning)
    for err in ruleset.errors:
        report.add("error", "sigma", err.path, err.line, err.reason)
    check_conversions(sound, dictionary, tuning, ruleset, report)
    _check_cases(rules_dir, cases_dir, dictionary, tuning, ruleset, report)
    kept = []
    for issue in report.issues:
        applied = config.apply(issue)
        if applied is not None:
            kept.append(applied)
    report.issues = kept
    report.sort()
    return report


def _check_cases(rules_dir: Path, cases_dir: Path | None, dictionary: FieldDictionary, tuning: Tuning, ruleset: RuleSet,
                 report: Report) -> None:
    proven: set[str] = set()
    roots = find_cases(cases_dir) if cases_dir is not None and cases_dir.is_dir() else []
    for root in roots:
        report.cases.append(report.relative(root))
        try:
            case = load_case(root)
        except ContentError as exc:
            report.add("error", "replay", exc.path, exc.line, exc.reason)
            continue
        result = run_case(case, rules_dir, dictionary, tuning, ruleset)
        for problem in result.problems:
            report.add("error", "replay", problem.path, problem.line, problem.reason, case.rule)
        if not case.expected.get(case.rule):
            report.add("error", "replay", case.path, case.lines["rule"], "the case raises no alert of its own rule", case.rule)
        if not case.near_misses:
            report.add("error", "replay", case.path, case.lines["near_misses"], "the case has no near misses", case.rule)
        if case.expected.get(case.rule) and result.got.get(case.rule, set()) == case.expected[case.rule]:
            proven.add(case.rule)
    for compiled in ruleset.rules:
        if compiled.alerts and compiled.id not in proven:
            report.add("error", "replay", compiled.path, None,
                       "no replay case proves the rule: none has `rule: <its id>` and raises exactly its expected alerts", compiled.id)
