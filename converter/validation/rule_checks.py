"""Checks on the rule files themselves: YAML, the rule schema, Sigma parsing, ids, titles, file
names, ATT&CK tags, fields of the dictionary and tuning placeholders. Each issue names the file and
the line."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from ..errors import ContentError
from ..fields import FieldDictionary
from ..offline_data import attack, attack_tags
from ..pipelines import rule_fields
from ..schema_check import schema_errors
from ..tuning import Tuning
from ..yamlpos import LineMap, load_yaml
from .issues import Report

PLACEHOLDER = re.compile(r"%([A-Za-z0-9_]+)%")


@dataclass
class RuleFile:
    path: Path
    data: dict[str, Any]
    lines: LineMap
    rule: SigmaRule | SigmaCorrelationRule | None = None

    @property
    def id(self) -> str | None:
        value = self.data.get("id")
        return str(value) if value else None


def snake(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def load_rule_files(paths: list[Path], report: Report) -> list[RuleFile]:
    """Each file as YAML with positions (one document, a mapping), then as pySigma reads it."""
    files: list[RuleFile] = []
    for path in paths:
        try:
            data, lines = load_yaml(path)
        except ContentError as exc:
            report.add("error", "yaml", path, exc.line, exc.reason)
            continue
        if not isinstance(data, dict):
            report.add("error", "yaml", path, 1, "a rule file holds one YAML mapping (one rule)")
            continue
        for key in ("date", "modified"):  # YAML reads an unquoted 2026-11-28 as a date; Sigma means that string
            if isinstance(data.get(key), dt.date):
                data[key] = data[key].isoformat()
        rule_file = RuleFile(path, data, lines)
        for err in schema_errors(data, lines, path, "sigma_rule.schema.json"):
            report.add("error", "schema", path, err.line, err.reason, rule_file.id)
        files.append(rule_file)
    if not files:
        return files
    collection = SigmaCollection.load_ruleset([f.path for f in files], collect_errors=True)
    by_path = {f.path.resolve(): f for f in files}
    for item in collection.rules:
        source = getattr(item, "source", None)
        target = by_path.get(Path(source.path).resolve()) if source is not None and source.path else None
        if target is None:
            continue
        target.rule = item
        for sigma_error in item.errors:
            report.add("error", "sigma", target.path, _sigma_line(sigma_error, target), str(sigma_error), target.id)
    for problem in collection.errors:
        where = getattr(getattr(problem, "source", None), "path", None)
        report.add("error", "sigma", where or "sigma_rules", None, str(problem))
    try:
        collection.resolve_rule_references()
    except SigmaError as exc:
        where = getattr(getattr(exc, "source", None), "path", None)
        report.add("error", "sigma", where or "sigma_rules", None, f"rule references: {exc}")
    return files


def _sigma_line(err: SigmaError, rule_file: RuleFile) -> int | None:
    source = getattr(err, "source", None)
    line = getattr(source, "first_line", None)
    return line if isinstance(line, int) else rule_file.lines.line_of(["detection"])


def check_identity(files: list[RuleFile], report: Report) -> None:
    """Unique ids, titles and names; the file named from the title."""
    seen: dict[tuple[str, str], Path] = {}
    for f in files:
        for key in ("id", "title", "name"):
            value = f.data.get(key)
            if not isinstance(value, str):
                continue
            folded = (key, value.casefold())
            if folded in seen:
                report.add("error", f"unique-{key}", f.path, f.lines.line_of([key]),
                           f"{key} {value!r} is already used by {report.relative(seen[folded])}", f.id)
            else:
                seen[folded] = f.path
        title = f.data.get("title")
        if isinstance(title, str) and f.path.stem != snake(title):
            report.add("error", "filename", f.path, f.lines.line_of(["title"]),
                       f"the file name comes from the title: {snake(title)}.yml", f.id)


def check_attack(files: list[RuleFile], report: Report) -> None:
    """At least one ATT&CK tactic and one technique; each exists (ATT&CK Enterprise, installed data),
    and each technique serves one of the rule's tactics."""
    data = attack()
    for f in files:
        line = f.lines.line_of(["tags"])
        tactic_list, techniques = attack_tags(t for t in f.data.get("tags") or [] if isinstance(t, str))
        tactics = set(tactic_list)
        for tactic in sorted(tactics):
            if tactic not in data.tactics:
                report.add("error", "attack", f.path, line, f"attack.{tactic}: not an ATT&CK Enterprise {data.version} tactic", f.id)
        if not tactics:
            report.add("error", "attack", f.path, line, "no ATT&CK tactic tag (attack.<tactic>, e.g. attack.credential-access)", f.id)
        if not techniques:
            report.add("error", "attack", f.path, line, "no ATT&CK technique tag (attack.tNNNN or attack.tNNNN.NNN)", f.id)
        for technique in techniques:
            known = data.techniques.get(technique)
            if known is None:
                report.add("error", "attack", f.path, line,
                           f"attack.{technique.lower()}: no such technique in ATT&CK Enterprise {data.version}", f.id)
            elif tactics and not set(known.tactics) & tactics:
                report.add("error", "attack", f.path, line,
                           f"attack.{technique.lower()} ({known.name}) serves {', '.join(known.tactics)}; "
                           f"the rule tags none of them", f.id)


