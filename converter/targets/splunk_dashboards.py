"""The dashboards (dashboards/*.yml) as Splunk Dashboard Studio views of the kamal_security app, and
the app's navigation menu.

Each dashboard becomes `default/data/ui/views/kamal_<name>.xml`: `<dashboard version="2">` with the
Dashboard Studio definition (JSON) in a CDATA section. Each panel is a `ds.search` data source and a
visualization on a grid layout (1440 pixels wide, twelfths of it per the YAML `width`):
- the search is the panel's Sigma detection converted like the rules (the log source macro first,
  CIM names, tuning lists as lookups), or a query panel's own SPL;
- the dashboard filters are dropdowns (values from the first log source carrying the field, "All"
  by default) whose tokens a panel that follows the filters tests in a `where`: an event without
  the field passes "All" only, as in Kibana;
- the aggregation is appended (timechart, stats, chart), with the top `limit` values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..dashboard_model import MISSING, Dashboard, Panel, load_dashboards
from ..dashboard_queries import PanelConverter
from ..fields import FieldDictionary
from ..tuning import Tuning
from .splunk_app import APP
from .splunk_conf import csv_file

WIDTH = 1440  # pixels of the grid layout; a YAML width is in twelfths of it
HEIGHTS = {"single": 160, "timechart": 320, "bar": 320, "pie": 320, "table": 360}
VIZ = {"timechart": "splunk.line", "bar": "splunk.bar", "pie": "splunk.pie", "single": "splunk.singlevalue", "table": "splunk.table"}
SPL_FUNCTIONS = {"count": "count", "distinct_count": "dc", "avg": "avg", "max": "max", "min": "min", "sum": "sum"}
TIME_INPUT = "input_global_trp"
TIME_TOKEN = "global_time"
ALL = "*"


def view_name(dashboard: Dashboard) -> str:
    return f"kamal_{dashboard.name}"


def splunk_dashboard_files(dashboards_dir: Path, rules_dir: Path, dictionary: FieldDictionary, tuning: Tuning) -> dict[str, bytes]:
    """{path in the app package (`kamal_security/default/...`): content} for every dashboard and the nav."""
    dashboards = load_dashboards(dashboards_dir, dictionary, rules_dir)
    converter = PanelConverter(dictionary, tuning)
    files = {f"{APP}/default/data/ui/views/{view_name(d)}.xml": view_xml(d, definition(d, converter)).encode() for d in dashboards}
    files[f"{APP}/default/data/ui/nav/default.xml"] = nav_xml(dashboards).encode()
    for name, values in sorted(converter.splunk_lookups.items()):
        files[f"{APP}/lookups/{name}.csv"] = csv_file(["value"], ([v] for v in values))
    return files


def definition(dashboard: Dashboard, converter: PanelConverter) -> dict[str, Any]:
    """The Dashboard Studio definition of one dashboard."""
    data_sources: dict[str, Any] = {}
    visualizations: dict[str, Any] = {}
    structure: list[dict[str, Any]] = []
    y = 0
    for row in dashboard.rows():
        height = max(HEIGHTS[p.visualization] for p in row)
        x = 0
        for panel in row:
            data_sources[f"ds_{panel.id}"] = {"type": "ds.search", "name": panel.title,
                                              "options": {"query": panel_search(dashboard, panel, converter)}}
            visualizations[f"viz_{panel.id}"] = {
                "type": VIZ[panel.visualization], "title": panel.title, "description": panel.description,
                "dataSources": {"primary": f"ds_{panel.id}"}, "options": _options(panel)}
            width = WIDTH * panel.width // 12
            structure.append({"item": f"viz_{panel.id}", "type": "block", "position": {"x": x, "y": y, "w": width, "h": height}})
            x += width
        y += height
    inputs: dict[str, Any] = {TIME_INPUT: {"type": "input.timerange", "title": "Time range",
                                           "options": {"token": TIME_TOKEN, "defaultValue": f"-{dashboard.time_range},now"}}}
    for f in dashboard.filters:
        source, search = filter_values_search(dashboard, f.field, converter)
        data_sources[source] = {"type": "ds.search", "name": f"{f.label} values", "options": {"query": search}}
        inputs[f"input_{f.field}"] = _dropdown(f.label, f.field, source, converter.dictionary[f.field].splunk)
    return {
        "title": dashboard.title,
        "description": dashboard.description,
        "inputs": inputs,
        "defaults": {"dataSources": {"ds.search": {"options": {"queryParameters": {
            "earliest": f"${TIME_TOKEN}.earliest$", "latest": f"${TIME_TOKEN}.latest$"}}}}},
        "dataSources": data_sources,
        "visualizations": visualizations,
        "layout": {
            "globalInputs": list(inputs),
            "tabs": {"items": [{"layoutId": "layout_1", "label": dashboard.title}]},
            "layoutDefinitions": {"layout_1": {"type": "grid", "structure": structure, "options": {"width": WIDTH, "height": y}}},
        },
    }


def panel_search(dashboard: Dashboard, panel: Panel, converter: PanelConverter) -> str:
    """The panel's whole SPL: its events, the dashboard filters it follows, its aggregation."""
    parts = [converter.splunk(panel, lookup_prefix=f"kamal_siem_dashboard_{view_name(dashboard)}_{panel.id}")]
    if panel.follows_filters and dashboard.filters:
        tests = [f"(${f.field}|s$=\"{ALL}\" OR {converter.splunk_name(panel, f.field)}=${f.field}|s$)" for f in dashboard.filters]
        parts.append("where " + " AND ".join(tests))
    parts += aggregation(panel, converter)
    return " | ".join(parts)


