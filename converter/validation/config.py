"""validation.yml: which pySigma validators run, and per-rule exceptions, each with its reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..schema_check import schema_errors
from ..yamlpos import load_yaml
from .issues import Issue


@dataclass(frozen=True)
class Exception_:
    rule: str
    check: str
    severity: str  # warning | ignore
    reason: str
    line: int


@dataclass
class ValidationConfig:
    path: Path | None
    excluded: dict[str, str] = field(default_factory=dict)  # validator -> reason
    exceptions: list[Exception_] = field(default_factory=list)

    def apply(self, issue: Issue) -> Issue | None:
        """The issue as the exceptions say: downgraded to a warning, dropped, or as it was."""
        for exc in self.exceptions:
            if exc.rule == issue.rule and exc.check == issue.check:
                if exc.severity == "ignore":
                    return None
                issue.severity, issue.reason = "warning", exc.reason
        return issue


def load_config(path: Path | None) -> ValidationConfig:
    if path is None or not path.exists():
        return ValidationConfig(None)
    data, lines = load_yaml(path)
    errors = schema_errors(data, lines, path, "validation.schema.json")
    if errors:
        raise errors[0]
    config = ValidationConfig(path, dict((data.get("validators") or {}).get("exclude") or {}))
    for i, raw in enumerate(data.get("exceptions") or []):
        config.exceptions.append(Exception_(raw["rule"], raw["check"], raw["severity"], raw["reason"],
                                            lines.line_of(["exceptions", i]) or 0))
    return config

