"""The Elasticsearch ingest pipelines (converter/targets/elastic_ingest/) against the parser.

Elasticsearch itself cannot run here. What runs instead: tests/ingest_sim.py executes the generated
pipeline bodies processor by processor as we read Elasticsearch's processors, with every grok in
real Oniguruma (onigurumacffi; Elasticsearch's grok runs Joni, Oniguruma's Java port) combined into
one alternation as Elasticsearch does, the `if` conditions and scripts in an interpreter of the small
Painless subset the generator uses, and every gsub call replayed in real java.util.regex (which
Elasticsearch's gsub runs). Every line of the samples, the replay corpora and the parser corpora
then goes through its pipeline, and the ECS document must hold what `kamal-siem parse` makes of the
line under the same ECS names, except for the differences listed below with their reasons."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onigurumacffi
import pytest

from converter.fields import default_dictionary
from converter.parsing.definitions import default_definitions
from converter.parsing.redaction import default_redactor
from converter.targets.elastic_ingest import ROUTER, ingest_pipelines

from . import ingest_sim
from .conftest import ROOT
from .ingest_corpus import SHIPPED_AT, Line, corpus_lines, shipped
from .ingest_sim import Grok, Simulator, grok_for
from .painless_subset import PainlessSyntaxError, check_syntax

DICTIONARY = default_dictionary()
NOT_COMPARED = ("source", "line", "record", "extra", "warnings", "error")

TAG_PREFERENCE = ("forged performer holding a second set of tags: the parser skips the nearest candidate because its tags "
                  "disagree with the file name and takes a later one; the pipeline keeps the nearest and flags tag_mismatch")
PRETTY_PRINTED = ("a pretty-printed OTLP POST body is one document over many lines for the parser; a shipper sends each "
                  "line alone (the pipeline keeps it as an invalid-JSON error)")
NON_STRING_ARGUMENT = ("process.args holds a number: the parser refuses to join it into CommandLine (warning); the join "
                       "processor joins the number's text (Painless conditions cannot test every element)")
# location -> why the pipeline's document differs from the parser's event (checked to be exactly these)
KNOWN: dict[str, str] = {
    "tests/replay/forged_or_odd_performer_in_the_kamal_audit_log/.kamal/shop-staging-audit.log:1": TAG_PREFERENCE,
    "tests/parsers/audit/forged/home/deploy/.kamal/foo-web-audit.log:3": TAG_PREFERENCE,
    "tests/parsers/audit/forged/home/deploy/.kamal/shop-staging-audit.log:1": TAG_PREFERENCE,
    "tests/parsers/audit/forged/home/deploy/.kamal/shop-staging-audit.log:2": TAG_PREFERENCE,
    "tests/parsers/run/test-otel-post-body.json:57": PRETTY_PRINTED,
    "tests/parsers/run/test-otel-post-body.json:87": PRETTY_PRINTED,
    "tests/parsers/run/test-otel-post-body.json:104": PRETTY_PRINTED,
    "tests/parsers/process/auditbeat-process.ndjson:5": NON_STRING_ARGUMENT,
}
# lines the router sends elsewhere than the parser reads them (the parser reads a whole file as one log type)
KNOWN_ROUTES = {"tests/parsers/run/test-otel-collector-file.jsonl:7": "kamal.proxy"}  # a kamal-proxy line in a run file


@pytest.fixture(scope="module")
def pipelines() -> dict[str, dict[str, Any]]:
    return ingest_pipelines(default_definitions(), DICTIONARY, default_redactor())


@pytest.fixture(scope="module")
def simulator(pipelines: dict[str, dict[str, Any]]) -> Simulator:
    return Simulator(pipelines)


@pytest.fixture(scope="module")
def lines() -> list[Line]:
    found = corpus_lines()
    assert len(found) > 800
    return found


@pytest.fixture(scope="module")
def outputs(simulator: Simulator, lines: list[Line]) -> dict[str, dict[str, Any]]:
    """Each corpus line through the pipeline of the log type the parser gives it."""
    ingest_sim.GSUB_CALLS.clear()
    return {line.where: simulator.run(f"kamal-siem-{line.log_type}", shipped(line))[0] for line in lines}


def flat(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def instant(timestamp: str) -> tuple[str, str]:
    """An ISO 8601 UTC time as (seconds, nine fraction digits): `…:49Z` and `…:49.000000000Z` agree."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", timestamp)
    assert m, timestamp
    return m.group(1), (m.group(2) or "").ljust(9, "0")