def aggregation(panel: Panel, converter: PanelConverter) -> list[str]:
    """The SPL commands after the panel's events. Metrics are computed as m0, m1, ... and renamed to
    their labels last (sort and eval cannot take names with spaces unquoted)."""
    name = {n: converter.splunk_name(panel, n) for n in (*panel.by, *(m.field for m in panel.metrics if m.field))}
    metrics = [f"{SPL_FUNCTIONS[m.function]}({name[m.field]}) AS m{i}" if m.field else f"count AS m{i}"
               for i, m in enumerate(panel.metrics)]
    by = [name[n] for n in panel.by]
    renames = [f'm{i} AS "{m.label}"' for i, m in enumerate(panel.metrics)]
    renames += [f'{name[n]} AS "{panel.label_of(n)}"' for n in panel.by]
    limit = panel.limit
    if panel.visualization == "timechart":
        if by:
            return [f"timechart limit={limit} useother=t usenull=f {metrics[0]} BY {by[0]}"]
        return [f"timechart {metrics[0]}", f"rename {renames[0]}"]
    if panel.visualization == "single":
        return [f"stats {metrics[0]}", f"rename {renames[0]}"]
    if panel.visualization == "bar" and len(by) == 2:
        return [f"chart limit={limit} useother=t usenull=f {metrics[0]} OVER {by[0]} BY {by[1]}",
                "addtotals fieldname=kamal_total", f"sort {limit} - kamal_total", "fields - kamal_total",
                f'rename {by[0]} AS "{panel.label_of(panel.by[0])}"']
    commands = []
    if panel.visualization == "table":
        commands.append(f'fillnull value="{MISSING}" {" ".join(by)}')
    commands += [f"stats {', '.join(metrics)} BY {' '.join(by)}", f"sort {limit} - m0"]
    times = [f'm{i}=strftime(m{i}, "%Y-%m-%d %H:%M:%S")' for i, m in enumerate(panel.metrics)
             if m.field and panel.field_type(m.field, converter.dictionary) == "timestamp"]
    if times:
        commands.append("eval " + ", ".join(times))
    commands.append("table " + " ".join([*by, *(f"m{i}" for i in range(len(panel.metrics)))]))
    commands.append("rename " + ", ".join(renames))
    return commands


def filter_values_search(dashboard: Dashboard, field: str, converter: PanelConverter) -> tuple[str, str]:
    """The data source of a filter's dropdown: the field's values in the first log source (in
    dictionary order) of the dashboard's panels that carries it, as the Kibana control does."""
    log_type = filter_log_type(dashboard, field, converter.dictionary)
    macro = converter.dictionary.logsources[log_type].splunk_macro
    name = converter.dictionary[field].splunk
    return f"ds_filter_{field}", f"`{macro}` {name}=* | stats count BY {name} | sort 1000 - count | fields {name}"


def filter_log_type(dashboard: Dashboard, field: str, dictionary: FieldDictionary) -> str:
    """The log source a dashboard filter takes its values from (the Kibana control's data view)."""
    used = {p.log_type for p in dashboard.panels if p.follows_filters}
    return next(t for t in dictionary.logsources if t in used and field in {f.name for f in dictionary.fields_of(t)})


def _dropdown(label: str, token: str, source: str, field: str) -> dict[str, Any]:
    """A dropdown of the values a search finds, with "All" (`*`) first and by default."""
    return {
        "type": "input.dropdown",
        "title": label,
        "options": {"items": ">frame(label, value) | prepend(formattedStatics) | objects()", "token": token, "defaultValue": ALL},
        "dataSources": {"primary": source},
        "context": {
            "formattedConfig": {"number": {"prefix": ""}},
            "formattedStatics": ">statics | formatByType(formattedConfig)",
            "statics": [["All"], [ALL]],
            "label": f'>primary | seriesByName("{field}") | renameSeries("label") | formatByType(formattedConfig)',
            "value": f'>primary | seriesByName("{field}") | renameSeries("value") | formatByType(formattedConfig)',
        },
    }


def _options(panel: Panel) -> dict[str, Any]:
    metric = panel.metrics[0].label
    if panel.visualization == "timechart":
        return {"xAxisTitleVisibility": "hide", "yAxisTitleText": metric}
    if panel.visualization == "bar":
        return {"stackMode": "stacked" if len(panel.by) == 2 else "auto", "xAxisTitleText": panel.label_of(panel.by[0]),
                "yAxisTitleText": metric}
    if panel.visualization == "single":
        return {"underLabel": metric}
    if panel.visualization == "table":
        return {"count": 20}
    return {}


def view_xml(dashboard: Dashboard, studio: dict[str, Any]) -> str:
    """A Dashboard Studio view: the definition as JSON in a CDATA section (a `]]>` in the JSON is
    split across two sections, so nothing can end it early)."""
    text = json.dumps(studio, indent=2, sort_keys=True, ensure_ascii=False).replace("]]>", "]]]]><![CDATA[>")
    return (f'<dashboard version="2" theme="dark">\n  <label>{_xml(dashboard.title)}</label>\n'
            f"  <description>{_xml(dashboard.description)}</description>\n"
            f"  <definition><![CDATA[\n{text}\n]]></definition>\n</dashboard>\n")


def nav_xml(dashboards: list[Dashboard]) -> str:
    default = ' default="true"'
    views = "".join(f'  <view name="{view_name(d)}"{default if i == 0 else ""} />\n' for i, d in enumerate(dashboards))
    return (f'<nav search_view="search">\n{views}  <view name="search" />\n  <view name="alerts" />\n'
            f'  <view name="reports" />\n  <view name="dashboards" />\n</nav>\n')


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
