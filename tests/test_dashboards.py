"""The dashboards (dashboards/*.yml) compiled to Splunk Dashboard Studio views and Kibana saved
objects: valid for the vendors' formats, the same panels and filters in both targets, and filters
that select what they should on the bundled samples (local engine) and in real Lucene."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from luqum.parser import parser as lucene_parser
from luqum.tree import Phrase, SearchField, Word

from converter.dashboard_model import Dashboard, Panel, load_dashboards
from converter.dashboard_queries import PanelConverter
from converter.errors import ContentErrors
from converter.fields import FieldDictionary, default_dictionary
from converter.local.events import create_events_table, to_arrow
from converter.local.rules import rule_files
from converter.parsing.files import Options, Summary, parse_inputs
from converter.replay import find_cases, load_case
from converter.targets import kibana_objects, splunk_dashboards
from converter.targets.elastic_rules import SEVERITY as ELASTIC_SEVERITY
from converter.targets.elastic_rules import elastic_rules
from converter.targets.kibana_objects import kibana_saved_objects
from converter.targets.splunk_app import APP
from converter.targets.splunk_app import SEVERITY as SPLUNK_SEVERITY
from converter.targets.splunk_dashboards import splunk_dashboard_files, view_xml
from converter.targets.splunk_searches import splunk_searches
from converter.tuning import Tuning, load_tuning

from .conftest import ROOT
from .lucene_harness import compile_harness
from .tools import dashboard_node_modules

DASHBOARDS = ROOT / "dashboards"
RULES = ROOT / "sigma_rules"
VIEWS = f"{APP}/default/data/ui/views/"
NAV = f"{APP}/default/data/ui/nav/default.xml"
Where = tuple[str, int, int]  # (source relative to the repository, line, record)


# --- building ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dictionary() -> FieldDictionary:
    return default_dictionary()


@pytest.fixture(scope="module")
def tuning() -> Tuning:
    return load_tuning()


@pytest.fixture(scope="module")
def dashboards(dictionary: FieldDictionary) -> list[Dashboard]:
    return load_dashboards(DASHBOARDS, dictionary, RULES)


@pytest.fixture(scope="module")
def splunk_files(dictionary: FieldDictionary, tuning: Tuning) -> dict[str, bytes]:
    return splunk_dashboard_files(DASHBOARDS, RULES, dictionary, tuning)


@pytest.fixture(scope="module")
def studio(splunk_files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """Each view's Dashboard Studio definition, by view name."""
    out = {}
    for path, data in sorted(splunk_files.items()):
        if path.startswith(VIEWS):
            root = ET.fromstring(data)
            text = root.findtext("definition")
            assert text is not None, path
            out[Path(path).stem] = json.loads(text)
    return out


@pytest.fixture(scope="module")
def ndjson(dictionary: FieldDictionary, tuning: Tuning) -> bytes:
    return kibana_saved_objects(DASHBOARDS, RULES, dictionary, tuning)


@pytest.fixture(scope="module")
def objects(ndjson: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ndjson.decode().splitlines()]


def kibana_dashboard(objects: list[dict[str, Any]], dashboard: Dashboard) -> dict[str, Any]:
    [found] = [o for o in objects if o["type"] == "dashboard" and o["id"] == kibana_objects.dashboard_id(dashboard)]
    return found


def kibana_panels(objects: list[dict[str, Any]], dashboard: Dashboard) -> list[dict[str, Any]]:
    return json.loads(kibana_dashboard(objects, dashboard)["attributes"]["panelsJSON"])


