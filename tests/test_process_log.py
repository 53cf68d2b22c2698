"""The `process` log type: ECS JSON process events of the machines that run Kamal, under Sigma's
process_creation taxonomy names. The parser-engine pieces it brought (`contains` conditions, `join`
steps, actions that are only shape evidence), its detection among the other log types, its log
source, and the local engine's shared column for names that differ only in case (`image`/`Image`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

from converter.fields import default_dictionary
from converter.local.events import create_events_table, to_arrow
from converter.local.hunt import hunt
from converter.local.sql_json import supports
from converter.parsing.definitions import default_definitions, load_definition
from converter.parsing.engine import Context, JsonParser, parser_for
from converter.parsing.files import Options, Summary, parse_inputs
from converter.parsing.rules import Condition

from .conftest import ROOT


def parse(*paths: Path, **options: Any) -> tuple[list[dict[str, Any]], Summary]:
    summary = Summary()
    return list(parse_inputs([str(p) for p in paths], Options(**options), summary)), summary


def ecs(action: str | None = "exec", category: Any = ("process",), type_: Any = ("start",), **process: Any) -> str:
    event: dict[str, Any] = {}
    if action is not None:
        event["action"] = action
    if category is not None:
        event["category"] = list(category) if isinstance(category, tuple) else category
    if type_ is not None:
        event["type"] = list(type_) if isinstance(type_, tuple) else type_
    body = {"executable": "/usr/bin/ruby3.2", "args": ["ruby", "bin/kamal", "deploy"], "pid": 4102, **process}
    return json.dumps({"@timestamp": "2026-11-20T10:02:11.873Z", "event": event, "process": body,
                       "user": {"name": "dana"}, "host": {"name": "dana-laptop"}})


def process_event(line: str) -> dict[str, Any]:
    parser = parser_for(default_definitions()["process"])
    assert isinstance(parser, JsonParser)
    [(_index, event)] = parser.parse(line, Context("-"))
    return event


# --- the engine: `contains` and `join` -------------------------------------------------------------

@pytest.mark.parametrize(("current", "holds"), [
    (["process"], True), (["network", "process"], True), ("process", True),
    (["network"], False), ("network", False), ([], False), (None, False), (["Process"], False)])
def test_contains_holds_for_a_list_element_or_the_value_alone(current: Any, holds: bool) -> None:
    assert Condition("_category", "contains", "process").holds({"_category": current}) is holds


def test_join_makes_a_command_line_from_the_arguments_only_when_there_is_none() -> None:
    joined = process_event(ecs(args=["ruby", "bin/kamal", "app", "exec", "-i", "bin/rails console"]))
    assert joined["CommandLine"] == "ruby bin/kamal app exec -i bin/rails console"
    given = process_event(ecs(command_line="ruby bin/kamal deploy -d production", args=["ruby", "x"]))
    assert given["CommandLine"] == "ruby bin/kamal deploy -d production"
    assert "extra" not in given  # the arguments were read (and are in the command line), not left over
    one_string = process_event(ecs(args="ruby bin/kamal deploy"))
    assert one_string["CommandLine"] == "ruby bin/kamal deploy"
    assert "CommandLine" not in process_event(ecs(args=[]))


def test_join_of_a_value_that_is_not_a_list_of_strings_is_a_warning_and_kept_in_extra() -> None:
    event = process_event(ecs(args=["git", "rev-parse", 42]))
    assert "CommandLine" not in event
    assert event["warnings"] == ["process/args: expected a list of strings, got a list of 3"]
    assert event["extra"] == {"process/args": ["git", "rev-parse", 42]}


def test_a_join_step_is_checked_against_the_dictionary(tmp_path: Path) -> None:
    from converter.errors import ContentErrors

    text = (ROOT / "parsers" / "process.yml").read_text().replace("into: CommandLine}", "into: CommandLnie}", 1)
    path = tmp_path / "process.yml"
    path.write_text(text)
    with pytest.raises(ContentErrors) as info:
        load_definition(path)
    [error] = info.value.errors
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "CommandLnie" in t)
    assert error.line == line and "field 'CommandLnie' is not in the field dictionary" in error.reason


def test_the_sql_json_compiler_leaves_definitions_it_cannot_express_to_python() -> None:
    definitions = default_definitions()
    assert not supports(definitions["process"])  # nested pointers, `contains`, `join`
    assert supports(definitions["proxy"])


# --- the action vocabulary ---------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "action"), [
    (ecs("exec"), "process_start"),
    (ecs("fork"), "process_start"),  # Defend: a fork is a start too (event.type start), as in Elastic's own rules
    (ecs("end", type_=("end",)), "process_end"),
    (ecs("already_running", type_=("info",)), "process_other"),
    (ecs("process_started", category=None, type_=None), "process_start"),  # Auditbeat 7.0: no category, no type
    (ecs("process_stopped", category=None, type_=None), "process_end"),
    (ecs("existing_process", category=None, type_=None), "process_other"),
    (ecs("executed", type_=None), "process_start"),  # auditd
    (ecs(None, category="process", type_="start"), "process_start"),  # single values, not lists
    (ecs("network_flow", category=("network",), type_=("connection", "start")), "process_other"),  # not about a process
    (ecs("uid_change", type_=("change",)), "process_other"),
])
def test_actions(line: str, action: str) -> None:
    assert process_event(line)["action"] == action


def test_fields_come_from_the_ecs_names() -> None:
    line = json.dumps({
        "@timestamp": "2026-11-20T11:14:03.5+02:00",
        "event": {"category": ["process"], "type": ["start"], "action": "exec"},
        "process": {"executable": "/usr/bin/docker", "command_line": "docker run ghcr.io/basecamp/kamal:latest deploy",
                    "pid": 48555, "working_directory": "/home/dana/src/shop-api",
                    "parent": {"executable": "/usr/bin/zsh", "command_line": "-zsh", "pid": 48190}},
        "user": {"name": "dana"}, "host": {"name": "dana-laptop"}})
    assert process_event(line) == {
        "log_type": "process", "timestamp": "2026-11-20T09:14:03.5Z", "host": "dana-laptop", "action": "process_start",
        "Image": "/usr/bin/docker", "CommandLine": "docker run ghcr.io/basecamp/kamal:latest deploy",
        "ParentImage": "/usr/bin/zsh", "ParentCommandLine": "-zsh", "User": "dana",
        "CurrentDirectory": "/home/dana/src/shop-api", "ProcessId": 48555, "ParentProcessId": 48190}
    old = process_event(json.dumps({"@timestamp": "2026-11-19T16:40:02Z", "event": {"action": "process_started"},
                                    "process": {"pid": 3990, "ppid": 3988}}))
    assert old["ParentProcessId"] == 3988
    undated = process_event(json.dumps({"event": {"action": "exec"}, "process": {"pid": 1}}))
    assert undated["warnings"] == ["timestamp: missing"]


# --- detection ---------------------------------------------------------------------------------------

def test_process_logs_are_told_by_their_content_whatever_their_name(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(ecs("exec") + "\n" + ecs("end", type_=("end",)) + "\n")
    events, summary = parse(tmp_path)
    assert summary.sources[0].log_type == "process"
    assert [e["action"] for e in events] == ["process_start", "process_end"]


def test_ecs_logs_without_a_process_start_or_end_are_not_taken_from_a_walked_folder(tmp_path: Path) -> None:
    # an ECS access log has no process; an Auditbeat socket log has one, but starts no process
    (tmp_path / "nginx-ecs.json").write_text(json.dumps(
        {"@timestamp": "2026-11-20T10:00:00Z", "event": {"category": ["web"], "type": ["access"]}, "http": {"request": {"method": "GET"}},
         "url": {"path": "/up"}}) + "\n")
    socket = tmp_path / "auditbeat-socket.ndjson"
    socket.write_text(ecs("network_flow", category=("network",), type_=("connection", "start")) + "\n")
    events, summary = parse(tmp_path)
    assert events == []
    assert {s.skipped for s in summary.sources} == {"not recognized as a Kamal log"}
    named, _ = parse(socket)  # named explicitly, the shape is enough
    assert [e["action"] for e in named] == ["process_other"]


def test_the_other_log_types_stay_theirs() -> None:
    """No sample of another log type (golden corpora, bundled samples) is read as a process log."""
    _events, summary = parse(ROOT / "tests" / "parsers", ROOT / "samples")
    for stats in summary.sources:
        if stats.source.endswith("-expected.json"):
            continue
        assert (stats.log_type == "process") == ("/process/" in stats.source), stats.source


# --- the log source ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("product", "service", "category", "log_type"), [
    (None, None, "process_creation", "process"),
    ("linux", None, "process_creation", "process"),  # SigmaHQ's Linux rules
    ("macos", None, "process_creation", "process"),
    ("kamal", "audit", None, "audit"),
    ("kamal", None, "process_creation", "process"),
    (None, None, "network_connection", None),
    ("linux", None, None, None),
    ("linux", "auditd", None, None),
    ("kamal", "audit", "process_creation", None),
])
def test_which_rules_select_the_process_log_source(product: str | None, service: str | None, category: str | None,
                                                   log_type: str | None) -> None:
    source = default_dictionary().logsource_of(product, service, category)
    assert (source.log_type if source else None) == log_type


# --- the local engine: `image` (audit, docker) and `Image` (process) are one column ------------------

def test_names_that_differ_only_in_case_share_a_column() -> None:
    dictionary = default_dictionary()
    assert dictionary.column_of("Image") == dictionary.column_of("image") == "image"
    assert dictionary.name_in("image", "process") == "Image" and dictionary.name_in("image", "docker") == "image"
    assert len({c.lower() for c in dictionary.column_names()}) == len(dictionary.column_names())
    docker = {"source": "d", "line": 1, "log_type": "docker", "image": "basecamp/kamal-proxy:v0.9.0"}
    process = {"source": "p", "line": 1, "log_type": "process", "Image": "/usr/bin/docker"}
    con = duckdb.connect()
    create_events_table(con, to_arrow([docker, process], dictionary))
    assert con.execute('SELECT log_type, "Image", image FROM events ORDER BY log_type').fetchall() == [
        ("docker", "basecamp/kamal-proxy:v0.9.0", "basecamp/kamal-proxy:v0.9.0"), ("process", "/usr/bin/docker", "/usr/bin/docker")]


RULE = """title: {title}
id: {id}
status: test
description: A test rule.
author: kamal-siem tests
date: 2026-11-20
logsource: {logsource}
detection:
  selection: {selection}
  condition: selection
