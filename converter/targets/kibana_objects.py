"""The dashboards (dashboards/*.yml) as Kibana saved objects: the NDJSON that Stack Management >
Saved objects > Import (or POST /api/saved_objects/_import) takes.

- A data view (`index-pattern`) per log source, id `kamal-siem-<log type>`, titled with the log
  source's index patterns from parsers/fields.yml, time field `@timestamp`; and one per query
  panel's own data view (the Security detection alerts).
- A dashboard per YAML file, id `kamal-siem-<name>`: each panel a Lens visualization by value
  (line, horizontal bar, pie, metric, table) whose query is the panel's Sigma detection converted to
  Lucene with the rules' Elastic pipeline (ECS names), aggregated on the ECS names; the dashboard
  filters are options-list controls. A panel that does not follow the filters (its log source lacks
  a filter field, or a query panel) ignores the dashboard's filters (Lens "ignore global filters").
  Where Lucene cannot match exactly what Sigma matches (keyword fields compare case-sensitively in
  Elasticsearch), the panel's description says so, as lucene_exact.py judges the rules' queries.

Objects carry the migration versions of Kibana 8.9 (`coreMigrationVersion` 8.8.0, dashboards at
8.9.0, data views at 8.0.0), so Kibana 8.9 and later (9.x included) import them and migrate them
forward. Ids and content are derived from the YAML only, so the same content gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..dashboard_model import Dashboard, Panel, load_dashboards
from ..dashboard_queries import PanelConverter
from ..fields import FieldDictionary
from ..tuning import Tuning
from .splunk_dashboards import filter_log_type

CORE_MIGRATION_VERSION = "8.8.0"
DASHBOARD_MIGRATION_VERSION = "8.9.0"
DATA_VIEW_MIGRATION_VERSION = "8.0.0"
COLUMNS = 48  # Kibana's dashboard grid; a YAML width is in twelfths of it
HEIGHTS = {"single": 8, "timechart": 15, "bar": 15, "pie": 15, "table": 17}
DATA_TYPES = {"keyword": "string", "keyword_list": "string", "text": "string", "long": "number", "double": "number",
              "ip": "ip", "boolean": "boolean", "timestamp": "date"}
LENS_FUNCTIONS = {"count": "count", "distinct_count": "unique_count", "avg": "average", "max": "max", "min": "min", "sum": "sum"}
PREFIX = "kamal-siem-"
SAVED_OBJECTS_FILE = "kamal-siem-kibana-objects.ndjson"  # its name in the Elastic bundle


def data_view_id(name: str) -> str:
    return PREFIX + name


def dashboard_id(dashboard: Dashboard) -> str:
    return PREFIX + dashboard.name.replace("_", "-")


def kibana_saved_objects(dashboards_dir: Path | None, rules_dir: Path, dictionary: FieldDictionary, tuning: Tuning) -> bytes:
    """The NDJSON of the data views and dashboards (none when `dashboards_dir` is None), one saved object a line."""
    dashboards = load_dashboards(dashboards_dir, dictionary, rules_dir) if dashboards_dir is not None else []
    converter = PanelConverter(dictionary, tuning)
    objects = data_views(dashboards, dictionary) + [dashboard_object(d, converter) for d in dashboards]
    return "".join(json.dumps(o, sort_keys=True, ensure_ascii=False) + "\n" for o in objects).encode()


def data_views(dashboards: list[Dashboard], dictionary: FieldDictionary) -> list[dict[str, Any]]:
    """One data view per log source (all of them, for Discover too), then the query panels' own."""
    views = [(log_type, f"Kamal {log_type} (kamal-siem)", source.elastic_index) for log_type, source in dictionary.logsources.items()]
    extra: dict[str, tuple[str, ...]] = {}
    for dashboard in dashboards:
        for panel in dashboard.panels:
            if panel.query is not None:
                extra.setdefault(panel.query.data_view, panel.query.index)
    views += [(name, f"Kamal {name} (kamal-siem)", index) for name, index in sorted(extra.items())]
    return [{
        "id": data_view_id(name), "type": "index-pattern", "managed": False, "references": [],
        "coreMigrationVersion": CORE_MIGRATION_VERSION, "typeMigrationVersion": DATA_VIEW_MIGRATION_VERSION,
        "attributes": {"title": ",".join(index), "name": label, "timeFieldName": "@timestamp", "fields": "[]",
                       "fieldFormatMap": "{}", "fieldAttrs": "{}", "runtimeFieldMap": "{}", "sourceFilters": "[]", "typeMeta": "{}"},
    } for name, label, index in views]


