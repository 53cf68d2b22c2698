"""Output of `kamal-siem parse`: NDJSON or a table of events, and the summary on stderr."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .parsing.files import Summary

TABLE_COLUMNS = ("line", "log_type", "timestamp", "performer", "destination", "role", "action", "details")


def write_ndjson(events: Iterable[dict[str, Any]], out: IO[str]) -> None:
    for event in events:
        out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")


def _details(event: dict[str, Any]) -> str:
    if "error" in event:
        return f"[red]{_escape(event['error'])}[/red]"
    parts = []
    for key in ("cmd", "CommandLine", "User", "accessory", "proxy_service", "container_name", "command", "http_status", "http_path",
                "version", "error_message", "performer_flags", "warnings"):
        if key in event:
            value = event[key]
            if key == "version" and isinstance(value, str) and len(value) > 12:
                value = value[:12]
            parts.append(f"{key}={_escape(json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value)}")
    return " ".join(parts)


def _visible(text: str) -> str:
    """Control and formatting characters shown as escapes: a forged value must not drive the terminal
    (ESC sequences), reorder what is shown (bidirectional overrides) or hide (zero-width)."""
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch != " ":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _escape(text: str) -> str:
    return escape(_visible(text))


def write_table(events: Iterable[dict[str, Any]], console: Console) -> None:
    table = Table(show_lines=False, header_style="bold")
    table.add_column("source:line", overflow="fold")
    for column in TABLE_COLUMNS[1:]:
        table.add_column(column, overflow="fold")
    for event in events:
        where = f"{event['source']}:{event['line']}" + (f"#{event['record']}" if "record" in event else "")
        table.add_row(_escape(where), *(_escape(str(event.get(c, ""))) for c in TABLE_COLUMNS[1:-1]), _details(event))
    console.print(table)


def write_summary(summary: Summary, console: Console) -> None:
    table = Table(title="kamal-siem parse", header_style="bold", title_justify="left")
    for column in ("source", "log type", "lines", "parsed", "rejected", "events", "note"):
        table.add_column(column, justify="right" if column in ("lines", "parsed", "rejected", "events") else "left",
                         overflow="fold")
    by_type: dict[str, list[int]] = {}
    for s in summary.sources:
        note = s.failed or s.skipped or ""
        style = "red" if s.failed or s.rejected else ("dim" if s.skipped else "")
        table.add_row(_escape(s.source), s.log_type or "-", str(s.lines), str(s.parsed), str(s.rejected), str(s.events),
                      _escape(note), style=style)
        if s.log_type and not s.skipped:
            totals = by_type.setdefault(s.log_type, [0, 0, 0, 0])
            for i, value in enumerate((s.lines, s.parsed, s.rejected, s.events)):
                totals[i] += value
    for log_type, (lines, parsed, rejected, events) in sorted(by_type.items()):
        table.add_row("[bold]all[/bold]", log_type, str(lines), str(parsed), str(rejected), str(events), "",
                      end_section=False)
    console.print(table)
    files = len([s for s in summary.sources if not s.skipped and not s.failed])
    skipped = len([s for s in summary.sources if s.skipped])
    parsed = sum(s.parsed for s in summary.sources)
    line = (f"{files} file(s), {summary.lines} line(s) read: {parsed} parsed, {summary.rejected} rejected"
            f"{f', {skipped} file(s) skipped' if skipped else ''}"
            f"{f', {len(summary.failed)} input(s) unreadable' if summary.failed else ''}")
    console.print(line, highlight=False)