level: low
"""


def test_hunt_over_process_and_docker_events_keeps_each_name_to_its_log_type(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "docker_client.yml").write_text(RULE.format(
        title="Docker client on a deployer", id="4b9f5a0e-2f7c-4d1e-9a3b-6c8d7e5f4a21",
        logsource="{product: linux, category: process_creation}", selection="{Image|endswith: /docker}"))
    (rules / "kamal_proxy_container.yml").write_text(RULE.format(
        title="kamal-proxy container", id="8d2c4e6f-1a3b-4c5d-8e7f-9a0b1c2d3e4f",
        logsource="{product: kamal, service: docker}", selection="{image|contains: kamal-proxy}"))
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "endpoint-process.ndjson").write_text(
        ecs("exec", executable="/usr/bin/docker", args=["docker", "ps", "--filter", "name=kamal-proxy"]) + "\n"
        + ecs("exec") + "\n")
    (logs / "docker-events.jsonl").write_text(json.dumps(
        {"Type": "container", "Action": "start", "Actor": {"ID": "94d9fb321b01", "Attributes": {
            "name": "kamal-proxy", "image": "basecamp/kamal-proxy:v0.9.0"}}, "time": 1782133370}) + "\n")
    result = hunt([str(logs)], rules, Options())
    found = sorted((a.title, Path(a.events[0]["source"]).name, a.events[0]["line"]) for a in result.alerts)
    assert found == [("Docker client on a deployer", "endpoint-process.ndjson", 1),
                     ("kamal-proxy container", "docker-events.jsonl", 1)]
    by_title = {a.title: a.events[0] for a in result.alerts}
    assert by_title["Docker client on a deployer"]["Image"] == "/usr/bin/docker"
    assert "image" not in by_title["Docker client on a deployer"]
    assert by_title["kamal-proxy container"]["image"] == "basecamp/kamal-proxy:v0.9.0"
    assert "Image" not in by_title["kamal-proxy container"]


def test_no_planted_secret_reaches_an_alert(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "registry_login.yml").write_text(RULE.format(
        title="docker login on a deployer", id="0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
        logsource="{category: process_creation}", selection="{CommandLine|contains: docker login}"))
    result = hunt([str(ROOT / "tests" / "parsers" / "process")], rules, Options())
    # Kamal's registry login on a laptop (Defend) and on a CI runner (auditd); not the end of the first:
    # the log source is process starts
    found = sorted((Path(a.events[0]["source"]).name, a.events[0]["line"]) for a in result.alerts)
    assert found == [("auditbeat-process.ndjson", 3), ("endpoint-process-events.ndjson", 4)]
    text = json.dumps([a.as_json() for a in result.alerts])
    assert "[REDACTED]" in text and not re.search(r"[a-z]+-PLANTED-[0-9]+", text)
