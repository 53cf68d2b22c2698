"""Dashboards as data (dashboards/*.yml): loaded, checked against the schema and the field
dictionary, as the model both targets compile (converter/targets/splunk_dashboards.py and
kibana_objects.py).

A panel's filter is one of:
- a Sigma `logsource` + `detection` of its own;
- `rule: <id>`, the logsource and detection of a single-event Sigma rule under sigma_rules/;
- `query:`, one query per target, for what is not a Kamal log event (the SIEMs' own alerts).
Its aggregation names dictionary fields (or the query's own fields), which each target maps to its
names, as the pipelines map the detection.

Filters are dashboard-wide, on dictionary fields. A Sigma panel follows them when its log source
carries every filter field; a panel whose log source lacks one (and a query panel) ignores them
all, in both targets, so the two dashboards never disagree about what a panel counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.exceptions import SigmaError

from .content import content_root
from .errors import ContentError, ContentErrors
from .fields import FieldDictionary
from .pipelines import FRAMING
from .schema_check import schema_errors
from .yamlpos import LineMap, load_yaml

VISUALIZATIONS = ("timechart", "bar", "pie", "single", "table")
# How many `by` fields each visualization takes (min, max), and whether it takes several metrics
SHAPES: dict[str, tuple[int, int, bool]] = {
    "timechart": (0, 1, False), "bar": (1, 2, False), "pie": (1, 1, False), "single": (0, 0, False), "table": (1, 4, True),
}
NUMERIC = ("long", "double")
GROUPABLE = ("keyword", "keyword_list", "long", "double", "ip", "boolean")
DEFAULT_LIMIT = 10
MISSING = "(missing value)"  # a table row whose `by` field is absent (Kibana's label for its missing bucket)


@dataclass(frozen=True)
class Metric:
    function: str  # count, distinct_count, avg, max, min, sum
    field: str | None
    label: str


@dataclass(frozen=True)
class QueryField:
    name: str
    splunk: str
    elastic: str
    type: str


@dataclass(frozen=True)
class PanelQuery:
    """A panel that is not a Sigma detection: its SPL, its Kibana data view and Lucene query."""

    why: str
    splunk: str
    data_view: str
    index: tuple[str, ...]
    lucene: str
    fields: dict[str, QueryField]


@dataclass(frozen=True)
class Filter:
    field: str
    label: str


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    description: str
    visualization: str
    metrics: tuple[Metric, ...]
    by: tuple[str, ...]
    labels: dict[str, str]
    limit: int
    row: int
    width: int
    log_type: str | None = None  # the log source of a Sigma panel
    sigma: dict[str, Any] | None = None  # {title, logsource, detection} of a Sigma panel
    rule: str | None = None  # the id of the Sigma rule the filter comes from
    query: PanelQuery | None = None
    follows_filters: bool = False

    def label_of(self, name: str) -> str:
        return self.labels.get(name, name)

    def field_type(self, name: str, dictionary: FieldDictionary) -> str:
        if self.query is not None:
            return self.query.fields[name].type
        return dictionary[name].type


@dataclass(frozen=True)
class Dashboard:
    name: str  # the file name without .yml
    path: Path
    title: str
    description: str
    time_range: str  # e.g. 7d
    filters: tuple[Filter, ...]
    panels: tuple[Panel, ...] = field(default_factory=tuple)

    def rows(self) -> list[list[Panel]]:
        """The panels by row, in row order, each row left to right."""
        out: dict[int, list[Panel]] = {}
        for panel in self.panels:
            out.setdefault(panel.row, []).append(panel)
        return [out[r] for r in sorted(out)]


def default_dashboards_dir() -> Path:
    return content_root() / "dashboards"


def dashboard_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yml") if p.is_file())


def load_dashboards(directory: Path, dictionary: FieldDictionary, rules_dir: Path) -> list[Dashboard]:
    """Every dashboard under `directory`, checked; raises ContentErrors naming each file and line."""
    rules = _rules_by_id(rules_dir)
    dashboards: list[Dashboard] = []
    errors: list[ContentError] = []
    for path in dashboard_files(directory):
        try:
            dashboards.append(load_dashboard(path, dictionary, rules))
        except ContentErrors as exc:
            errors.extend(exc.errors)
        except ContentError as exc:
            errors.append(exc)
    views: dict[str, tuple[tuple[str, ...], Path]] = {}
    for dashboard in dashboards:
        for panel in dashboard.panels:
            if panel.query is None:
                continue
            seen = views.setdefault(panel.query.data_view, (panel.query.index, dashboard.path))
            if seen[0] != panel.query.index:
                errors.append(ContentError(dashboard.path, None, f"panel {panel.id}: data view {panel.query.data_view!r} has "
                                                                  f"other index patterns in {seen[1]}"))
    if errors:
        raise ContentErrors(errors)
    return dashboards


def _rules_by_id(rules_dir: Path) -> dict[str, dict[str, Any]]:
    """The single-event Sigma rules under `rules_dir` as written (YAML mappings), by id."""
    from .local.rules import rule_files
    from .targets.sigma_rules import rule_documents

    out: dict[str, dict[str, Any]] = {}
    for path in rule_files(rules_dir):
        try:
            documents = rule_documents(path)
        except (yaml.YAMLError, OSError):
            continue  # `kamal-siem validate` reports broken rules; a panel naming one is reported as unknown
        for doc in documents:
            if isinstance(doc, dict) and "id" in doc and isinstance(doc.get("detection"), dict) and "logsource" in doc:
                out[str(doc["id"])] = doc
    return out


def load_dashboard(path: Path, dictionary: FieldDictionary, rules: dict[str, dict[str, Any]]) -> Dashboard:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", path.stem):
        raise ContentError(path, None, "a dashboard file is named <name>.yml, the name in lower case letters, digits and "
                                       "underscores (it names the Splunk view kamal_<name> and the Kibana dashboard kamal-siem-<name>)")
    data, lines = load_yaml(path)
    errors = schema_errors(data, lines, path, "dashboard.schema.json")
    if errors:
        raise ContentErrors(errors)
    checker = _Checker(path, lines, dictionary)
    filters = tuple(Filter(f["field"], f["label"]) for f in data["filters"])
    for i, f in enumerate(filters):
        checker.filter(f, i, filters[:i])
    panels = tuple(checker.panel(raw, i, filters, rules) for i, raw in enumerate(data["panels"]))
    checker.unique([p.id for p in panels], "panel id", "panels")
    checker.layout(panels)
    if filters and not any(p.follows_filters for p in panels):
        checker.error(["filters"], "no panel follows the filters (no panel's log source carries every filter field)")
    if checker.errors:
        raise ContentErrors(checker.errors)
    return Dashboard(path.stem, path, data["title"], " ".join(data["description"].split()), data["time_range"], filters, panels)


class _Checker:
    """Checks what the schema cannot (fields, shapes, layout), collecting errors with their lines."""

    def __init__(self, path: Path, lines: LineMap, dictionary: FieldDictionary) -> None:
        self.path, self.lines, self.dictionary = path, lines, dictionary
        self.errors: list[ContentError] = []
        self._converter: Any = None

    def error(self, where: list[str | int], reason: str) -> None:
        self.errors.append(ContentError(self.path, self.lines.line_of(where), reason))

    def unique(self, values: list[str], what: str, where: str) -> None:
        seen: set[str] = set()
        for i, value in enumerate(values):
            if value in seen:
                self.error([where, i], f"{what} {value!r} is used twice")
            seen.add(value)

    def filter(self, f: Filter, i: int, earlier: tuple[Filter, ...]) -> None:
        if f.field not in self.dictionary:
            self.error(["filters", i], f"filter on {f.field!r}, which is not in the field dictionary (parsers/fields.yml)")
        elif self.dictionary[f.field].type != "keyword" or f.field in FRAMING:
            self.error(["filters", i], f"filter on {f.field!r}: only single-valued keyword fields can be dashboard filters")
        if any(e.field == f.field for e in earlier):
            self.error(["filters", i], f"filter on {f.field!r} is listed twice")

    def panel(self, raw: dict[str, Any], i: int, filters: tuple[Filter, ...], rules: dict[str, dict[str, Any]]) -> Panel:
        where: list[str | int] = ["panels", i]
        agg = raw["aggregation"]
        metrics = tuple(Metric(m["function"], m.get("field"), m["label"]) for m in agg["metrics"])
        by = tuple(agg.get("by", []))
        panel = Panel(raw["id"], raw["title"], " ".join(raw["description"].split()), raw["visualization"], metrics, by,
                      dict(agg.get("labels", {})), agg.get("limit", DEFAULT_LIMIT), raw["layout"]["row"], raw["layout"]["width"])
        names: set[str] = set()
        if "query" in raw:
            q = raw["query"]
            fields = {n: QueryField(n, f["splunk"], f["elastic"], f["type"]) for n, f in q["fields"].items()}
            query = PanelQuery(" ".join(q["why"].split()), " ".join(q["splunk"].split()), q["elastic"]["data_view"],
                               tuple(q["elastic"]["index"]), q["elastic"]["lucene"], fields)
            panel = _replace(panel, query=query)
            names = set(fields)
        else:
            sigma = self._sigma(raw, where, rules)
            if sigma is None:
                return panel
            source = self.dictionary.logsource_of(sigma["logsource"].get("product"), sigma["logsource"].get("service"),
                                                  sigma["logsource"].get("category"))
            if source is None:
                self.error([*where, "logsource"] if "logsource" in raw else [*where, "rule"],
                           f"panel {panel.id}: the logsource is none of the log sources in parsers/fields.yml")
                return panel
            names = {f.name for f in self.dictionary.fields_of(source.log_type) if f.name not in FRAMING or f.name == "timestamp"}
            follows = all(f.field in names for f in filters)
            panel = _replace(panel, log_type=source.log_type, sigma=sigma, rule=raw.get("rule"), follows_filters=follows)
            self._converts(panel, where)
        self._aggregation(panel, names, where)
        return panel

    def _sigma(self, raw: dict[str, Any], where: list[str | int], rules: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        if "rule" not in raw:
            return {"title": raw["title"], "logsource": dict(raw["logsource"]), "detection": raw["detection"]}
        rule = rules.get(raw["rule"])
        if rule is None:
            self.error([*where, "rule"], f"panel {raw['id']}: no single-event Sigma rule has the id {raw['rule']} under sigma_rules/")
            return None
        logsource = {k: v for k, v in rule["logsource"].items() if k in ("product", "service", "category")}
        return {"title": raw["title"], "logsource": logsource, "detection": rule["detection"]}

    def _converts(self, panel: Panel, where: list[str | int]) -> None:
        """The detection is valid Sigma on the dictionary's fields (the strict local pipeline)."""
        from .dashboard_queries import PanelConverter

        if self._converter is None:
            self._converter = PanelConverter(self.dictionary)
        try:
            self._converter.local(panel)
        except (SigmaError, NotImplementedError, ValueError) as exc:
            self.error([*where, "detection"] if panel.rule is None else [*where, "rule"], f"panel {panel.id}: {exc}")

    def _aggregation(self, panel: Panel, names: set[str], where: list[str | int]) -> None:
        at = [*where, "aggregation"]
        low, high, several = SHAPES[panel.visualization]
        if not low <= len(panel.by) <= high:
            self.error([*at, "by"], f"panel {panel.id}: a {panel.visualization} takes {low} to {high} `by` fields, not {len(panel.by)}")
        if len(panel.metrics) > 1 and not several:
            self.error([*at, "metrics"], f"panel {panel.id}: a {panel.visualization} shows one metric")
        for name in panel.by:
            if name not in names:
                self.error([*at, "by"], f"panel {panel.id}: `by` field {name!r} is not a field of the panel's events")
            elif name == "timestamp" or self._type(panel, name) not in GROUPABLE:
                self.error([*at, "by"], f"panel {panel.id}: cannot group by {name!r} ({self._type(panel, name)})")
        for j, metric in enumerate(panel.metrics):
            self._metric(panel, metric, names, [*at, "metrics", j])
        for name in panel.labels:
            if name not in panel.by:
                self.error([*at, "labels"], f"panel {panel.id}: a label for {name!r}, which is not a `by` field")
        columns = [panel.label_of(n) for n in panel.by] + [m.label for m in panel.metrics]
        if len(set(columns)) != len(columns):
            self.error(at, f"panel {panel.id}: column titles repeat ({', '.join(columns)})")

    def _metric(self, panel: Panel, metric: Metric, names: set[str], at: list[str | int]) -> None:
        if metric.function == "count":
            if metric.field is not None:
                self.error(at, f"panel {panel.id}: count takes no field")
            return
        if metric.field is None or metric.field not in names:
            self.error(at, f"panel {panel.id}: {metric.function} needs a field of the panel's events")
            return
        kind = self._type(panel, metric.field)
        allowed = {"distinct_count": GROUPABLE, "avg": NUMERIC, "sum": NUMERIC,
                   "max": (*NUMERIC, "timestamp"), "min": (*NUMERIC, "timestamp")}[metric.function]
        if kind not in allowed:
            self.error(at, f"panel {panel.id}: {metric.function} of {metric.field!r} ({kind}) is not possible")

    def _type(self, panel: Panel, name: str) -> str:
        return panel.field_type(name, self.dictionary)

    def layout(self, panels: tuple[Panel, ...]) -> None:
        rows: dict[int, int] = {}
        for panel in panels:
            rows[panel.row] = rows.get(panel.row, 0) + panel.width
        for number, (row, width) in enumerate(sorted(rows.items()), start=1):
            if row != number:
                self.error(["panels"], f"layout rows must be numbered 1, 2, 3, ... without gaps (row {row} follows row {number - 1})")
                break
            if width != 12:
                index = next(i for i, p in enumerate(panels) if p.row == row)
                self.error(["panels", index, "layout"], f"the panel widths of row {row} add up to {width}, not 12")


def _replace(panel: Panel, **changes: Any) -> Panel:
    from dataclasses import replace

    return replace(panel, **changes)
