"""Output of `kamal-siem hunt`: alerts as NDJSON or a table, and a summary on stderr."""

from __future__ import annotations

import json
from collections import Counter
from typing import IO

from rich.console import Console
from rich.table import Table

from .local.hunt import HuntResult
from .parse_report import _escape

LEVEL_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "informational": "dim"}


def write_alerts_json(result: HuntResult, out: IO[str]) -> None:
    for alert in result.alerts:
        out.write(json.dumps(alert.as_json(), ensure_ascii=False, separators=(",", ":"), allow_nan=False))
        out.write("\n")


def write_alerts_table(result: HuntResult, console: Console) -> None:
    table = Table(header_style="bold", show_lines=True)
    for column in ("level", "rule", "when", "where", "who", "what"):
        table.add_column(column, overflow="fold")
    for alert in result.alerts:
        first = alert.events[0]
        where = "\n".join(_escape(f"{e['source']}:{e['line']}" + (f"#{e['record']}" if "record" in e else ""))
                          for e in alert.events[:5])
        if len(alert.events) > 5:
            where += f"\n(+{len(alert.events) - 5} more)"
        what = first.get("cmd") or first.get("CommandLine") or first.get("message") or first.get("action") or ""
        who = first.get("performer") or first.get("User") or (json.dumps(alert.group) if alert.group else "")
        when = first.get("timestamp", "")
        table.add_row(f"[{LEVEL_STYLE.get(alert.level, '')}]{alert.level}[/]", _escape(alert.title), _escape(when),
                      where, _escape(str(who)), _escape(str(what)))
    console.print(table)


def write_hunt_summary(result: HuntResult, console: Console) -> None:
    levels = Counter(a.level for a in result.alerts)
    rules = len([r for r in result.ruleset.rules if not r.refused])
    parts = [f"{result.summary.lines} line(s) read, {result.events} event(s), {rules} rule(s) run",
             f"{len(result.alerts)} alert(s)" + (f" ({', '.join(f'{n} {lvl}' for lvl, n in sorted(levels.items()))})" if levels else "")]
    if result.summary.rejected:
        parts.append(f"{result.summary.rejected} line(s) rejected (see `kamal-siem parse`)")
    console.print("; ".join(parts), highlight=False, soft_wrap=True)
    for rule, why in result.refused:
        console.print(f"[yellow]not run:[/yellow] {_escape(str(rule.path))} ({_escape(rule.title)}): {_escape(why)}",
                      highlight=False, soft_wrap=True)
    for error in result.ruleset.errors:
        console.print(f"[red]error:[/red] {_escape(str(error))}", highlight=False, soft_wrap=True)
    for failed in result.summary.failed:
        console.print(f"[red]error:[/red] {_escape(failed.source)}: {_escape(failed.failed or '')}", highlight=False, soft_wrap=True)