def difference(line: Line, document: dict[str, Any]) -> str | None:
    """How the pipeline's document differs from the parser's events of the line (None: it does not)."""
    got = flat(document)
    failed = got.get("event.kind") == "pipeline_error"
    if len(line.events) > 1:  # an OTLP request with several records
        return None if failed and "not exactly one log record" in str(got.get("kamal.parse_error")) else "batch not refused"
    event = line.events[0]
    if "error" in event or failed:
        return None if ("error" in event) == failed else f"parser error: {event.get('error')}; pipeline: {got.get('error.message')}"
    names = {f.ecs for f in DICTIONARY.fields_of(line.log_type) if f.name not in NOT_COMPARED}
    expected = {DICTIONARY[k].ecs: v for k, v in event.items() if k not in NOT_COMPARED}
    actual = {k: v for k, v in got.items() if k in names}
    expected.setdefault("@timestamp", SHIPPED_AT[:-5] + "Z")  # no time in the line: the shipper's stays
    expected["@timestamp"], actual["@timestamp"] = instant(expected["@timestamp"]), instant(actual["@timestamp"].replace(".000Z", "Z"))
    problems = [f"{k}: parser {expected.get(k, '-')!r}, pipeline {actual.get(k, '-')!r}"
                for k in sorted(set(expected) | set(actual)) if expected.get(k) != actual.get(k)]
    warned = sorted(w.split(":")[0] for w in event.get("warnings", []))
    pipeline_warned = sorted(w.split(":")[0] for w in got.get("kamal.warnings") or [])
    if warned != pipeline_warned:
        problems.append(f"warnings: parser {warned}, pipeline {pipeline_warned}")
    return "; ".join(problems) or None


def test_the_pipelines_read_every_corpus_line_as_the_parser_does(lines: list[Line], outputs: dict[str, dict[str, Any]]) -> None:
    found = {line.where: why for line in lines if (why := difference(line, outputs[line.where])) is not None}
    unexpected = {k: v for k, v in found.items() if k not in KNOWN}
    assert unexpected == {}, "\n".join(f"{k}: {v}" for k, v in unexpected.items())
    assert set(found) == set(KNOWN), f"no longer different (remove from KNOWN): {sorted(set(KNOWN) - set(found))}"
    batches = [line for line in lines if len(line.events) > 1]
    log_types = {line.log_type for line in lines if line.where not in KNOWN and "error" not in line.events[0]}
    assert len(batches) >= 10 and log_types == set(DICTIONARY.log_types)


def test_documents_are_clean_ecs(lines: list[Line], outputs: dict[str, dict[str, Any]]) -> None:
    allowed = {"configuration": {"access", "change", "creation", "deletion", "info"},
               "process": {"access", "change", "end", "info", "start"}, "web": {"access", "error", "info"},
               "network": {"access", "allowed", "connection", "denied", "end", "info", "protocol", "start"},
               "package": {"access", "change", "deletion", "info", "installation", "start"}}
    for line in lines:
        document = outputs[line.where]
        assert "_tmp" not in document, line.where
        assert "message" not in document or "message" in {f.ecs for f in DICTIONARY.fields_of(line.log_type)}, line.where
        event = document["event"]
        assert event["dataset"] == f"kamal.{line.log_type}" and event["module"] == "kamal" and document["ecs"]["version"]
        assert document["kamal"]["log_type"] == line.log_type
        if event["kind"] == "pipeline_error":
            assert document["kamal"]["parse_error"] or document["error"]["message"]
            continue
        assert event["kind"] == "event"
        for category in event["category"]:
            assert set(event["type"]) <= allowed[category], (line.where, event)
        assert ("original" in event) == (line.log_type != "process"), line.where


def test_the_router_sends_each_line_to_the_data_stream_of_its_log_type(simulator: Simulator, lines: list[Line]) -> None:
    wrong = {}
    for line in lines:
        _document, dataset = simulator.run(ROUTER, {"message": line.text, "log": {"file": {"path": str(line.path)}}})
        if dataset != f"kamal.{line.log_type}":
            wrong[line.where] = dataset
    assert wrong == KNOWN_ROUTES


