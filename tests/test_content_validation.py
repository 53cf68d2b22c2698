"""The field dictionary and the parser definitions are validated by code: a typo is a clear error
naming the file, the line and the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from converter.errors import ContentError, ContentErrors
from converter.fields import default_dictionary, load_field_dictionary
from converter.parsing.definitions import default_definitions, load_definitions

from .conftest import ROOT

PARSERS = ROOT / "parsers"
CORE = ["timestamp", "log_type", "performer", "service", "destination", "role", "host", "version", "action",
        "message", "cmd", "accessory", "command", "subcommand", "outcome", "source", "line"]


def test_dictionary_has_the_core_names_of_design_md() -> None:
    dictionary = default_dictionary()
    for name in CORE:
        assert name in dictionary, name
    assert dictionary.log_types == ("audit", "run", "proxy", "docker", "process")
    assert dictionary["timestamp"].ecs == "@timestamp"
    assert dictionary["performer"].splunk == "user"


def test_every_field_has_every_attribute() -> None:
    for field in default_dictionary():
        assert field.description and field.ecs and field.splunk and field.sources
        assert field.example is not None


def test_every_dictionary_field_is_produced_by_some_parser() -> None:
    """No field is documented that no parser definition can fill (apart from the framing fields)."""
    produced: set[str] = {"source", "line", "record", "error", "warnings", "log_type", "timestamp",
                          "timestamp_assumed_tz", "extra"}
    for definition in default_definitions().values():
        for use in definition.regexes:
            produced.update(n for n in __import__("re").findall(r"\(\?P<([a-z][a-z0-9_]*)>", use.pattern))
        produced.update(definition.fields)
        for envelope in definition.envelopes:
            produced.update(envelope.fields)
        for case in definition.cases:
            produced.update(case.set)
            produced.update(case.fields)
        for step in definition.derive:
            produced.update(step.set)
            for _when, values in step.first:
                produced.update(values)
        if definition.flags:
            produced.add(definition.flags[1])
        for message in definition.messages:
            produced.update(message.set)
    produced.update({"action", "destination", "role", "service"})  # set by the engine and the audit tag rules
    assert set(default_dictionary().names()) - produced == set()


def copy_parsers(tmp_path: Path) -> Path:
    target = tmp_path / "parsers"
    shutil.copytree(PARSERS, target)
    return target


def errors_of(call) -> list[ContentError]:  # type: ignore[no-untyped-def]
    with pytest.raises(ContentErrors) as info:
        call()
    return info.value.errors


def test_typo_in_a_field_attribute_names_file_and_line(tmp_path: Path) -> None:
    parsers = copy_parsers(tmp_path)
    fields = parsers / "fields.yml"
    text = fields.read_text()
    item = text.splitlines().index("  - name: performer") + 1  # the line of the performer field
    fields.write_text(text.replace("    description: >-\n      Who ran Kamal", "    descripton: >-\n      Who ran Kamal", 1))
    errors = errors_of(lambda: load_field_dictionary(fields))
    assert [(e.path, e.line) for e in errors] == [(str(fields), item), (str(fields), item + 2)]
    assert "'description' is a required property" in errors[0].reason  # reported at the field
    assert "unknown key 'descripton'" in errors[1].reason


def test_example_of_the_wrong_type_and_duplicate_names(tmp_path: Path) -> None:
    fields = copy_parsers(tmp_path) / "fields.yml"
    text = fields.read_text()
    text = text.replace("    example: 12\n", "    example: twelve\n", 1)
    text += "  - name: role\n    type: keyword\n    description: a second role field\n    example: x\n    ecs: x.y\n    splunk: x_y\n    sources: [audit]\n"
    fields.write_text(text)
    reasons = [e.reason for e in errors_of(lambda: load_field_dictionary(fields))]
    assert "field 'line': example 'twelve' is not a long" in reasons
    assert any(r.startswith("field 'role' is defined twice (first on line ") for r in reasons)


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    fields = copy_parsers(tmp_path) / "fields.yml"
    fields.write_text(fields.read_text().replace("    type: long\n", "    type: long\n    type: keyword\n", 1))
    with pytest.raises(ContentError, match=r"fields\.yml:\d+: duplicate key 'type'"):
        load_field_dictionary(fields)


def test_definition_using_a_field_not_in_the_dictionary(tmp_path: Path) -> None:
    parsers = copy_parsers(tmp_path)
    audit = parsers / "audit.yml"
    text = audit.read_text()
    text = text.replace("(?P<accessory>%{NAME}) accessory'\n    action: accessory_boot", "(?P<acessory>%{NAME}) accessory'\n    action: accessory_boot", 1)
    audit.write_text(text)
    line = text.splitlines().index("  - match: 'Booted (?P<acessory>%{NAME}) accessory'") + 1
    [error] = errors_of(lambda: load_definitions(parsers, load_field_dictionary(parsers / "fields.yml")))
    assert error.path == str(audit)
    assert error.line == line
    assert "field 'acessory' is not in the field dictionary" in error.reason


def test_definition_using_a_field_of_another_log_type(tmp_path: Path) -> None:
    parsers = copy_parsers(tmp_path)
    proxy = parsers / "proxy.yml"
    proxy.write_text(proxy.read_text().replace("  severity: [/level]\n", "  severity: [/level]\n  accessory: [/accessory]\n"))
    [error] = errors_of(lambda: load_definitions(parsers, load_field_dictionary(parsers / "fields.yml")))
    assert "field 'accessory' is not listed for log type 'proxy'" in error.reason


def test_regex_outside_the_common_subset_is_refused_with_its_line(tmp_path: Path) -> None:
    parsers = copy_parsers(tmp_path)
    docker = parsers / "docker.yml"
    text = docker.read_text().replace("pattern: ':(?P<version>[^:/]+)$'", r"pattern: ':(?P<version>\w+)$'")
    docker.write_text(text)
    line = next(i for i, text_line in enumerate(text.splitlines(), 1) if r"(?P<version>\w+)" in text_line)
    [error] = errors_of(lambda: load_definitions(parsers, load_field_dictionary(parsers / "fields.yml")))
    assert error.line == line
    assert r"escape \w" in error.reason


def test_unknown_key_and_unknown_action(tmp_path: Path) -> None:
    parsers = copy_parsers(tmp_path)
    run = parsers / "run.yml"
    run.write_text(run.read_text().replace("expand: otlp_logs", "expand: otlp_logs\nexpnad: x").replace(
        "set: {action: run_output}", "set: {action: run_outptu}"))
    reasons = [e.reason for e in errors_of(lambda: load_definitions(parsers, load_field_dictionary(parsers / "fields.yml")))]
    assert any("unknown key 'expnad'" in r for r in reasons)


def test_missing_definition_for_a_log_type(tmp_path: Path) -> None:
    parsers = copy_parsers(tmp_path)
    (parsers / "docker.yml").unlink()
    reasons = [e.reason for e in errors_of(lambda: load_definitions(parsers, load_field_dictionary(parsers / "fields.yml")))]
    assert reasons == ["no parser definition for log type 'docker'"]


def test_actions_outside_the_vocabulary_are_refused(tmp_path: Path) -> None:
    parsers = copy_parsers(tmp_path)
    run = parsers / "run.yml"
    run.write_text(run.read_text().replace("set: {action: run_output}", "set: {action: run_outptu}"))
    reasons = [e.reason for e in errors_of(lambda: load_definitions(parsers, load_field_dictionary(parsers / "fields.yml")))]
    assert reasons == ["action 'run_outptu' is not in this definition's `actions` vocabulary"]


@pytest.mark.parametrize(("match", "literal"), [
    ("Pulled image with version (?P<version>%{VERSION})", "Pulled image with version "),
    ("app cmd '?(?P<cmd>.*?)'? with version", "app cmd "),
    ("Stopped app", "Stopped app"),
    ("Removed %{PROXY} image", "Removed "),
    ("a*b", ""),
])
def test_literal_prefix_never_includes_an_optional_character(match: str, literal: str) -> None:
    from converter.parsing.definitions import literal_prefix

    assert literal_prefix(match) == literal


FIELD = "  - name: {name}\n    type: {type}\n    description: a field added by a test\n    example: {example}\n    ecs: {ecs}\n    splunk: {splunk}\n    sources: [{sources}]\n"


def add_fields(tmp_path: Path, *fields: dict[str, str]) -> tuple[Path, list[int]]:
    """fields.yml with `fields` appended; the line of each added field."""
    path = copy_parsers(tmp_path) / "fields.yml"
    text = path.read_text()
    lines = []
    for field in fields:
        lines.append(len(text.splitlines()) + 1)
        text += FIELD.format(**{"type": "keyword", "example": "x", **field})
    path.write_text(text)
    return path, lines


def test_camel_case_names_only_for_the_standard_log_source(tmp_path: Path) -> None:
    path, lines = add_fields(tmp_path, {"name": "DeployUser", "ecs": "kamal.x", "splunk": "x1", "sources": "audit"},
                             {"name": "ParentUser", "ecs": "kamal.y", "splunk": "x2", "sources": "process, run"})
    errors = errors_of(lambda: load_field_dictionary(path))
    assert [(e.line, e.reason.split(":")[0]) for e in errors] == [(lines[0], "field 'DeployUser'"), (lines[1], "field 'ParentUser'")]
    assert "allowed only for a field whose sources are exactly one log type with a standard Sigma log source (process)" in errors[0].reason
    path.write_text(path.read_text().replace("  - name: extra\n", "  - name: Extra_field\n", 1))
    reasons = [e.reason for e in errors_of(lambda: load_field_dictionary(path))]
    assert any("fields/" in r and "does not match" in r for r in reasons)  # neither snake_case nor CamelCase


def test_ecs_and_splunk_names_are_unique_per_log_type(tmp_path: Path) -> None:
    """`performer` (audit, run) and `User` (process) share user.name and `user`: never in one event."""
    dictionary = default_dictionary()
    assert dictionary["performer"].ecs == dictionary["User"].ecs == "user.name"
    assert dictionary["performer"].splunk == dictionary["User"].splunk == "user"
    path, lines = add_fields(tmp_path,
                             {"name": "runner_name", "ecs": "user.name", "splunk": "runner_name", "sources": "run"},
                             {"name": "proxy_user", "ecs": "kamal.proxy.user", "splunk": "user", "sources": "proxy", "type": "long",
                              "example": "1"})
    errors = errors_of(lambda: load_field_dictionary(path))
    assert [(e.line, e.reason) for e in errors] == [
        (lines[0], "field 'runner_name': ECS name 'user.name' is already used by 'performer' in log type 'run'"),
        (lines[1], "field 'proxy_user': Splunk name 'user' is shared with 'performer', whose type differs (long vs keyword)"),
        (lines[1], "field 'proxy_user': Splunk name 'user' is shared with 'User', whose type differs (long vs keyword)"),
    ]


def test_names_that_differ_only_in_case_need_different_log_types(tmp_path: Path) -> None:
    """DuckDB and SQLite ignore the case of column names: `Host` would be `host`'s column."""
    path, lines = add_fields(tmp_path, {"name": "Host", "ecs": "kamal.host2", "splunk": "host2", "sources": "process"},
                             {"name": "Accessory", "ecs": "kamal.acc2", "splunk": "acc2", "sources": "process", "type": "long",
                              "example": "1"})
    errors = errors_of(lambda: load_field_dictionary(path))
    assert [(e.line, e.reason) for e in errors] == [
        (lines[0], "field 'Host': name ignoring case 'host' is already used by 'host' in log type 'process'"),
        (lines[1], "field 'Accessory': name ignoring case 'accessory' is shared with 'accessory', whose type differs (long vs keyword)"),
    ]
