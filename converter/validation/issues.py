"""Validation issues and the report that collects them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SEVERITIES = ("error", "warning")


@dataclass
class Issue:
    severity: str  # error | warning
    check: str  # what found it: yaml, schema, attack, field, convert:<target>, replay, pysigma:<validator>, ...
    path: str
    line: int | None
    message: str
    rule: str | None = None  # the rule id, when the issue is about one rule
    reason: str | None = None  # why an exception changed its severity (validation.yml)

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"severity": self.severity, "check": self.check, "path": self.path, "line": self.line,
                                  "rule": self.rule, "message": self.message}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class Report:
    root: Path
    issues: list[Issue] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)  # rule file (relative) -> id
    cases: list[str] = field(default_factory=list)  # case folders checked (relative)
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (rule file, target, why it is not converted)

    def add(self, severity: str, check: str, path: Path | str, line: int | None, message: str, rule: str | None = None) -> None:
        self.issues.append(Issue(severity, check, self.relative(path), line, message, rule))

    def relative(self, path: Path | str) -> str:
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    def sort(self) -> None:
        self.issues.sort(key=lambda i: (i.path, i.line or 0, i.check, i.message))