def test_conditions_and_scripts_are_in_the_painless_subset(pipelines: dict[str, dict[str, Any]]) -> None:
    seen = 0
    for processor in walk(pipelines):
        [(kind, options)] = processor.items()
        if "if" in options:
            check_syntax(options["if"])
            seen += 1
        if kind == "script":
            check_syntax(options["source"], statement=True)
    assert seen > 500
    with pytest.raises(PainlessSyntaxError):
        check_syntax("ctx.a =~ /x/")  # regexes in Painless are not used (grok does the matching)
    with pytest.raises(PainlessSyntaxError):
        check_syntax("ctx.a.split(',')[0] == 'x'")


def walk(pipelines: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    def inner(processors: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for processor in processors:
            yield processor
            [(_kind, options)] = processor.items()
            yield from inner(options.get("on_failure", []))
            if "processor" in options:
                yield from inner([options["processor"]])
    for body in pipelines.values():
        yield from inner(body["processors"] + body.get("on_failure", []))


def test_every_grok_compiles_in_oniguruma_without_grok_built_in_patterns(pipelines: dict[str, dict[str, Any]]) -> None:
    groks = [p["grok"] for p in walk(pipelines) if "grok" in p]
    assert len(groks) > 20
    for options in groks:
        grok = grok_for(options)  # expands only pattern_definitions: a built-in %{NAME} would fail here
        assert isinstance(grok, Grok)
        assert "ecs_compatibility" not in options
    with pytest.raises(AssertionError, match="not in pattern_definitions"):
        grok_for({"patterns": ["%{IP:client}"]})
    with pytest.raises(onigurumacffi.OnigError):
        grok_for({"patterns": ["(?<a>x"]})


def test_every_grok_is_exercised_by_the_corpora(pipelines: dict[str, dict[str, Any]], outputs: dict[str, Any],
                                                monkeypatch: pytest.MonkeyPatch, simulator: Simulator, lines: list[Line]) -> None:
    """A pattern that never matches proves nothing: each grok matches some corpus line."""
    matched: set[str] = set()
    original = Grok.captures

    def spy(self: Grok, text: str) -> dict[str, str] | None:
        found = original(self, text)
        if found is not None:
            matched.add(self.regex)
        return found

    monkeypatch.setattr(Grok, "captures", spy)
    for line in lines:
        simulator.run(f"kamal-siem-{line.log_type}", shipped(line))
        simulator.run(ROUTER, {"message": line.text, "log": {"file": {"path": str(line.path)}}})
    unexercised = sorted({p.get("tag", "?") for p in (q["grok"] for q in walk(pipelines) if "grok" in q)
                          if grok_for(p).regex not in matched})
    # every Docker event of the corpora shows its keys: the file name is never needed to route one
    assert unexercised == ["router_docker_path"]


def test_gsub_runs_the_same_in_java_regex(outputs: dict[str, Any], tmp_path: Path) -> None:
    """Every gsub call of the simulation, replayed in java.util.regex, gives the same result."""
    javac, java = shutil.which("javac"), shutil.which("java")
    assert javac and java, "javac is missing: install default-jdk-headless (.ci/run does)"
    calls = sorted(set(ingest_sim.GSUB_CALLS))
    assert len(calls) > 1000 and any(result != subject for _p, _r, subject, result in calls)
    subprocess.run([javac, "-d", str(tmp_path), str(ROOT / "tests" / "java" / "GsubReplay.java")], check=True)

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    stdin = "".join(f"{b64(p)}\t{b64(r)}\t{b64(s)}\n" for p, r, s, _ in calls)
    run = subprocess.run([java, "-cp", str(tmp_path), "GsubReplay"], input=stdin, capture_output=True, text=True, check=True)
    results = run.stdout.splitlines()
    assert len(results) == len(calls)
    differ = [(p, s, expected, out) for (p, _r, s, expected), out in zip(calls, results, strict=True)
              if out.startswith("!") or base64.b64decode(out).decode() != expected]
    assert differ == []


# -- secrets ------------------------------------------------------------------------------------------------
PLANTED = re.compile(r"[a-z]+-PLANTED-[0-9]+|cGxhbnRlZDpQTEFOVEVELTc=")
OTLP_SECRET = json.dumps({"resourceLogs": [{"resource": {"attributes": [
    {"key": "kamal.performer", "value": {"stringValue": "dana@shop.example"}},
    {"key": "db.password", "value": {"stringValue": "pw-PLANTED-907"}}]},
    "scopeLogs": [{"scope": {"name": "kamal"}, "logRecords": [{"timeUnixNano": "1791277201000000000",
                   "body": {"stringValue": "docker login -u x -p pw-PLANTED-908 ghcr.io"}}]}]}]})
# (log type, line, file path): secrets where the parser's reading of a field alone differs from the line
CRAFTED = [
    ("audit", "[2026-10-05T09:00:00Z] [dana@shop.example] [production] Executed cmd '--password pw-PLANTED-901 ls' on app version abc",
     "/home/deploy/.kamal/shop-production-audit.log"),
    ("audit", "[2026-10-05T09:00:01Z] [dana@shop.example] [production] Executed cmd 'curl \"https://x.example/?token=tok-PLANTED-902\"' "
              "on 10.0.0.5", "/home/deploy/.kamal/shop-production-audit.log"),
    ("proxy", '{"time":"2026-10-05T09:00:00Z","level":"INFO","msg":"Request","path":"/x","query":"token=tok-PLANTED-903&a=1",'
              '"req_authorization":"Bearer tok-PLANTED-904","status":200}', "/var/log/kamal-proxy.log"),
    ("proxy", json.dumps({"log": '{"time":"2026-10-05T09:00:00Z","level":"INFO","msg":"Request","query":"api_key=key-PLANTED-905"}\n',
                          "stream": "stdout", "time": "2026-10-05T09:00:00Z"}), "/var/lib/docker/containers/a/a-json.log"),
    ("docker", json.dumps({"Type": "container", "Action": "exec_create: sh -c 'export DB_PASSWORD=pw-PLANTED-906; psql'",
                           "Actor": {"ID": "abc", "Attributes": {"name": "shop-db", "service": "shop-db"}},
                           "time": 1791270000}), "/var/log/docker-events.jsonl"),
    ("run", OTLP_SECRET, "/var/log/kamal-otel.jsonl"),
    ("process", json.dumps({"@timestamp": "2026-11-20T09:14:05Z", "event": {"category": ["process"], "type": ["start"]},
                            "process": {"executable": "/usr/bin/docker", "args": ["docker", "login", "-u", "dana", "-p", "pw-PLANTED-909"]}}),
     "/var/log/endpoint-process.ndjson"),
    # lines that fail: the document is kept, with the line masked
    ("proxy", '{"time": "2026-10-05T09:00:00Z", "query": "token=tok-PLANTED-910"', "/var/log/kamal-proxy.log"),
    ("audit", "[2026-10-05T09:00:00Z] export GITHUB_TOKEN=tok-PLANTED-911", "/home/deploy/.kamal/shop-audit.log"),
]
# what the parser itself still shows (checked, so that a fix of parsers/redaction.yml shows up here)
PARSER_SHOWS: dict[str, str] = {}


def ingest(simulator: Simulator, document: dict[str, Any]) -> dict[str, Any]:
    """What `logs-kamal-default` stores: the router, then the pipeline of the data stream it reroutes to."""
    routed, dataset = simulator.run(ROUTER, document)
    if dataset is None:
        return routed
    return simulator.run(f"kamal-siem-{dataset.removeprefix('kamal.')}", routed)[0]


@pytest.mark.parametrize(("log_type", "text", "path"), CRAFTED, ids=[f"{t}-{i}" for i, (t, _x, _p) in enumerate(CRAFTED)])
def test_no_planted_secret_is_stored(simulator: Simulator, log_type: str, text: str, path: str, tmp_path: Path) -> None:
    secrets = set(PLANTED.findall(text))
    assert secrets
    direct, _ = simulator.run(f"kamal-siem-{log_type}", shipped(text, path))
    routed = ingest(simulator, {"message": text, "log": {"file": {"path": path}}})
    for document in (direct, routed):
        stored = json.dumps(document)
        assert not secrets & set(PLANTED.findall(stored)), stored
        assert "_tmp" not in document and document["kamal"]["log_type"] == log_type
        if log_type != "process":
            assert "[REDACTED]" in document["event"]["original"]
        if document["event"]["kind"] == "pipeline_error":
            assert document["kamal"]["parse_error"] and document["event"]["original"]
    from converter.parsing.files import Options, Summary, parse_inputs

    file = tmp_path / Path(path).name
    file.write_text(text + "\n")
    parsed = json.dumps(list(parse_inputs([str(file)], Options(log_type=log_type), Summary())))
    assert set(PLANTED.findall(parsed)) == {s for s in secrets if s in PARSER_SHOWS}


def test_an_unknown_line_is_kept_masked_by_the_router(simulator: Simulator) -> None:
    document, dataset = simulator.run(ROUTER, {"message": "curl -u admin:pw-PLANTED-914 https://x.example/"})
    assert dataset is None and document["event"]["kind"] == "pipeline_error" and "_tmp" not in document
    assert document["message"] == "curl -u admin:[REDACTED] https://x.example/"


def test_no_planted_secret_in_any_corpus_document(outputs: dict[str, dict[str, Any]], lines: list[Line]) -> None:
    planted = {s for line in lines for s in PLANTED.findall(line.text)}
    assert len(planted) >= 17
    for where, document in outputs.items():
        assert not PLANTED.search(json.dumps(document)), where


def test_a_failure_message_never_quotes_the_line(simulator: Simulator) -> None:
    document, _ = simulator.run("kamal-siem-proxy", shipped('{"time": "2026-10-05T09:00:00Z", "level": "INFO", "msg": "Request", '
                                                            '"port": "four-four-three"}'))
    assert document["event"]["kind"] == "event" and document["kamal"]["warnings"] == ["http_port: expected a long"]
    assert "url" not in document
    document, _ = simulator.run("kamal-siem-audit", shipped("not an audit line password=pw-PLANTED-913"))
    assert document["event"]["kind"] == "pipeline_error"
    assert document["error"]["message"] == ["kamal-siem-audit: not a Kamal audit line"]
    assert "PLANTED" not in json.dumps(document)


def test_every_field_the_pipelines_write_is_mapped_with_its_type(lines: list[Line], outputs: dict[str, dict[str, Any]],
                                                                 simulator: Simulator) -> None:
    """Each value in every document the pipelines made (the corpora and the crafted lines) is in
    the data stream's mappings, with a value of the mapped type."""
    import ipaddress

    from converter.targets.elastic_assets import elastic_assets

    from .test_elastic_templates import composed

    assets = elastic_assets(DICTIONARY)
    mappings = {t: composed(assets, f"logs-{DICTIONARY.logsources[t].elastic_dataset}") for t in DICTIONARY.log_types}

    def fits(kind: str, value: Any) -> bool:
        if kind in ("keyword", "text"):
            return isinstance(value, str)
        if kind == "long":
            return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
        if kind == "double":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind == "boolean":
            return isinstance(value, bool)
        if kind == "ip":
            return isinstance(value, str) and bool(ipaddress.ip_address(value))
        if kind in ("date", "date_nanos"):
            return isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", value) is not None
        return kind == "flattened" and isinstance(value, dict)

    documents = [(line.log_type, outputs[line.where]) for line in lines]
    documents += [(t, simulator.run(f"kamal-siem-{t}", shipped(text, path))[0]) for t, text, path in CRAFTED]
    seen: set[str] = set()
    for log_type, document in documents:
        for name, value in flat(document).items():
            assert name in mappings[log_type], (log_type, name)
            kind = mappings[log_type][name]["type"]
            for item in value if isinstance(value, list) else [value]:
                assert fits(kind, item), (log_type, name, kind, item)
            seen.add(name)
    assert len(seen) > 90


@pytest.mark.parametrize("text", [
    "[2026-10-15T22:09:00Z] [" + "x] " * 5000 + "[production] Pruned images",
    "[2026-10-15T22:09:00Z] [a] [production] Executed cmd '" + "a " * 50000 + "' on app version X",
    "[2026-10-15T22:09:00Z] [a] [production] Executed cmd '" + "a' on " * 10000 + "a b",
    "[2026-10-15T22:09:00Z] [" + "] " * 20000,
], ids=["many-splits", "long-command", "quotes", "brackets"])
def test_audit_grok_stays_fast_on_hostile_lines(pipelines: dict[str, dict[str, Any]], text: str) -> None:
    """A forged performer or a huge command must not make the frame backtrack for long (Elasticsearch
    stops a grok after 1 s and the line would become a pipeline error)."""
    import time

    for options in (p["grok"] for p in walk({"audit": pipelines["kamal-siem-audit"]}) if "grok" in p):
        if options.get("field") != "event.original":
            continue
        grok = grok_for(options)
        started = time.perf_counter()
        grok.captures(text)
        assert time.perf_counter() - started < 0.2, options.get("tag")
