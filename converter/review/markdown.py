"""The review report as GitHub-flavoured Markdown for a ticket: the same sections as the HTML page,
without the charts (their numbers are in the tables and figures beside them), and the sign-off as a checklist. Values from the logs are code spans
(never markup, links or mentions); kamal-siem's own words have their markup characters escaped."""

from __future__ import annotations

from .model import Cell, Column, Figure, Report, Section, Table
from .text import md_code, md_plain, md_prose


def _cell(value: Cell, column: Column) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, int):
        return str(value)
    if column.kind in ("text", "where"):
        return md_code(value)
    return md_plain(value)


def _table(table: Table) -> list[str]:
    out = [f"**{md_plain(table.caption)}**" + (f" ({len(table.rows)})" if table.rows else ""), ""] if table.caption else []
    if not table.rows:
        return [*out, f"_{md_plain(table.empty)}_", ""]
    out.append("| " + " | ".join(md_plain(c.name) for c in table.columns) + " |")
    out.append("|" + "|".join("---:" if c.kind == "num" else "---" for c in table.columns) + "|")
    for row in table.rows:
        out.append("| " + " | ".join(_cell(v, c) for v, c in zip(row, table.columns, strict=True)) + " |")
    out.append("")
    if table.note:
        out += [f"_{md_plain(table.note)}_", ""]
    return out


def _figures(figures: list[Figure]) -> list[str]:
    return ["| " + " | ".join(md_plain(f.label) for f in figures) + " |",
            "|" + "|".join("---:" for _ in figures) + "|",
            "| " + " | ".join(("**" + md_plain(str(f.value)) + "**") if f.attention else md_plain(str(f.value)) for f in figures) + " |",
            ""]


def _section(section: Section) -> list[str]:
    out = [f"## {md_plain(section.title)}", "", md_prose(section.intro), ""]
    if section.figures:
        out += _figures(section.figures)
    for block in section.blocks:
        if isinstance(block, Table):  # each chart's numbers are in a table or the figures beside it
            out += _table(block)
    return out


def render_markdown(report: Report) -> str:
    out = [f"# {md_plain(report.title)}", "",
           f"- Period: {md_plain(report.period)}",
           f"- Events in the period: {md_plain(report.covered)}",
           f"- Read: {md_plain(report.inputs)}",
           f"- Report as of {md_plain(report.generated_at)}", "",
           "## Summary", "", *_figures(report.summary)]
    for section in report.sections:
        out += _section(section)
    out += ["## Sign-off", "", "Tick each item once checked, fill in the fields, and keep this ticket as the record of the review.", ""]
    out += [f"- [ ] {md_plain(item.text)}" for item in report.checklist]
    out += ["", "- **Reviewer:** ", "- **Date of the review:** ", "- **Findings:** ", "- **Approved by:** ", "",
            "**Actions**", "", "| action | owner | due |", "|---|---|---|", *("|  |  |  |" for _ in range(3)), "",
            f"_{md_plain(' '.join(report.notes))}_", ""]
    return "\n".join(out)