def panel_data_view(panel: Panel) -> str:
    return data_view_id(panel.query.data_view if panel.query is not None else str(panel.log_type))


def dashboard_object(dashboard: Dashboard, converter: PanelConverter) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    references: list[dict[str, str]] = []
    y = 0
    for row in dashboard.rows():
        height = max(HEIGHTS[p.visualization] for p in row)
        x = 0
        for panel in row:
            width = COLUMNS * panel.width // 12
            lens = lens_attributes(panel, converter)
            panels.append({"type": "lens", "panelIndex": panel.id, "gridData": {"x": x, "y": y, "w": width, "h": height, "i": panel.id},
                           "title": panel.title, "embeddableConfig": {"attributes": lens, "description": lens["description"],
                                                                      "enhancements": {}, "hidePanelTitles": False}})
            references += [{**r, "name": f"{panel.id}:{r['name']}"} for r in lens["references"]]
            x += width
        y += height
    controls, control_references = control_group(dashboard, converter.dictionary)
    attributes: dict[str, Any] = {
        "title": dashboard.title, "description": dashboard.description, "version": 1,
        "panelsJSON": _json(panels),
        "optionsJSON": _json({"useMargins": True, "syncColors": False, "syncCursor": True, "syncTooltips": False, "hidePanelTitles": False}),
        "timeRestore": True, "timeFrom": f"now-{dashboard.time_range}", "timeTo": "now",
        "refreshInterval": {"pause": True, "value": 60000},
        "kibanaSavedObjectMeta": {"searchSourceJSON": _json({"query": {"query": "", "language": "kuery"}, "filter": []})},
    }
    if controls is not None:
        attributes["controlGroupInput"] = controls
    return {"id": dashboard_id(dashboard), "type": "dashboard", "managed": False, "attributes": attributes,
            "references": references + control_references,
            "coreMigrationVersion": CORE_MIGRATION_VERSION, "typeMigrationVersion": DASHBOARD_MIGRATION_VERSION}


def control_group(dashboard: Dashboard, dictionary: FieldDictionary) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """The dashboard filters as options-list controls, each on the data view of the first log source
    of the dashboard's panels that carries the field (the Splunk dropdown's values come from there too)."""
    if not dashboard.filters:
        return None, []
    controls: dict[str, Any] = {}
    references = []
    for order, f in enumerate(dashboard.filters):
        control_id = f"filter_{f.field}"
        controls[control_id] = {"order": order, "width": "medium", "grow": True, "type": "optionsListControl",
                                "explicitInput": {"id": control_id, "fieldName": dictionary[f.field].ecs, "title": f.label,
                                                  "singleSelect": True, "enhancements": {}}}
        references.append({"type": "index-pattern", "id": data_view_id(filter_log_type(dashboard, f.field, dictionary)),
                           "name": f"controlGroup_{control_id}:optionsListDataView"})
    group = {"controlStyle": "oneLine", "chainingSystem": "HIERARCHICAL", "panelsJSON": _json(controls),
             "ignoreParentSettingsJSON": _json({"ignoreFilters": False, "ignoreQuery": False, "ignoreTimerange": False,
                                                "ignoreValidations": False})}
    return group, references


def lens_attributes(panel: Panel, converter: PanelConverter) -> dict[str, Any]:
    """A Lens visualization by value: one form-based layer on the panel's data view, its query the
    panel's filter in Lucene."""
    layer = f"layer_{panel.id}"
    columns, order, roles = _columns(panel, converter)
    datasource_layer: dict[str, Any] = {"columns": columns, "columnOrder": order, "incompleteColumns": {}, "sampling": 1,
                                        "ignoreGlobalFilters": not panel.follows_filters}
    problems = converter.lucene_problems(panel)
    description = panel.description + (f" Not exact in Kibana: {'; '.join(problems)}." if problems else "")
    return {
        "title": panel.title, "description": description, "type": "lens", "visualizationType": _VISUALIZATION_TYPES[panel.visualization],
        "references": [{"type": "index-pattern", "id": panel_data_view(panel), "name": f"indexpattern-datasource-layer-{layer}"}],
        "state": {
            "query": {"query": converter.lucene(panel), "language": "lucene"},
            "filters": [],
            "datasourceStates": {"formBased": {"layers": {layer: datasource_layer}}},
            "visualization": _visualization(panel, layer, roles),
            "internalReferences": [],
            "adHocDataViews": {},
        },
    }


