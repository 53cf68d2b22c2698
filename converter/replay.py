"""Replay cases: raw Kamal log lines that prove a rule, with the exact alerts they must raise.

A case is a folder (tests/replay/<name>/) of raw log files, laid out as Kamal leaves them (the file
name carries the service and destination of an audit log), and `case.yml`:

    rule: <id>                  # the rule the case proves
    description: ...
    tuning: {kamal_deployers: [...]}   # optional: placeholder values instead of tuning.yml's
    expected:                   # every rule that alerts over these files, with exactly its lines
      <rule id>: [.kamal/shop-production-audit.log:3, ...]
    near_misses:                # lines that look like the rule's match and must not be one
      - {at: .kamal/shop-production-audit.log:7, why: staging, not production}

The files are run through `kamal-siem hunt` (every rule, the same engine users run): the alerts must
be exactly `expected`, rule by rule and line by line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import ContentError
from .fields import FieldDictionary
from .local.hunt import hunt
from .local.rules import RuleSet, compile_rules
from .parsing.files import Options
from .schema_check import schema_errors
from .tuning import Tuning
from .yamlpos import load_yaml

CASE_FILE = "case.yml"
Where = tuple[str, int]  # (file relative to the case folder, line)


@dataclass
class ReplayCase:
    root: Path
    rule: str
    description: str
    expected: dict[str, set[Where]]
    near_misses: list[tuple[Where, str]]
    tuning: dict[str, list[str]] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)  # rule id / "near_misses" / "rule" -> line in case.yml

    @property
    def path(self) -> Path:
        return self.root / CASE_FILE

    def log_files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file() and p != self.path)


@dataclass
class CaseResult:
    case: ReplayCase
    problems: list[ContentError]
    got: dict[str, set[Where]]


def find_cases(directory: Path) -> list[Path]:
    """Every case folder under `directory` (a folder holding case.yml)."""
    return sorted(p.parent for p in directory.rglob(CASE_FILE) if p.is_file())


def _where(text: str) -> Where:
    name, _, number = text.rpartition(":")
    return name, int(number)


def load_case(root: Path) -> ReplayCase:
    path = root / CASE_FILE
    data, lines = load_yaml(path)
    errors = schema_errors(data, lines, path, "case.schema.json")
    if errors:
        raise errors[0]
    case = ReplayCase(root, data["rule"], data["description"].strip(),
                      {rule: {_where(w) for w in hits} for rule, hits in data["expected"].items()},
                      [(_where(m["at"]), m["why"]) for m in data["near_misses"]], dict(data.get("tuning", {})))
    case.lines = {"rule": lines.line_of(["rule"]) or 1, "near_misses": lines.line_of(["near_misses"]) or 1,
                  "expected": lines.line_of(["expected"]) or 1, "tuning": lines.line_of(["tuning"]) or 1}
    case.lines.update({rule: lines.line_of(["expected", rule]) or 1 for rule in data["expected"]})
    # every line the case names must exist
    sizes: dict[str, int] = {}
    for name in {w[0] for hits in case.expected.values() for w in hits} | {w[0] for w, _ in case.near_misses}:
        file = root / name
        if not file.is_file():
            raise ContentError(path, None, f"{name}: no such file in the case folder")
        with file.open("rb") as stream:
            sizes[name] = sum(1 for _ in stream)
    for key, places in [*((r, sorted(h)) for r, h in case.expected.items()), ("near_misses", [w for w, _ in case.near_misses])]:
        for name, number in places:
            if number > sizes[name]:
                raise ContentError(path, case.lines.get(key), f"{name}:{number}: the file has only {sizes[name]} line(s)")
    return case


def run_case(case: ReplayCase, rules_dir: Path, dictionary: FieldDictionary, tuning: Tuning,
             ruleset: RuleSet | None = None) -> CaseResult:
    """Hunt over the case's files with every rule; compare with what the case expects."""
    problems: list[ContentError] = []
    if case.tuning:
        try:
            tuning = tuning.with_values(case.tuning)
        except KeyError as exc:
            return CaseResult(case, [ContentError(case.path, case.lines["tuning"], f"tuning: unknown placeholder {exc.args[0]!r}")], {})
        ruleset = None
    if ruleset is None:
        ruleset = compile_rules(rules_dir, dictionary, tuning)
    files = case.log_files()
    result = hunt([str(f) for f in files], rules_dir, Options(), dictionary=dictionary, ruleset=ruleset)
    if result.summary.rejected:
        problems.append(ContentError(case.path, None, f"{result.summary.rejected} line(s) of the case's logs do not parse"))
    got: dict[str, set[Where]] = {}
    for alert in result.alerts:
        for event in alert.events:
            got.setdefault(alert.rule_id, set()).add((Path(event["source"]).relative_to(case.root).as_posix(), event["line"]))
    known = {r.id for r in ruleset.rules}
    if case.rule not in known:
        problems.append(ContentError(case.path, case.lines["rule"], f"rule {case.rule}: no such rule in {rules_dir}"))
    for rule in sorted(set(case.expected) | set(got)):
        want, have = case.expected.get(rule, set()), got.get(rule, set())
        if want == have:
            continue
        title = next((r.title for r in ruleset.rules if r.id == rule), rule)
        missing = ", ".join(f"{n}:{k}" for n, k in sorted(want - have))
        extra = ", ".join(f"{n}:{k}" for n, k in sorted(have - want))
        detail = "; ".join(x for x in (f"expected but not raised: {missing}" if missing else "",
                                       f"raised but not expected: {extra}" if extra else "") if x)
        problems.append(ContentError(case.path, case.lines.get(rule, case.lines["expected"]), f"rule {rule} ({title}): {detail}"))
    for (name, number), why in case.near_misses:
        if (name, number) in case.expected.get(case.rule, set()):
            problems.append(ContentError(case.path, case.lines["near_misses"],
                                         f"{name}:{number} is listed both as a match and as a near miss ({why})"))
    return CaseResult(case, problems, got)