def _detection_fields(detection: dict[str, Any]) -> list[tuple[list[str | int], str]]:
    """(path in the YAML, field name) of every field a detection names; keywords give field ''."""
    out: list[tuple[list[str | int], str]] = []
    for name, value in detection.items():
        if name in ("condition", "timeframe"):
            continue
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            base: list[str | int] = ["detection", name] + ([i] if isinstance(value, list) else [])
            if isinstance(item, dict):
                out.extend(([*base, key], str(key).split("|")[0]) for key in item)
            else:
                out.append((base, ""))
    return out


def check_fields(files: list[RuleFile], dictionary: FieldDictionary, tuning: Tuning, report: Report) -> None:
    """Fields the dictionary gives the rule's log source, placeholders the tuning file defines."""
    by_name = {f.data.get("name"): f for f in files if f.data.get("name")}
    by_id = {f.id: f for f in files if f.id}
    for f in files:
        detection = f.data.get("detection")
        if isinstance(detection, dict):
            logsource = f.data.get("logsource") or {}
            source = dictionary.logsource_of(logsource.get("product"), logsource.get("service"), logsource.get("category"))
            if source is None:
                known = "; ".join(", ".join(f"{k}: {v}" for k, v in s.sigma.items()) for s in dictionary.logsources.values())
                report.add("error", "logsource", f.path, f.lines.line_of(["logsource"]),
                           f"log source {logsource} is none of kamal-siem's ({known})", f.id)
                continue
            allowed = set(rule_fields(dictionary, source.log_type))
            for where, name in _detection_fields(detection):
                if name == "":
                    report.add("error", "field", f.path, f.lines.line_of(where),
                               "keywords (values without a field) are not supported: name the field", f.id)
                elif name not in allowed:
                    hint = f" (it is a field of {', '.join(dictionary[name].sources)})" if name in dictionary else ""
                    report.add("error", "field", f.path, f.lines.line_of(where),
                               f"field {name!r} is not in the field dictionary for {source.log_type}{hint}", f.id)
            for placeholder, line in _placeholders(detection, f.lines):
                if placeholder not in tuning.placeholders:
                    report.add("error", "placeholder", f.path, line,
                               f"placeholder %{placeholder}% is not defined in {tuning.path.name} "
                               f"(defined: {', '.join(sorted(tuning.placeholders))})", f.id)
        correlation = f.data.get("correlation")
        if isinstance(correlation, dict):
            bases = [by_name.get(r) or by_id.get(r) for r in correlation.get("rules") or []]
            types = set()
            for base in bases:
                logsource = (base.data.get("logsource") or {}) if base else {}
                source = dictionary.logsource_of(logsource.get("product"), logsource.get("service"), logsource.get("category"))
                if source is not None:
                    types.add(source.log_type)
            for i, name in enumerate(correlation.get("group-by") or []):
                if types and not all(name in rule_fields(dictionary, t) for t in types):
                    report.add("error", "field", f.path, f.lines.line_of(["correlation", "group-by", i]),
                               f"group-by field {name!r} is not in the field dictionary for {', '.join(sorted(types))}", f.id)


def _placeholders(node: Any, lines: LineMap, path: tuple[str | int, ...] = ("detection",)) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_placeholders(value, lines, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_placeholders(value, lines, (*path, i)))
    elif isinstance(node, str):
        out.extend((m.group(1), lines.line_of(list(path))) for m in PLACEHOLDER.finditer(node))
    return out
