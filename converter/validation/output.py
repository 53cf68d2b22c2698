"""The validation report for people (grouped by file, coloured), as JSON, and as JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from .issues import Issue, Report


def write_human(report: Report, console: Console, verbose: bool = False) -> None:
    by_file: dict[str, list[Issue]] = defaultdict(list)
    for issue in report.issues:
        by_file[issue.path].append(issue)
    for path in sorted(by_file):
        console.print(f"[bold]{escape(path)}[/bold]")
        for issue in by_file[path]:
            colour = "red" if issue.severity == "error" else "yellow"
            line = f":{issue.line}" if issue.line else ""
            reason = f" [dim](allowed: {escape(issue.reason)})[/dim]" if issue.reason else ""
            console.print(f"  [{colour}]{issue.severity}[/{colour}]{line} [cyan]{escape(issue.check)}[/cyan] "
                          f"{escape(issue.message)}{reason}", soft_wrap=True)
    if verbose and report.notes:
        console.print("[bold]Not converted for some Elastic query languages (another language takes the rule):[/bold]")
        for path, target, why in report.notes:
            console.print(f"  [dim]{escape(path)} {target}: {escape(why)}[/dim]", soft_wrap=True)
    summary = (f"{len(report.rules)} rule(s), {len(report.cases)} replay case(s): "
               f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    console.print(f"[{'red' if report.errors else 'green'}]{summary}[/]")


def write_json(report: Report, out: TextIO) -> None:
    document = {
        "rules": len(report.rules), "cases": len(report.cases),
        "errors": len(report.errors), "warnings": len(report.warnings),
        "issues": [i.as_json() for i in report.issues],
        "not_converted": [{"path": p, "target": t, "reason": r} for p, t, r in report.notes],
    }
    out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def junit_xml(report: Report) -> bytes:
    """One test case per rule file and per replay case; its issues are failures (errors) or
    system-out lines (warnings)."""
    suite = ET.Element("testsuite", name="kamal-siem validate")
    by_path: dict[str, list[Issue]] = defaultdict(list)
    for issue in report.issues:
        by_path[issue.path].append(issue)
    names = sorted(set(report.rules) | {f"{c}/case.yml" for c in report.cases} | set(by_path))
    failures = 0
    for name in names:
        case = ET.SubElement(suite, "testcase", classname="rules" if name in report.rules else "content", name=name)
        issues = by_path.get(name, [])
        errors = [i for i in issues if i.severity == "error"]
        if errors:
            failures += 1
            failure = ET.SubElement(case, "failure", message=f"{len(errors)} error(s)", type="validation")
            failure.text = "\n".join(f"{i.where()}: [{i.check}] {i.message}" for i in errors)
        warnings = [i for i in issues if i.severity == "warning"]
        if warnings:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"warning {i.where()}: [{i.check}] {i.message}" for i in warnings)
    suite.set("tests", str(len(names)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n"
