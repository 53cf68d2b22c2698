"""pySigma's validators and the SigmaHQ ones, run offline on every rule (their data seeded first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.plugins import InstalledSigmaPlugins
from sigma.validators.base import SigmaValidationIssueSeverity

from ..fields import FieldDictionary
from ..offline_data import seed_pysigma
from .config import ValidationConfig
from .issues import Report


def installed_validators() -> dict[str, Any]:
    return dict(InstalledSigmaPlugins.autodiscover(include_backends=False, include_pipelines=False).validators)


def check_with_pysigma(paths: list[Path], dictionary: FieldDictionary, config: ValidationConfig, report: Report) -> None:
    seed_pysigma(dictionary)
    validators = installed_validators()
    for name in sorted(set(config.excluded) - set(validators)):
        report.add("error", "config", config.path or "validation.yml", None, f"validators.exclude: no validator named {name!r}")
    collection = SigmaCollection.load_ruleset(list[str | Path](paths), collect_errors=True)
    rules = [r for r in collection.rules if not r.errors]
    for name, cls in sorted(validators.items()):
        if name in config.excluded:
            continue
        validator = cls()
        issues = []
        for rule in rules:
            try:
                issues.extend(validator.validate(rule))
            except Exception as exc:  # a validator that cannot read a malformed rule: the rule's error
                source = getattr(rule, "source", None)
                report.add("error", f"pysigma:{name}", source.path if source is not None and source.path else "sigma_rules", None,
                           f"the validator cannot read the rule: {type(exc).__name__}: {exc}", str(rule.id) if rule.id else None)
        issues.extend(validator.finalize())
        for issue in issues:
            severity = "warning" if issue.severity == SigmaValidationIssueSeverity.LOW else "error"
            for rule in issue.rules or [None]:
                source = getattr(rule, "source", None)
                path = source.path if source is not None and source.path else "sigma_rules"
                report.add(severity, f"pysigma:{name}", path, None, f"{issue.description} ({_detail(issue)})" if _detail(issue) else issue.description,
                           str(rule.id) if rule is not None and rule.id else None)


def _detail(issue: object) -> str:
    fields = {k: v for k, v in vars(issue).items() if k not in ("rules", "severity", "description")}
    return ", ".join(f"{k}: {v}" for k, v in fields.items())
