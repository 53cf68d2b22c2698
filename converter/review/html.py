"""The review report as one self-contained HTML page: inline CSS, charts as inline SVG, no script and
nothing fetched (a Content-Security-Policy forbids both, should a value ever slip through unescaped).
Every value is escaped. The sign-off has fields to fill in (no form: nothing is sent anywhere), then print or save as PDF."""

from __future__ import annotations

from .model import Cell, Chart, Figure, Report, Section, Table
from .svg import render as render_chart
from .text import esc, html_prose

CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"
ACTION_ROWS = 5

STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px; padding: 16px 24px;
       color: #212121; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 0.2em 0; }
h2 { font-size: 1.25em; border-bottom: 2px solid #e0e0e0; padding-bottom: 4px; margin-top: 2em; }
.meta { color: #424242; margin: 0.2em 0; }
nav ol { columns: 2; padding-left: 1.2em; }
.figures { display: flex; flex-wrap: wrap; gap: 8px; margin: 0.6em 0; padding: 0; }
.figures div { border: 1px solid #e0e0e0; border-radius: 6px; padding: 6px 10px; min-width: 110px; }
.figures dt { font-size: 0.8em; color: #616161; }
.figures dd { font-size: 1.4em; margin: 0; font-weight: 600; }
.figures .attention { border-color: #c62828; background: #fdecea; }
table { border-collapse: collapse; width: 100%; margin: 0.8em 0 1.4em; font-size: 0.85em; }
caption, p.caption { text-align: left; font-weight: 600; padding: 4px 0; font-size: 0.85em; margin: 0.8em 0 0; }
p.caption + .empty { margin-top: 0.2em; }
th, td { border: 1px solid #e0e0e0; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.t, td.w { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; overflow-wrap: anywhere; }
td.ts { white-space: nowrap; }
td.w { color: #555; font-size: 0.9em; }
.empty { color: #616161; font-style: italic; }
.note { color: #616161; font-size: 0.85em; margin-top: -1em; }
figure.chart { margin: 1em 0; }
figure.chart figcaption { font-weight: 600; }
svg.chart { max-width: 100%; height: auto; display: block; }
.signoff label { display: block; margin: 0.6em 0 0.2em; font-weight: 600; }
.signoff input[type=text], .signoff input[type=date], .signoff textarea, .signoff td input {
  width: 100%; box-sizing: border-box; font: inherit; padding: 4px; }
.signoff textarea { min-height: 6em; }
.checklist { list-style: none; padding-left: 0; }
.checklist li { margin: 0.3em 0; }
.signoff .checklist label { display: inline; font-weight: normal; margin: 0; }
footer { color: #757575; font-size: 0.8em; margin-top: 2em; }
@media print { nav { display: none; } h2 { break-after: avoid; } table, figure { break-inside: avoid; } }
"""


def _cell(value: Cell, kind: str) -> str:
    if value is None:
        text = ""
    elif isinstance(value, float):
        text = f"{value:.1f}"
    else:
        text = str(value)
    css = {"num": "n", "text": "t", "where": "w", "time": "ts"}.get(kind)
    return f'<td class="{css}">{esc(text)}</td>' if css else f"<td>{esc(text)}</td>"


def _table(table: Table) -> str:
    if not table.rows:
        caption = f'<p class="caption">{esc(table.caption)}</p>' if table.caption else ""
        return f'{caption}<p class="empty">{esc(table.empty)}</p>'
    out = ["<table>"]
    if table.caption:
        out.append(f"<caption>{esc(table.caption)} ({len(table.rows)})</caption>")
    out.append("<thead><tr>" + "".join(f'<th scope="col">{esc(c.name)}</th>' for c in table.columns) + "</tr></thead>")
    out.append("<tbody>")
    for row in table.rows:
        out.append("<tr>" + "".join(_cell(v, c.kind) for v, c in zip(row, table.columns, strict=True)) + "</tr>")
    out.append("</tbody></table>")
    if table.note:
        out.append(f'<p class="note">{esc(table.note)}</p>')
    return "\n".join(out)


def _chart(chart: Chart) -> str:
    return f'<figure class="chart">\n<figcaption>{esc(chart.title)}</figcaption>\n{render_chart(chart)}\n</figure>'


def _figures(figures: list[Figure]) -> str:
    attention = ' class="attention"'
    items = "".join(f"<div{attention if f.attention else ''}><dt>{esc(f.label)}</dt><dd>{esc(str(f.value))}</dd></div>"
                    for f in figures)
    return f'<dl class="figures">{items}</dl>'


def _section(section: Section) -> str:
    out = [f'<section id="{esc(section.id)}">', f"<h2>{esc(section.title)}</h2>", f"<p>{html_prose(section.intro)}</p>"]
    if section.figures:
        out.append(_figures(section.figures))
    for block in section.blocks:
        out.append(_chart(block) if isinstance(block, Chart) else _table(block))
    out.append("</section>")
    return "\n".join(out)


def _signoff(report: Report) -> str:
    items = "\n".join(f'<li><label class="check"><input type="checkbox" name="check{n}"> {esc(item.text)}</label></li>'
                      for n, item in enumerate(report.checklist, 1))
    actions = "\n".join(f'<tr><td><input type="text" name="action{n}" aria-label="action {n}"></td>'
                        f'<td><input type="text" name="owner{n}" aria-label="owner {n}"></td>'
                        f'<td><input type="date" name="due{n}" aria-label="due {n}"></td></tr>' for n in range(1, ACTION_ROWS + 1))
    return f"""<section id="sign-off" class="signoff">
<h2>Sign-off</h2>
<p>The review itself is a record: fill this in, then print the page (or save it as PDF) and file it with the period's evidence.</p>
<ul class="checklist">
{items}
</ul>
<label for="reviewer">Reviewer</label><input type="text" id="reviewer" name="reviewer">
<label for="review-date">Date of the review</label><input type="date" id="review-date" name="review-date">
<label for="findings">Findings</label><textarea id="findings" name="findings"></textarea>
<label>Actions</label>
<table class="actions"><thead><tr><th scope="col">action</th><th scope="col">owner</th><th scope="col">due</th></tr></thead>
<tbody>
{actions}
</tbody></table>
<label for="approver">Approved by</label><input type="text" id="approver" name="approver">
</section>"""


def render_html(report: Report) -> str:
    toc = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in report.sections)
    body = "\n".join(_section(s) for s in report.sections)
    notes = " ".join(esc(n) for n in report.notes)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(report.title)}: {esc(report.period)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>{esc(report.title)}</h1>
<p class="meta">Period: {esc(report.period)}</p>
<p class="meta">Events in the period: {esc(report.covered)}</p>
<p class="meta">Read: {esc(report.inputs)}. Report as of {esc(report.generated_at)}.</p>
</header>
<nav><ol>{toc}<li><a href="#sign-off">Sign-off</a></li></ol></nav>
<section id="summary">
<h2>Summary</h2>
{_figures(report.summary)}
</section>
{body}
{_signoff(report)}
<footer>kamal-siem review. {notes}</footer>
</body>
</html>
"""