def lens_layer(panel: dict[str, Any]) -> dict[str, Any]:
    [layer] = panel["embeddableConfig"]["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values()
    return layer


def sigma_panels(dashboards: list[Dashboard]) -> list[tuple[Dashboard, Panel]]:
    return [(d, p) for d in dashboards for p in d.panels if p.sigma is not None]


# --- the content --------------------------------------------------------------------------------------

def test_the_operations_and_security_dashboards(dashboards: list[Dashboard]) -> None:
    by_name = {d.name: d for d in dashboards}
    assert sorted(by_name) == ["operations", "security"]
    assert by_name["operations"].title == "Kamal operations" and by_name["security"].title == "Kamal security"
    for dashboard in dashboards:
        assert [f.field for f in dashboard.filters] == ["service", "destination", "performer"]
        assert len({p.id for p in dashboard.panels}) == len(dashboard.panels)
    kinds = {p.visualization for d in dashboards for p in d.panels}
    assert kinds == {"timechart", "bar", "pie", "single", "table"}
    security = {p.id: p for p in by_name["security"].panels}
    # the alerts panels are the only ones that are not Sigma detections, and they say why
    assert {i for i, p in security.items() if p.query is not None} == {"alerts_over_time", "alerts_by_rule"}
    assert all(p.query.why for p in security.values() if p.query is not None)
    # process events carry no Kamal service/destination/performer: that panel ignores the filters
    assert [i for d in dashboards for i, p in ((p.id, p) for p in d.panels) if p.sigma and not p.follows_filters] == ["secrets_printed"]


def _mutated(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = yaml.safe_load((DASHBOARDS / "operations.yml").read_text(encoding="utf-8"))
    change(data)
    folder = tmp_path / "dashboards"
    folder.mkdir()
    (folder / "operations.yml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


def _panel(data: dict[str, Any], panel_id: str) -> dict[str, Any]:
    [found] = [p for p in data["panels"] if p["id"] == panel_id]
    return found


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "unknown key": (lambda d: d["panels"][0].update(colour="red"), "unknown key 'colour'"),
    "unknown visualization": (lambda d: d["panels"][0].update(visualization="gauge"), "is not one of"),
    "field not in the dictionary": (lambda d: _panel(d, "deploys")["detection"]["pull"].update(actor="bob"),
                                    "not in the field dictionary"),
    "by field of another log source": (lambda d: _panel(d, "deploys_by_performer")["aggregation"].update(by=["http_status"]),
                                       "is not a field of the panel's events"),
    "group by a text field": (lambda d: _panel(d, "deploys_by_performer")["aggregation"].update(by=["message"]),
                              "cannot group by 'message' (text)"),
    "average of a keyword": (lambda d: _panel(d, "command_durations")["aggregation"]["metrics"][1].update(field="command"),
                             "avg of 'command' (keyword) is not possible"),
    "pie with two slices fields": (lambda d: _panel(d, "deploys_by_performer")["aggregation"].update(by=["performer", "service"]),
                                   "a pie takes 1 to 1 `by` fields"),
    "row not filled": (lambda d: _panel(d, "deploys")["layout"].update(width=2), "add up to 11, not 12"),
    "panel id twice": (lambda d: _panel(d, "execs").update(id="rollbacks"), "panel id 'rollbacks' is used twice"),
    "unknown rule": (lambda d: (_panel(d, "rollbacks").pop("logsource"), _panel(d, "rollbacks").pop("detection"),
                                _panel(d, "rollbacks").update(rule="00000000-0000-4000-8000-000000000000")),
                     "no single-event Sigma rule has the id"),
    "filter on a list field": (lambda d: d["filters"].append({"field": "performer_flags", "label": "Flags"}),
                               "only single-valued keyword fields"),
    "logsource of nobody": (lambda d: _panel(d, "deploys").update(logsource={"product": "windows", "service": "security"}),
                            "none of the log sources"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_dashboard_is_refused_with_its_file_and_line(case: str, tmp_path: Path, dictionary: FieldDictionary) -> None:
    change, message = BROKEN[case]
    folder = _mutated(tmp_path, change)
    with pytest.raises(ContentErrors) as raised:
        load_dashboards(folder, dictionary, RULES)
    text = str(raised.value)
    assert message in text
    assert re.search(re.escape(str(folder / "operations.yml")) + r":\d+: ", text), text


def test_a_dashboard_file_name_must_make_view_and_object_ids(tmp_path: Path, dictionary: FieldDictionary) -> None:
    folder = _mutated(tmp_path, lambda d: None)
    (folder / "operations.yml").rename(folder / "Ops Board.yml")
    with pytest.raises(ContentErrors, match=r"Ops Board.yml: a dashboard file is named <name>.yml"):
        load_dashboards(folder, dictionary, RULES)


def test_the_unchanged_copy_loads(tmp_path: Path, dictionary: FieldDictionary) -> None:
    """The mutation harness itself does not break the file."""
    assert len(load_dashboards(_mutated(tmp_path, lambda d: None), dictionary, RULES)[0].panels) == 11


# --- Splunk -------------------------------------------------------------------------------------------

def test_views_are_dashboard_studio_xml(splunk_files: dict[str, bytes], dashboards: list[Dashboard],
                                        studio: dict[str, dict[str, Any]]) -> None:
    views = [name for name in splunk_files if not name.startswith(f"{APP}/lookups/")]
    assert sorted(views) == sorted([NAV] + [f"{VIEWS}kamal_{d.name}.xml" for d in dashboards])
    # value lists AppInspect flags (`rm -rf`) are read from lookups, as the rules' are
    assert all(b"rm -r" not in data and b"rm -f" not in data for name, data in splunk_files.items() if name.endswith(".xml"))
    for dashboard in dashboards:
        root = ET.fromstring(splunk_files[f"{VIEWS}kamal_{dashboard.name}.xml"])
        assert root.tag == "dashboard" and root.get("version") == "2"
        assert root.findtext("label") == dashboard.title
        definition = studio[f"kamal_{dashboard.name}"]
        assert definition["title"] == dashboard.title
        # the grid layout holds every visualization once, rows stacked without overlap
        layout = definition["layout"]["layoutDefinitions"]["layout_1"]
        assert layout["type"] == "grid"
        assert sorted(b["item"] for b in layout["structure"]) == sorted(definition["visualizations"])
        for row in dashboard.rows():
            blocks = [b for b in layout["structure"] if b["item"] in {f"viz_{p.id}" for p in row}]
            assert sum(b["position"]["w"] for b in blocks) == 1440 and len({b["position"]["y"] for b in blocks}) == 1


def test_nav_lists_the_dashboards(splunk_files: dict[str, bytes], dashboards: list[Dashboard]) -> None:
    nav = ET.fromstring(splunk_files[NAV])
    names = [v.get("name") for v in nav.findall("view")]
    assert names[: len(dashboards)] == [f"kamal_{d.name}" for d in dashboards]
    assert nav.findall("view")[0].get("default") == "true"
    assert {"search", "alerts", "dashboards"} <= set(names)


def test_a_cdata_end_in_the_definition_cannot_end_the_section(dashboards: list[Dashboard]) -> None:
    definition = {"title": "x", "description": "a ]]> b"}
    root = ET.fromstring(view_xml(dashboards[0], definition))
    assert json.loads(root.findtext("definition") or "") == definition


def _run_validator(definitions: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    modules = dashboard_node_modules()
    node = shutil.which("node")
    assert node, "node is missing: install Node.js (npm installs the validator; .ci/run installs both)"
    source = tmp_path / "definitions.json"
    source.write_text(json.dumps(definitions), encoding="utf-8")
    run = subprocess.run([node, str(ROOT / "tests" / "dashboards" / "validate_studio.js"), str(source)], capture_output=True,
                         text=True, check=True, env={**os.environ, "NODE_PATH": str(modules)}, timeout=120)
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def _broken(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Definitions the validator must refuse, each a single change to a valid one."""
    out = {}
    viz = sorted(definition["visualizations"])
    first, bar = viz[0], next(v for v in viz if definition["visualizations"][v]["type"] == "splunk.bar")
    layout = definition["layout"]["layoutDefinitions"]["layout_1"]
    changes: dict[str, Callable[[dict[str, Any]], None]] = {
        "visualization type": lambda d: d["visualizations"][first].update(type="splunk.lines"),
        "option value": lambda d: d["visualizations"][bar]["options"].update(stackMode="sideways"),
        "not in the layout": lambda d: d["layout"]["layoutDefinitions"]["layout_1"].update(
            structure=[b for b in layout["structure"] if b["item"] != first]),
        "search mode": lambda d: next(iter(d["dataSources"].values()))["options"].update(queryParameters={"searchMode": "turbo"}),
        "untabbed layout": lambda d: d.update(layout={"type": "grid", "structure": layout["structure"]}),
        "input type": lambda d: d["inputs"]["input_service"].update(type="input.dropdwn"),
    }
    for name, change in changes.items():
        broken = copy.deepcopy(definition)
        change(broken)
        out[f"broken: {name}"] = broken
    return out


def test_definitions_pass_splunks_dashboard_validator(studio: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    broken = _broken(studio["kamal_operations"])
    result = _run_validator({**studio, **broken}, tmp_path)
    assert {name: result[name] for name in studio} == {name: None for name in studio}
    # the validator is live: each single breakage is refused, for its reason
    reasons = {"visualization type": "/type must be equal to one of the allowed values", "option value": "/options/stackMode must match",
               "not in the layout": "is not present in layout structure", "search mode": "/queryParameters/searchMode must be equal",
               "untabbed layout": "/layout must have required property 'tabs'", "input type": "/inputs/input_service/type must be equal"}
    assert sorted(broken) == sorted(f"broken: {name}" for name in reasons)
    for name, reason in reasons.items():
        assert any(reason in error for error in result[f"broken: {name}"] or []), (name, result[f"broken: {name}"])


def _balanced(text: str) -> bool:
    depth, quoted, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quoted


def test_panel_searches(studio: dict[str, dict[str, Any]], dashboards: list[Dashboard], dictionary: FieldDictionary) -> None:
    for dashboard in dashboards:
        definition = studio[f"kamal_{dashboard.name}"]
        tokens = {i["options"]["token"] for i in definition["inputs"].values()}
        assert tokens == {"global_time"} | {f.field for f in dashboard.filters}
        for panel in dashboard.panels:
            search = definition["dataSources"][f"ds_{panel.id}"]["options"]["query"]
            assert _balanced(search), search
            if panel.query is not None:
                assert search.startswith(panel.query.splunk + " | "), search
            else:
                assert search.startswith(f"`{dictionary.logsources[str(panel.log_type)].splunk_macro}` "), search
            used = set(re.findall(r"\$([A-Za-z_]+)\|s\$", search))
            assert used == ({f.field for f in dashboard.filters} if panel.follows_filters else set()), (panel.id, search)
            assert "$" not in re.sub(r"\$[A-Za-z_]+\|s\$", "", search), search
        for name, source in definition["dataSources"].items():
            if name.startswith("ds_filter_"):
                assert source["options"]["query"].startswith("`kamal_audit` "), source
                assert _balanced(source["options"]["query"])


# --- Kibana -------------------------------------------------------------------------------------------

def test_ndjson_objects_parse_with_unique_deterministic_ids(objects: list[dict[str, Any]], ndjson: bytes) -> None:
    assert ndjson.endswith(b"\n") and b"\n\n" not in ndjson
    ids = [(o["type"], o["id"]) for o in objects]
    assert len(set(ids)) == len(ids)
    assert ids == [("index-pattern", f"kamal-siem-{t}") for t in ("audit", "run", "proxy", "docker", "process", "alerts")] + [
        ("dashboard", "kamal-siem-operations"), ("dashboard", "kamal-siem-security")]
    for o in objects:
        assert o["coreMigrationVersion"] == "8.8.0"
        assert o["typeMigrationVersion"] == {"index-pattern": "8.0.0", "dashboard": "8.9.0"}[o["type"]]
        assert o["managed"] is False


def test_data_views_are_the_log_sources_index_patterns(objects: list[dict[str, Any]], dictionary: FieldDictionary) -> None:
    views = {o["id"]: o["attributes"] for o in objects if o["type"] == "index-pattern"}
    for log_type, source in dictionary.logsources.items():
        assert views[f"kamal-siem-{log_type}"]["title"] == ",".join(source.elastic_index)
    assert views["kamal-siem-alerts"]["title"] == ".alerts-security.alerts-*"
    assert {v["timeFieldName"] for v in views.values()} == {"@timestamp"}


def test_every_reference_resolves(objects: list[dict[str, Any]], dashboards: list[Dashboard]) -> None:
    present = {(o["type"], o["id"]) for o in objects}
    for dashboard in dashboards:
        saved = kibana_dashboard(objects, dashboard)
        references = {r["name"]: r for r in saved["references"]}
        assert len(references) == len(saved["references"])
        assert all((r["type"], r["id"]) in present for r in saved["references"])
        for panel in kibana_panels(objects, dashboard):
            attributes = panel["embeddableConfig"]["attributes"]
            [layer_id] = attributes["state"]["datasourceStates"]["formBased"]["layers"]
            for inner in attributes["references"]:
                assert references[f"{panel['panelIndex']}:{inner['name']}"] == {**inner, "name": f"{panel['panelIndex']}:{inner['name']}"}
            assert [r["name"] for r in attributes["references"]] == [f"indexpattern-datasource-layer-{layer_id}"]
            layer = lens_layer(panel)
            assert layer["columnOrder"] == sorted(layer["columns"], key=layer["columnOrder"].index)
            assert set(layer["columnOrder"]) == set(layer["columns"])
            visualization = json.dumps(attributes["state"]["visualization"])
            for column in layer["columns"]:
                assert f'"{column}"' in visualization, (panel["title"], column)
            for column in layer["columns"].values():
                order = column.get("params", {}).get("orderBy", {}).get("columnId")
                assert order is None or order in layer["columns"]
        controls = json.loads(saved["attributes"]["controlGroupInput"]["panelsJSON"])
        assert sorted(controls) == sorted(f"filter_{f.field}" for f in dashboard.filters)
        for control_id in controls:
            assert references[f"controlGroup_{control_id}:optionsListDataView"]["id"] == "kamal-siem-audit"


def test_every_lens_query_is_lucene_that_parses(objects: list[dict[str, Any]], dashboards: list[Dashboard]) -> None:
    count = 0
    for dashboard in dashboards:
        for panel in kibana_panels(objects, dashboard):
            query = panel["embeddableConfig"]["attributes"]["state"]["query"]
            assert query["language"] == "lucene"
            lucene_parser.parse(query["query"])
            count += 1
    assert count == sum(len(d.panels) for d in dashboards) == 19


def test_panels_whose_lucene_is_not_exact_say_so_in_kibana(objects: list[dict[str, Any]], dashboards: list[Dashboard],
                                                            dictionary: FieldDictionary) -> None:
    """Elasticsearch compares keyword fields case-sensitively, Sigma does not: the panels that compare
    free-form strings (commands, performers) are not exact in Kibana, and their description says it."""
    converter = PanelConverter(dictionary)
    inexact = {p.id for d in dashboards for p in d.panels if converter.lucene_problems(p)}
    assert inexact == {"secrets_dumped", "secrets_printed", "unattributed_performers", "destructive_commands"}
    for dashboard in dashboards:
        for panel in kibana_panels(objects, dashboard):
            description = panel["embeddableConfig"]["attributes"]["description"]
            assert ("Not exact in Kibana: " in description) == (panel["panelIndex"] in inexact), panel["panelIndex"]
            assert panel["embeddableConfig"]["description"] == description


# --- the same panels and filters in both targets ------------------------------------------------------

def test_the_same_panels_in_both_targets(studio: dict[str, dict[str, Any]], objects: list[dict[str, Any]],
                                         dashboards: list[Dashboard], dictionary: FieldDictionary) -> None:
    for dashboard in dashboards:
        ecs_to_name = {dictionary[f.field].ecs: f.field for f in dashboard.filters}
        definition = studio[f"kamal_{dashboard.name}"]
        blocks = sorted(definition["layout"]["layoutDefinitions"]["layout_1"]["structure"],
                        key=lambda b: (b["position"]["y"], b["position"]["x"]))
        splunk_titles = [definition["visualizations"][b["item"]]["title"] for b in blocks]
        panels = sorted(kibana_panels(objects, dashboard), key=lambda p: (p["gridData"]["y"], p["gridData"]["x"]))
        assert splunk_titles == [p["title"] for p in panels] == [p.title for p in dashboard.panels]
        # the same place on the page: twelfths of 1440 pixels and of Kibana's 48 columns
        for block, panel in zip(blocks, panels, strict=True):
            assert block["position"]["x"] * 48 == panel["gridData"]["x"] * 1440
            assert block["position"]["w"] * 48 == panel["gridData"]["w"] * 1440
        # the same filters: Splunk dropdown tokens and Kibana controls on the same dictionary fields
        controls = json.loads(kibana_dashboard(objects, dashboard)["attributes"]["controlGroupInput"]["panelsJSON"])
        kibana_fields = [ecs_to_name[c["explicitInput"]["fieldName"]] for c in sorted(controls.values(), key=lambda c: c["order"])]
        inputs = [definition["inputs"][name] for name in definition["layout"]["globalInputs"]]
        assert inputs[0]["type"] == "input.timerange"
        splunk_fields = [i["options"]["token"] for i in inputs[1:]]
        assert kibana_fields == splunk_fields == [f.field for f in dashboard.filters]
        # a panel follows them in both or in neither
        by_title = {p["title"]: p for p in panels}
        for panel in dashboard.panels:
            search = definition["dataSources"][f"ds_{panel.id}"]["options"]["query"]
            assert ("| where " in search) == panel.follows_filters == (not lens_layer(by_title[panel.title])["ignoreGlobalFilters"])


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def splunk_terms(search: str, lookups: dict[str, list[str]]) -> set[tuple[str, str]]:
    """(field, value) of every comparison in a panel's SPL filter (before the first pipe that is not
    in a lookup subsearch); a lookup (tuning list, or value list moved out of the view) stands for its values."""
    terms: set[tuple[str, str]] = set()
    for lookup, field in re.findall(r"\[\| inputlookup (\w+)\.csv \| rename value AS (\w+) \| fields \w+\]", search):
        terms.update((field, v) for v in lookups[lookup])
    base = re.sub(r"\[\| inputlookup [^]]*\]", "", search).split(" | ")[0]
    for field, values in re.findall(r'([A-Za-z_][\w.]*) IN \(((?:"(?:[^"\\]|\\.)*"(?:, )?)+)\)', base):
        terms.update((field, _unescape(v)) for v in re.findall(r'"((?:[^"\\]|\\.)*)"', values))
    for field, value in re.findall(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\*)', base):
        terms.add((field, "*" if value == "*" else _unescape(value[1:-1])))
    return terms


def lucene_terms(query: str) -> set[tuple[str, str]]:
    terms: set[tuple[str, str]] = set()

    def walk(node: Any, field: str | None) -> None:
        if isinstance(node, SearchField):
            if node.name == "_exists_":
                terms.add((str(node.expr), "*"))
                return
            field = node.name
        if isinstance(node, (Word, Phrase)) and field is not None:
            value = node.value[1:-1] if isinstance(node, Phrase) else node.value
            terms.add((field, _unescape(value)))
            return
        for child in node.children:
            walk(child, field)

    walk(lucene_parser.parse(query), None)
    return terms


def test_the_same_filter_in_both_targets(dashboards: list[Dashboard], dictionary: FieldDictionary, tuning: Tuning,
                                         studio: dict[str, dict[str, Any]], objects: list[dict[str, Any]],
                                         splunk_files: dict[str, bytes]) -> None:
    """Each panel's SPL and Lucene compare the same dictionary fields with the same values (mapped back
    from CIM and ECS names); Lucene adds only the log source's own ECS conditions (process starts)."""
    lookups = {name: p.values for name, p in tuning.placeholders.items()}
    for path, data in splunk_files.items():
        if path.startswith(f"{APP}/lookups/"):
            lookups[Path(path).stem] = [row["value"] for row in csv.DictReader(io.StringIO(data.decode()))]
    assert len(lookups) > len(tuning.placeholders)  # the destructive-commands panel reads its values from one
    checked = 0
    for dashboard, panel in sigma_panels(dashboards):
        names = dictionary.fields_of(str(panel.log_type))
        from_splunk = {f.splunk: f.name for f in names}
        from_ecs = {f.ecs: f.name for f in names}
        search = studio[f"kamal_{dashboard.name}"]["dataSources"][f"ds_{panel.id}"]["options"]["query"]
        [lens] = [p for p in kibana_panels(objects, dashboard) if p["panelIndex"] == panel.id]
        spl = {(from_splunk[f], v) for f, v in splunk_terms(search, lookups)}
        lucene = lucene_terms(lens["embeddableConfig"]["attributes"]["state"]["query"]["query"])
        conditions = set(dictionary.logsources[str(panel.log_type)].elastic_conditions)
        assert {t for t in lucene if t[0] not in from_ecs} == conditions, panel.id
        assert spl == {(from_ecs[f], v) for f, v in lucene if f in from_ecs}, panel.id
        assert spl, panel.id
        checked += 1
    assert checked == 17


def test_the_same_aggregation_in_both_targets(dashboards: list[Dashboard], dictionary: FieldDictionary,
                                              studio: dict[str, dict[str, Any]], objects: list[dict[str, Any]]) -> None:
    functions = {"count": "count", "dc": "unique_count", "avg": "average", "max": "max", "min": "min", "sum": "sum"}
    for dashboard in dashboards:
        converter = PanelConverter(dictionary)
        for panel in dashboard.panels:
            search = studio[f"kamal_{dashboard.name}"]["dataSources"][f"ds_{panel.id}"]["options"]["query"]
            [lens] = [p for p in kibana_panels(objects, dashboard) if p["panelIndex"] == panel.id]
            columns = lens_layer(lens)["columns"]
            spl_metrics = re.findall(r"(?:(\w+)\(([\w.]+)\)|(count)) AS m(\d)", search)
            spl = [(functions[f or c], field or None) for f, field, c, _ in spl_metrics]
            kibana = [(columns[f"m{i}"]["operationType"], None if columns[f"m{i}"]["sourceField"] == "___records___" else
                       columns[f"m{i}"]["sourceField"]) for i in range(len(panel.metrics))]
            assert [(op, converter.splunk_name(panel, n) if n else None) for op, n in
                    [(o, _name(panel, f, dictionary)) for o, f in kibana]] == spl, panel.id
            by_kibana = [columns[f"by{i}"]["sourceField"] for i in range(len(panel.by))]
            assert [converter.elastic_name(panel, n) for n in panel.by] == by_kibana
            spl_by = re.search(r"(?:BY|OVER) ([\w ]+?)(?: BY (\w+))?(?: \||$)", search)
            assert (spl_by is None) == (not panel.by), (panel.id, search)
            if spl_by:
                got = " ".join(g for g in spl_by.groups() if g).split()
                assert got == [converter.splunk_name(panel, n) for n in panel.by], (panel.id, search)
            assert [columns[f"m{i}"]["label"] for i in range(len(panel.metrics))] == [m.label for m in panel.metrics]
            series = (panel.visualization == "timechart" and panel.by) or (panel.visualization == "bar" and len(panel.by) == 2)
            assert series or all(f'AS "{m.label}"' in search for m in panel.metrics), (panel.id, search)


def _name(panel: Panel, elastic: str | None, dictionary: FieldDictionary) -> str | None:
    if elastic is None:
        return None
    if panel.query is not None:
        return next(n for n, f in panel.query.fields.items() if f.elastic == elastic)
    return next(f.name for f in dictionary.fields_of(str(panel.log_type)) if f.ecs == elastic)


# --- the alerts panels agree with the rules' targets --------------------------------------------------

def test_the_alerts_panels_read_what_the_rule_targets_write(dashboards: list[Dashboard], dictionary: FieldDictionary,
                                                            tuning: Tuning) -> None:
    [security] = [d for d in dashboards if d.name == "security"]
    queries = [p.query for p in security.panels if p.query is not None]
    query = queries[0]
    assert queries == [query] * len(queries) and len(queries) == 2
    assert f"ss_app={APP} " in query.splunk
    # Splunk's alert severity (savedsearches.conf) read back as Kibana's severity of the same level
    branches = [(op, int(n), name) for op, n, name in re.findall(r'severity(=|<=)(\d), "(\w+)"', query.splunk)]
    assert len(branches) == 4
    for level, number in SPLUNK_SEVERITY.items():
        got = next(name for op, n, name in branches if (number == n if op == "=" else number <= n))  # case(): first true branch
        assert got == ELASTIC_SEVERITY[level][0], level
    # the saved searches' names give back the rule titles, which Kibana's alerts carry as rule names
    [pattern] = re.findall(r'replace\(ss_name, "([^"]+)", ""\)', query.splunk)
    searches = [s for s in splunk_searches(rule_files(RULES), dictionary, tuning) if not s.refused]
    assert searches and all(re.sub(pattern, "", s.stanza) == s.rule.title for s in searches)
    # and every Kibana rule carries the tag the Lucene query selects
    assert query.lucene == 'kibana.alert.rule.tags:"kamal-siem"'
    bodies = [r.body for r in elastic_rules(rule_files(RULES), ROOT, dictionary, tuning) if r.body]
    assert bodies and all("kamal-siem" in b["tags"] for b in bodies)


# --- the filters select the right events --------------------------------------------------------------

def _events(paths: list[Path]) -> list[dict[str, Any]]:
    summary = Summary()
    events = [e for e in parse_inputs([str(p) for p in paths], Options(), summary) if "error" not in e]
    assert summary.rejected == 0
    return events


def _where(event: dict[str, Any], root: Path) -> Where:
    return Path(event["source"]).relative_to(root).as_posix(), event["line"], event.get("record", 0)


def local_matches(panels: list[Panel], events: list[dict[str, Any]], root: Path, dictionary: FieldDictionary,
                  tuning: Tuning) -> dict[str, set[Where]]:
    """Each panel's filter run by the local engine (DuckDB) over `events`."""
    con = duckdb.connect()
    create_events_table(con, to_arrow(events, dictionary))
    where = {i: _where(e, root) for i, e in enumerate(events)}
    converter = PanelConverter(dictionary, tuning)
    return {p.id: {where[r[0]] for r in con.execute(f"SELECT rowid FROM events WHERE coalesce(({converter.local(p)}), FALSE)").fetchall()}
            for p in panels}


@pytest.fixture(scope="module")
def samples() -> list[dict[str, Any]]:
    return _events([ROOT / "samples"])


EXEC = {"app_exec", "accessory_exec", "server_exec"}
DESTRUCTIVE = {"app_stop", "app_container_remove", "app_containers_remove_all", "app_images_remove_all", "app_directory_remove",
               "accessory_stop", "accessory_container_remove", "accessory_image_remove", "proxy_stop", "proxy_container_remove",
               "proxy_image_remove", "env_delete"}
PRODUCTION = "samples/web-1/home/deploy/.kamal/shop-api-production-audit.log"


def _audit(action: set[str] | str) -> Callable[[dict[str, Any]], bool]:
    actions = {action} if isinstance(action, str) else action
    return lambda e: e["log_type"] == "audit" and e.get("action") in actions


# What each panel must select on samples/, written from the samples and the dashboards' intent
# independently of the Sigma detections, with the count read off the sample files.
EXPECTED: dict[str, tuple[Callable[[dict[str, Any]], bool], int]] = {
    "deploys": (_audit("image_pull"), 8),
    "deploys_over_time": (_audit("image_pull"), 8),
    "deploys_by_service": (_audit("image_pull"), 8),
    "deploys_by_performer": (_audit("image_pull"), 8),
    "failed_commands": (lambda e: e["log_type"] == "run" and e.get("outcome") == "failure", 3),
    "failures_over_time": (lambda e: e["log_type"] == "run" and e.get("outcome") == "failure", 3),
    "command_durations": (lambda e: e["log_type"] == "run" and e.get("runtime") is not None, 3),
    "rollbacks": (_audit("app_container_rename"), 1),
    "rollback_details": (_audit("app_container_rename"), 1),
    "execs": (_audit(EXEC), 4),
    "exec_details": (_audit(EXEC), 4),
    "secrets_dumped": (lambda e: e["source"].endswith("production-audit.log") and e["line"] == 15, 1),  # printenv
    "secrets_printed": (lambda e: False, 0),  # the samples' laptop runs no `kamal secrets`: see the replay test below
    "forged_performers": (lambda e: e["log_type"] == "audit" and bool(e.get("performer_flags")), 1),
    "unattributed_performers": (lambda e: e["log_type"] == "audit" and e.get("performer") == "root", 6),
    "destructive_actions": (_audit(DESTRUCTIVE), 9),
    "destructive_commands": (lambda e: False, 0),  # no destructive exec in the samples: see the replay test below
}


def test_panel_filters_select_the_expected_sample_events(dashboards: list[Dashboard], samples: list[dict[str, Any]],
                                                         dictionary: FieldDictionary, tuning: Tuning) -> None:
    panels = [p for _d, p in sigma_panels(dashboards)]
    assert sorted({p.id for p in panels}) == sorted(EXPECTED)
    got = local_matches(panels, samples, ROOT, dictionary, tuning)
    for panel in panels:
        predicate, count = EXPECTED[panel.id]
        expected = {_where(e, ROOT) for e in samples if predicate(e)}
        assert len(expected) == count, panel.id
        assert got[panel.id] == expected, panel.id
    assert sum(1 for p in panels if got[p.id]) == len(panels) - 2


def test_rule_panels_select_what_their_rule_alerts_on(dashboards: list[Dashboard], dictionary: FieldDictionary) -> None:
    """A `rule:` panel matches exactly its rule's expected alert lines in every replay case."""
    panels = [p for _d, p in sigma_panels(dashboards) if p.rule]
    assert sorted(p.id for p in panels) == ["destructive_commands", "secrets_dumped", "secrets_printed"]
    seen: dict[str, int] = {p.id: 0 for p in panels}
    for root in find_cases(ROOT / "tests" / "replay"):
        case = load_case(root)
        got = local_matches(panels, _events(case.log_files()), root, dictionary, load_tuning().with_values(case.tuning))
        for panel in panels:
            lines = {(source, line) for source, line, _record in got[panel.id]}
            assert lines == case.expected.get(str(panel.rule), set()), (panel.id, root.name)
            seen[panel.id] += len(lines)
    assert all(seen.values()), seen


# --- real Lucene --------------------------------------------------------------------------------------

SKIP_FIELDS = ("source", "line", "record", "extra", "warnings", "error")


@pytest.fixture(scope="module")
def lucene_harness(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return compile_harness(tmp_path_factory.mktemp("lucene"))


def _ecs_doc(event: dict[str, Any], dictionary: FieldDictionary) -> dict[str, Any]:
    """An event as Elasticsearch holds it after the ingest pipelines: ECS names, keyword values."""
    where = _where(event, ROOT)
    doc: dict[str, Any] = {"_id": f"{where[0]}:{where[1]}:{where[2]}"}
    for name, value in event.items():
        if name not in SKIP_FIELDS:
            values = value if isinstance(value, list) else [value]
            doc[dictionary[name].ecs] = [("true" if v else "false") if isinstance(v, bool) else str(v) for v in values]
    source = dictionary.logsources[event["log_type"]]
    if all(event.get(k) == v for k, v in source.conditions.items()):
        doc.update({k: [v] for k, v in source.elastic_conditions})
    return doc


def test_lucene_panel_filters_match_in_real_lucene_as_in_the_local_engine(
        lucene_harness: list[str], dashboards: list[Dashboard], samples: list[dict[str, Any]], dictionary: FieldDictionary,
        tuning: Tuning, objects: list[dict[str, Any]], tmp_path: Path) -> None:
    panels = [p for _d, p in sigma_panels(dashboards)]
    local = local_matches(panels, samples, ROOT, dictionary, tuning)
    lucene = {}
    for dashboard in dashboards:
        lucene.update({p["panelIndex"]: p["embeddableConfig"]["attributes"]["state"]["query"]["query"]
                       for p in kibana_panels(objects, dashboard)})
    compared = 0
    for log_type in dictionary.logsources:
        own = [p for p in panels if p.log_type == log_type]
        docs = [_ecs_doc(e, dictionary) for e in samples if e["log_type"] == log_type]
        if not own or not docs:
            continue
        (tmp_path / "docs.ndjson").write_text("".join(json.dumps(d) + "\n" for d in docs))
        (tmp_path / "queries.ndjson").write_text("".join(json.dumps({"id": p.id, "query": lucene[p.id]}) + "\n" for p in own))
        run = subprocess.run([*lucene_harness, str(tmp_path / "docs.ndjson"), str(tmp_path / "queries.ndjson")],
                             capture_output=True, text=True, check=True)
        got: dict[str, set[str]] = {p.id: set() for p in own}
        for line in run.stdout.splitlines():
            panel_id, _, where = line.partition("\t")
            assert not where.startswith("PARSE_ERROR"), f"{panel_id}: {where}"
            got[panel_id].add(where)
        for panel in own:
            assert got[panel.id] == {f"{s}:{n}:{r}" for s, n, r in local[panel.id]}, panel.id
            compared += 1
    assert compared == len(panels)


AUDIT = ".kamal/shop-production-audit.log"
# (panel, replay case) -> (lines Lucene misses, lines it adds). Elasticsearch matches keyword fields
# case-sensitively (Lucene query_string has no case-insensitive option) and Sigma does not: the
# panels' Lucene misses the upper-case commands, as the rules' Lucene queries do (tests/test_lucene.py)
LUCENE_KNOWN: dict[tuple[str, str], tuple[set[str], set[str]]] = {
    ("destructive_commands", "destructive_command_through_a_kamal_exec"): (
        {f"{AUDIT}:2", f"{AUDIT}:5", f"{AUDIT}:6", f"{AUDIT}:11"}, set()),  # DROP DATABASE, FLUSHALL, rm -Rf, Truncate Table
    ("secrets_dumped", "secrets_dumped_through_a_kamal_exec"): ({f"{AUDIT}:6"}, set()),  # PrintEnv
}


def test_rule_panels_differ_in_real_lucene_only_as_their_rules_do(
        lucene_harness: list[str], dashboards: list[Dashboard], dictionary: FieldDictionary, tmp_path: Path) -> None:
    """Over every replay case, a `rule:` panel's Lucene matches the rule's expected lines, except
    exactly the differences LUCENE_KNOWN lists (checked to still hold, so a fix shows up)."""
    panels = [p for _d, p in sigma_panels(dashboards) if p.rule]
    docs: dict[str, list[dict[str, Any]]] = {}
    queries: dict[str, list[dict[str, str]]] = {}
    expected: dict[tuple[str, str], set[str]] = {}
    for root in find_cases(ROOT / "tests" / "replay"):  # one harness run per log type for all cases: ids carry the case
        case = load_case(root)
        converter = PanelConverter(dictionary, load_tuning().with_values(case.tuning))
        for e in _events(case.log_files()):
            where = f"{Path(e['source']).relative_to(root).as_posix()}:{e['line']}"
            docs.setdefault(e["log_type"], []).append({**_ecs_doc(e, dictionary), "_id": f"{root.name}|{where}"})
        for panel in panels:
            queries.setdefault(str(panel.log_type), []).append({"id": f"{root.name}|{panel.id}", "query": converter.lucene(panel)})
            expected[(root.name, panel.id)] = {f"{n}:{k}" for n, k in case.expected.get(str(panel.rule), set())}
    have: dict[tuple[str, str], set[str]] = {key: set() for key in expected}
    for log_type, own in queries.items():
        (tmp_path / "docs.ndjson").write_text("".join(json.dumps(d) + "\n" for d in docs.get(log_type, [])))
        (tmp_path / "queries.ndjson").write_text("".join(json.dumps(q) + "\n" for q in own))
        run = subprocess.run([*lucene_harness, str(tmp_path / "docs.ndjson"), str(tmp_path / "queries.ndjson")],
                             capture_output=True, text=True, check=True)
        for line in run.stdout.splitlines():
            query_id, _, doc_id = line.partition("\t")
            assert not doc_id.startswith("PARSE_ERROR"), line
            (case, panel_id), (doc_case, where) = query_id.split("|"), doc_id.split("|")
            if case == doc_case:
                have[(case, panel_id)].add(where)
    for (case, panel_id), lines in expected.items():
        missing, extra = LUCENE_KNOWN.get((panel_id, case), (set(), set()))
        assert (lines - have[(case, panel_id)], have[(case, panel_id)] - lines) == (missing, extra), (panel_id, case)
    assert set(LUCENE_KNOWN) <= {(panel_id, case) for case, panel_id in expected}
    assert all(any(lines for (_c, i), lines in expected.items() if i == p.id) for p in panels)


# --- determinism --------------------------------------------------------------------------------------

def test_two_builds_are_byte_identical(dictionary: FieldDictionary, tuning: Tuning, splunk_files: dict[str, bytes],
                                       ndjson: bytes) -> None:
    assert splunk_dashboard_files(DASHBOARDS, RULES, dictionary, tuning) == splunk_files
    assert kibana_saved_objects(DASHBOARDS, RULES, dictionary, tuning) == ndjson
    assert splunk_dashboards.view_name(load_dashboards(DASHBOARDS, dictionary, RULES)[0]) == "kamal_operations"


BUILD = """
import hashlib, sys
from pathlib import Path
from converter.fields import default_dictionary
from converter.targets.kibana_objects import kibana_saved_objects
from converter.targets.splunk_dashboards import splunk_dashboard_files
from converter.tuning import load_tuning
d, t, root = default_dictionary(), load_tuning(), Path(sys.argv[1])
h = hashlib.sha256(kibana_saved_objects(root / "dashboards", root / "sigma_rules", d, t))
for name, data in sorted(splunk_dashboard_files(root / "dashboards", root / "sigma_rules", d, t).items()):
    h.update(name.encode() + b"\\0" + data)
print(h.hexdigest())
"""


def test_builds_do_not_depend_on_the_process(tmp_path: Path) -> None:
    """Two processes with different hash seeds (set and dict order) build the same bytes."""
    digests = {subprocess.run([sys.executable, "-c", BUILD, str(ROOT)], capture_output=True, text=True, check=True, cwd=tmp_path,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(digests) == 1 and len(digests.pop().strip()) == 64