_VISUALIZATION_TYPES = {"timechart": "lnsXY", "bar": "lnsXY", "pie": "lnsPie", "single": "lnsMetric", "table": "lnsDatatable"}


def _columns(panel: Panel, converter: PanelConverter) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """Lens columns: the time buckets (timechart), one `terms` per `by` field, one per metric.
    Terms are ordered by the first metric, the top `limit` kept: series and bar splits gather the
    rest under "Other" (Splunk's OTHER); table rows keep a missing value as its own row."""
    columns: dict[str, Any] = {}
    metric_ids = [f"m{i}" for i in range(len(panel.metrics))]
    for column_id, metric in zip(metric_ids, panel.metrics, strict=True):
        column: dict[str, Any] = {"label": metric.label, "customLabel": True, "operationType": LENS_FUNCTIONS[metric.function],
                                  "isBucketed": False, "scale": "ratio", "dataType": "number", "params": {"emptyAsNull": True}}
        if metric.field is None:
            column["sourceField"] = "___records___"
        else:
            column["sourceField"] = converter.elastic_name(panel, metric.field)
            if panel.field_type(metric.field, converter.dictionary) == "timestamp":
                column["dataType"] = "date"
            if metric.function == "distinct_count":
                column["params"] = {"emptyAsNull": False}
        columns[column_id] = column
    by_ids = [f"by{i}" for i in range(len(panel.by))]
    for i, (column_id, name) in enumerate(zip(by_ids, panel.by, strict=True)):
        split = panel.visualization == "timechart" or (panel.visualization == "bar" and i == 1)
        columns[column_id] = {
            "label": panel.label_of(name), "customLabel": True, "operationType": "terms", "isBucketed": True, "scale": "ordinal",
            "sourceField": converter.elastic_name(panel, name), "dataType": DATA_TYPES[panel.field_type(name, converter.dictionary)],
            "params": {"size": panel.limit, "orderBy": {"type": "column", "columnId": "m0"}, "orderDirection": "desc",
                       "otherBucket": split, "missingBucket": panel.visualization == "table", "parentFormat": {"id": "terms"},
                       "include": [], "exclude": [], "includeIsRegex": False, "excludeIsRegex": False}}
    order = by_ids + metric_ids
    roles: dict[str, Any] = {"metrics": metric_ids, "by": by_ids, "time": None}
    if panel.visualization == "timechart":
        columns["time"] = {"label": "@timestamp", "operationType": "date_histogram", "sourceField": "@timestamp", "isBucketed": True,
                           "scale": "interval", "dataType": "date", "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False}}
        order = ["time", *order]
        roles["time"] = "time"
    return columns, order, roles


def _visualization(panel: Panel, layer: str, roles: dict[str, Any]) -> dict[str, Any]:
    metrics, by = roles["metrics"], roles["by"]
    if panel.visualization == "single":
        return {"layerId": layer, "layerType": "data", "metricAccessor": metrics[0]}
    if panel.visualization == "pie":
        return {"shape": "pie", "layers": [{"layerId": layer, "layerType": "data", "primaryGroups": by, "metrics": metrics,
                                            "numberDisplay": "value", "categoryDisplay": "default", "legendDisplay": "default",
                                            "nestedLegend": False}]}
    if panel.visualization == "table":
        return {"layerId": layer, "layerType": "data", "columns": [{"columnId": c, "isTransposed": False} for c in [*by, *metrics]],
                "sorting": {"columnId": metrics[0], "direction": "desc"}, "rowHeight": "single", "rowHeightLines": 1}
    series = "line" if panel.visualization == "timechart" else ("bar_horizontal_stacked" if len(by) == 2 else "bar_horizontal")
    data_layer: dict[str, Any] = {"layerId": layer, "layerType": "data", "seriesType": series, "accessors": metrics}
    if panel.visualization == "timechart":
        data_layer["xAccessor"] = roles["time"]
        if by:
            data_layer["splitAccessor"] = by[0]
    else:
        data_layer["xAccessor"] = by[0]
        if len(by) == 2:
            data_layer["splitAccessor"] = by[1]
    return {"preferredSeriesType": series, "layers": [data_layer], "legend": {"isVisible": True, "position": "right"},
            "valueLabels": "hide", "fittingFunction": "None",
            "axisTitlesVisibilitySettings": {"x": panel.visualization != "timechart", "yLeft": True, "yRight": True}}


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
