"""TA-kamal, the Splunk add-on: its source types read Kamal's logs as `kamal-siem parse` does.

Without a Splunk, tests/splunk_emulation.py runs the add-on's knowledge in Splunk's order with every
regex in real PCRE2: index time (LINE_BREAKER, TIME_PREFIX/TIME_FORMAT, SEDCMD), then search time
(EXTRACT, REPORT, KV_MODE=json, FIELDALIAS, EVAL, LOOKUP). The fields it gives each event are
compared with our parser's output for the same lines: exactly on the bundled samples (samples/),
and on the parser test corpora (tests/parsers/) and the hook emitter's replay corpora
(tests/replay/*hook*) except the differences listed here, each with its reason. Every field a kamal_security search uses is produced by the add-on for that source type.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converter.fields import default_dictionary
from converter.parsing.definitions import default_definitions
from converter.targets.splunk_app import app_files
from converter.targets.splunk_eval import Bin, Call, Expr, Fld, Not, Str, string_literal, unescape_literal
from converter.targets.splunk_props import ACTION_OUTPUTS, Knowledge, check_dependencies
from converter.targets.splunk_ta import TA, all_knowledge, ta_files, ta_spec
from converter.tuning import load_tuning

from .conftest import ROOT
from .splunk_emulation import Fields, index_time, parse_sed, pcre, search_time
from .test_build_splunk import stanzas

DICTIONARY = default_dictionary()
KNOWLEDGE = {k.log_type: k for k in all_knowledge(DICTIONARY)}
FILES = ta_files(DICTIONARY)
LOOKUPS = {path.rsplit("/", 1)[1].removesuffix(".csv"): data for path, data in FILES.items() if path.endswith(".csv")}
SPLUNK_HOST = "web-1"  # the forwarder's host name the emulated events get
NOT_COMPARED = {"source", "line", "record", "error", "warnings", "timestamp", "extra"}
CIM_ACTIONS = {"acl_modified", "cleared", "created", "deleted", "modified", "read", "stopped", "updated"}  # CIM Change `action`

# Lines of the parser corpora where the add-on's fields differ from the parser's, and why.
FORGED = "a forged performer holding `] [`: Splunk's regex takes the first reading whose message Kamal writes; " \
         "the parser skips readings whose tags disagree with the file name (the line is flagged either way)"
DIFFERENT_LINES = {
    "audit/forged/home/deploy/.kamal/foo-web-audit.log:3": FORGED,
    "audit/forged/home/deploy/.kamal/shop-staging-audit.log:1": FORGED,
    "audit/forged/home/deploy/.kamal/shop-staging-audit.log:2": FORGED,
    "audit/forged/home/deploy/.kamal/shop-staging-audit.log:9": "more than 16 `] ` in a line: the parser stops trying "
                                                                "(split_limit), PCRE does not",
}
WRONG_TYPE = "a value of the wrong type: the parser leaves the field out (with a warning), Splunk keeps the text"
DIFFERENT_FIELDS = {
    "docker/test-docker-events.jsonl:25 exit_code": WRONG_TYPE,
    "process/auditbeat-process.ndjson:5 ProcessId": WRONG_TYPE,
    "process/auditbeat-process.ndjson:5 CommandLine": "an argument that is a number: the parser does not join such "
                                                      "arguments, Splunk's mvjoin does",
    "proxy/test-kamal-proxy-0.9.log:9 client_port": WRONG_TYPE,
    "run/test-otel-collector-file.jsonl:3 message": "an OTLP body that is not a string: the parser writes it as JSON "
                                                    "text, Splunk's message holds the string bodies",
}
# The replay corpora of the kamal-siem hook emitter's events (`run`: OTLP records, action hook_run).
HOOK_REPLAYS = ("kamal_deploy_lock_bypassed_hook_emitter", "kamal_hook_spool_tampered_with",
                "uncommitted_code_deployed_to_a_protected_destination_hook_emitter")
WHOLE_DOUBLE = "a whole OTLP doubleValue (`94`): the parser writes the double 94.0, Splunk keeps the text 94 (the same number)"
DIFFERENT_REPLAY_FIELDS = {
    "kamal_deploy_lock_bypassed_hook_emitter/dana-laptop/spool/events-000001.ndjson runtime": WHOLE_DOUBLE,
    "kamal_deploy_lock_bypassed_hook_emitter/fv-az1043-217/spool/events-000001.ndjson runtime": WHOLE_DOUBLE,
    "kamal_hook_spool_tampered_with/dana-laptop/spool/events-000001.ndjson runtime": WHOLE_DOUBLE,
    "uncommitted_code_deployed_to_a_protected_destination_hook_emitter/dana-laptop/spool/events-000001.ndjson runtime":
        WHOLE_DOUBLE,
}
NOT_READ = {"proxy/test-kamal-proxy-logs-timestamps.log": "`docker logs --timestamps` output: the add-on reads Docker's "
                                                          "json-file log, or kamal-proxy's own lines"}


# -- the corpora through the parser and through the emulated Splunk -----------------------------------

def parse(root: Path) -> dict[str, list[dict[str, Any]]]:
    """`kamal-siem parse` of every file under root: the events of each file."""
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "kamal-siem"), "parse", "-q", str(root.relative_to(ROOT))],
                         cwd=ROOT, capture_output=True, text=True, check=False).stdout
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in out.splitlines():
        event = json.loads(line)
        events[event["source"]].append(event)
    return events


def break_events(text: str, line_breaker: str) -> list[tuple[int, str]]:
    """Splunk's line breaking: the first group of each LINE_BREAKER match is dropped and ends an
    event. Returns (1-based line where the event starts, its text)."""
    events, position = [], 0
    for m in pcre(line_breaker).finditer(text):
        start, end = m.span(1)
        if start > position:
            events.append((text.count("\n", 0, position) + 1, text[position:start]))
        position = max(end, position)
    if text[position:].strip():
        events.append((text.count("\n", 0, position) + 1, text[position:]))
    return events


def values(value: Any) -> list[str] | None:
    items = value if isinstance(value, list) else [value]
    out = sorted({"true" if v is True else "false" if v is False else v if isinstance(v, str) else json.dumps(v)
                  for v in items if v is not None})
    return out or None


class Compared:
    """One Splunk event beside the parser events of its lines."""

    def __init__(self, source: str, line: int, text: str, parsed: list[dict[str, Any]]) -> None:
        self.source, self.line, self.parsed = source, line, parsed
        self.log_type = parsed[0]["log_type"]
        self.knowledge = KNOWLEDGE[self.log_type]
        self.raw = text
        self.indexed = index_time(self.knowledge, text)
        self.fields = search_time(self.knowledge, self.indexed, source=source, host=SPLUNK_HOST, lookups=LOOKUPS)

    def differences(self) -> dict[str, tuple[Any, Any]]:
        out = {}
        for field in DICTIONARY.fields_of(self.log_type):
            if field.name in NOT_COMPARED:
                continue
            want = values([v for e in self.parsed for v in (e[field.name] if isinstance(e.get(field.name), list) else [e.get(field.name)])])
            got = values(self.fields.get(field.splunk))
            cim = ta_spec()["sourcetypes"][self.log_type].get("cim", {}).get("fields", {}).get(field.splunk, {})
            if want is None and got == [SPLUNK_HOST] and "splunk:host" in cim.get("coalesce", []):
                continue  # a CIM field filled from Splunk's own field where ours is absent
            if want != got:
                out[field.name] = (want, got)
        return out


def compare(root: Path) -> Iterator[Compared]:
    for source, events in sorted(parse(root).items()):
        k = KNOWLEDGE[events[0]["log_type"]]
        text = (ROOT / source).read_text(encoding="utf-8")
        by_line = defaultdict(list)
        for e in events:
            if "error" not in e:
                by_line[e["line"]].append(e)
        chunks = break_events(text, k.index_time["LINE_BREAKER"])
        for i, (line, chunk) in enumerate(chunks):
            end = chunks[i + 1][0] if i + 1 < len(chunks) else 10**9
            parsed = [e for n, es in sorted(by_line.items()) if line <= n < end for e in es]
            if parsed:
                yield Compared(source, line, chunk, parsed)


@pytest.fixture(scope="module")
def samples() -> list[Compared]:
    return list(compare(ROOT / "samples"))


@pytest.fixture(scope="module")
def corpora() -> list[Compared]:
    return list(compare(ROOT / "tests" / "parsers"))


@pytest.fixture(scope="module")
def replays() -> list[Compared]:
    return [c for name in HOOK_REPLAYS for c in compare(ROOT / "tests" / "replay" / name)]


def where(c: Compared) -> str:
    return f"{c.source.removeprefix('tests/parsers/')}:{c.line}"


def test_every_log_type_is_in_the_samples(samples: list[Compared]) -> None:
    assert {c.log_type for c in samples} == set(DICTIONARY.log_types)
    assert len(samples) > 60


def test_the_samples_read_in_splunk_as_the_parser_reads_them(samples: list[Compared]) -> None:
    problems = {where(c): c.differences() for c in samples if c.differences()}
    assert problems == {}
    compared = sum(1 for c in samples for f in DICTIONARY.fields_of(c.log_type) if f.splunk in c.fields)
    assert compared > 500  # fields really compared, not absent on both sides


def test_the_parser_corpora_read_alike_but_for_the_listed_lines(corpora: list[Compared]) -> None:
    seen_lines, seen_fields = set(), set()
    problems = {}
    for c in corpora:
        if c.source.removeprefix("tests/parsers/") in NOT_READ:
            continue
        diff = c.differences()
        if where(c) in DIFFERENT_LINES:
            seen_lines.add(where(c))
            continue
        for name in diff:
            key = f"{where(c)} {name}"
            if key in DIFFERENT_FIELDS:
                seen_fields.add(key)
            else:
                problems[key] = diff[name]
    assert problems == {}
    assert seen_lines == set(DIFFERENT_LINES) and seen_fields == set(DIFFERENT_FIELDS)  # the list stays true
    assert all((ROOT / "tests" / "parsers" / p).is_file() for p in NOT_READ)


def test_the_hook_emitter_replays_read_alike_but_for_the_listed_fields(replays: list[Compared]) -> None:
    """Every line of the hook emitter's replay corpora, its array attributes (hosts, secret names,
    other KAMAL_ variable names) as multivalue fields."""
    logs = [p for name in HOOK_REPLAYS for p in sorted((ROOT / "tests" / "replay" / name).rglob("*")) if p.suffix != ".yml" and p.is_file()]
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in logs)
    assert len(replays) == lines > 50  # one event a line, each compared
    assert {e.get("action") for c in replays for e in c.parsed} == {"hook_run"}
    seen, problems = set(), {}
    for c in replays:
        for name, (want, got) in c.differences().items():
            key = f"{c.source.removeprefix('tests/replay/')} {name}"
            if DIFFERENT_REPLAY_FIELDS.get(key) == WHOLE_DOUBLE and want and got and \
                    [float(v) for v in want] == [float(v) for v in got]:
                seen.add(key)
            else:
                problems[f"{c.source.removeprefix('tests/replay/')}:{c.line} {name}"] = (want, got)
    assert problems == {}
    assert seen == set(DIFFERENT_REPLAY_FIELDS)  # the list stays true
    arrays = {"kamal_hosts", "kamal_secret_names", "kamal_other_variables"}
    assert all(arrays & set(c.fields) for c in replays)
    assert any(len(c.fields.get("kamal_hosts", [])) > 1 and len(c.fields.get("kamal_secret_names", [])) > 1 for c in replays)


def test_otlp_array_attributes_are_multivalue_fields() -> None:
    """Every string of every record's array; an array that is not all strings, or empty, is left out."""
    def record(attributes: str) -> str:
        return '{"timeUnixNano":"1","eventName":"kamal.hook","attributes":[' + attributes + "]}"

    def array(key: str, items: str) -> str:
        return f'{{"key":"{key}","value":{{"arrayValue":{{"values":[{items}]}}}}}}'

    raw = ('{"resourceLogs":[{"resource":{"attributes":[]},"scopeLogs":[{"logRecords":['
           + record(array("kamal.hosts", '{"stringValue":"10.0.0.1"}, {"stringValue":"a\\"b"}') + ","
                    + array("kamal.roles", '{"stringValue":"web"}')) + ","
           + record(array("kamal.hosts", '{"stringValue":"10.0.0.2"}') + "," + array("kamal.roles", "") + ","
                    + array("kamal.hook.secrets.names", '{"stringValue":"A"},{"intValue":"1"}'))
           + "]}]}]}")
    assert json.loads(raw)
    fields = search_time(KNOWLEDGE["run"], raw, source="/var/log/kamal/otel.jsonl", host=SPLUNK_HOST, lookups=LOOKUPS)
    assert fields["kamal_hosts"] == ["10.0.0.1", 'a"b', "10.0.0.2"]
    assert fields["kamal_roles"] == ["web"]
    assert "kamal_secret_names" not in fields and "kamal_other_variables" not in fields


def test_forged_lines_stay_flagged(corpora: list[Compared]) -> None:
    """Whatever reading Splunk takes of a forged line, the forged-performer rule still sees it."""
    forged = [c for c in corpora if any(e.get("performer_flags") for e in c.parsed)]
    assert len(forged) >= 4
    for c in forged:
        assert c.fields.get("performer_flags"), where(c)


# -- index time ---------------------------------------------------------------------------------------

def test_source_types_set_how_splunk_breaks_and_times_events() -> None:
    props = stanzas(FILES[f"{TA}/default/props.conf"].decode())
    definitions = default_definitions()
    for log_type, source in DICTIONARY.logsources.items():
        settings = props[source.splunk_sourcetype]
        for key in ("LINE_BREAKER", "TIME_PREFIX", "TIME_FORMAT", "MAX_TIMESTAMP_LOOKAHEAD", "TRUNCATE", "CHARSET"):
            assert settings[key], (log_type, key)
        assert settings["SHOULD_LINEMERGE"] == "false"
        assert settings["KV_MODE"] == ("json" if definitions[log_type].format == "json" else "none")
        assert "INDEXED_EXTRACTIONS" not in settings  # search-time JSON: no structured parsing on forwarders


def test_a_pretty_printed_otlp_body_is_one_event() -> None:
    text = (ROOT / "tests/parsers/run/test-otel-post-body.json").read_text()
    [(line, event)] = break_events(text, KNOWLEDGE["run"].index_time["LINE_BREAKER"])
    assert line == 1 and json.loads(event)["resourceLogs"]
    lines = (ROOT / "samples/deployer/otel/kamal-otel.jsonl").read_text()
    assert len(break_events(lines, KNOWLEDGE["run"].index_time["LINE_BREAKER"])) == len(lines.splitlines())


_DIRECTIVE = re.compile(r"%(?:[0-9]?N|[YmdHMSsZ])")


def strptime(fmt: str, text: str) -> dt.datetime | None:
    """Splunk's TIME_FORMAT directives we use, at the start of `text`. Assumption: `%<n>N` reads up
    to n digits (Go's RFC 3339 times drop trailing zeros). A literal `Z` means UTC (TZ = UTC)."""
    parts: dict[str, str] = {}
    pos = 0
    for token in re.split(f"({_DIRECTIVE.pattern})", fmt):
        if not token:
            continue
        if not token.startswith("%"):
            if not text.startswith(token, pos):
                return None
            pos += len(token)
            continue
        pattern = {"%Y": "[0-9]{4}", "%m": "[0-9]{2}", "%d": "[0-9]{2}", "%H": "[0-9]{2}", "%M": "[0-9]{2}", "%S": "[0-9]{2}",
                   "%s": "[0-9]{10}", "%Z": "Z|UTC|[+-][0-9]{2}:?[0-9]{2}"}.get(token)
        if pattern is None:  # %N, %3N, %9N
            pattern = f"[0-9]{{1,{token[1:-1] or 9}}}"
        m = re.compile(pattern).match(text, pos)
        if m is None:
            return None
        parts[token if not token.endswith("N") else "%N"] = m.group()
        pos = m.end()
    fraction = dt.timedelta(microseconds=int((parts.get("%N", "0") + "000000")[:6]))
    if "%s" in parts:
        return dt.datetime.fromtimestamp(int(parts["%s"]), dt.UTC) + fraction
    zone = parts.get("%Z", "Z")
    offset = dt.timedelta(0) if zone in ("Z", "UTC") else dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:])) * (1 if zone[0] == "+" else -1)
    local = dt.datetime(int(parts["%Y"]), int(parts["%m"]), int(parts["%d"]), int(parts["%H"]), int(parts["%M"]), int(parts["%S"]), tzinfo=dt.UTC)
    return local - offset + fraction


def splunk_time(k: Knowledge, raw: str) -> dt.datetime | None:
    m = pcre(k.index_time["TIME_PREFIX"]).search(raw)
    if m is None:
        return None
    return strptime(k.index_time["TIME_FORMAT"], raw[m.end():m.end() + int(k.index_time["MAX_TIMESTAMP_LOOKAHEAD"])])


def test_time_prefix_and_format_read_the_parsers_timestamp(samples: list[Compared], corpora: list[Compared]) -> None:
    """Where the format does not match, Splunk falls back to its own timestamp recognition (Getting
    Data In, "Configure timestamp recognition"): allowed only for MRSK's zone-less audit times (read
    in TZ = UTC, as the parser assumes), kamal-proxy times on a whole second (Go writes no fraction
    then), and Docker events of engines before API 1.22 (no `timeNano`: Splunk takes the time of
    the event before)."""
    read, fallback = 0, defaultdict(int)
    for c in samples + corpora:
        if c.source.removeprefix("tests/parsers/") in NOT_READ:
            continue
        first = min(c.parsed, key=lambda e: e.get("record", 0))
        if "timestamp" not in first:
            continue  # the parser could not read one either (a warning says why)
        got = splunk_time(c.knowledge, c.indexed)
        if got is None:
            if c.log_type == "audit" and first.get("timestamp_assumed_tz") == "UTC":
                fallback["mrsk"] += 1
            elif c.log_type == "proxy" and re.search(r'time\\?":\\?"[0-9-]{10}T[0-9:]{8}(?:Z|[+-][0-9:]{5})\\?"', c.indexed):
                fallback["whole second"] += 1
            elif c.log_type == "docker" and '"timeNano"' not in c.indexed:
                fallback["no timeNano"] += 1
            else:
                raise AssertionError(f"{where(c)}: TIME_FORMAT does not read {first['timestamp']}")
            continue
        read += 1
        want = dt.datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
        assert abs(got - want) < dt.timedelta(microseconds=1), (where(c), got, want)
    assert read > 200 and set(fallback) == {"mrsk", "whole second", "no timeNano"}


# -- secrets ------------------------------------------------------------------------------------------

PLANTED = re.compile(r"[a-z]+-PLANTED-[0-9]+|cGxhbnRlZDpQTEFOVEVELTc=")


def test_no_planted_secret_is_indexed(corpora: list[Compared]) -> None:
    """SEDCMD masks what the parser masks before Splunk indexes the event; JSON stays JSON."""
    raw_secrets = 0
    for c in corpora:
        raw_secrets += len(PLANTED.findall(c.raw))
        assert not PLANTED.search(c.indexed), (where(c), PLANTED.findall(c.indexed))
        if c.knowledge.index_time["KV_MODE"] == "json" and c.source.removeprefix("tests/parsers/") not in NOT_READ:
            json.loads(c.indexed)
    assert raw_secrets > 10  # the corpora really hold planted secrets


def test_sedcmds_are_sed_expressions_with_pcre_regexes() -> None:
    for k in KNOWLEDGE.values():
        assert k.sedcmds
        for value in k.sedcmds.values():
            regex, replacement, flags = parse_sed(value)
            pcre(regex)
            assert replacement == r"\1[REDACTED]\2" and flags == "g"


# -- what the searches need -----------------------------------------------------------------------------

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def search_fields(spl: str) -> set[str]:
    """The field names a search filters on, groups by or renames to."""
    text = _QUOTED.sub('""', spl)
    fields = set(re.findall(r"([A-Za-z_][A-Za-z0-9_.]*)\s*(?:!=|>=|<=|=|>|<|\s+IN\s*\()", text))
    fields |= set(re.findall(r"\brename value AS ([A-Za-z_][A-Za-z0-9_.]*)", text))
    for group in re.findall(r"\bBY ((?:[A-Za-z_][A-Za-z0-9_.]* ?)+)", text):
        fields |= set(group.split())
    return fields - {"event_count", "sourcetype", "index", "time_window"}  # streamstats' own


def test_search_fields_finds_what_a_search_uses() -> None:
    spl = ('`kamal_audit` kamal_action IN ("a=b") user="x" NOT performer_flags=* status>=500 [| inputlookup t.csv | rename value '
           'AS kamal_destination | fields kamal_destination] | streamstats time_window=60s count AS event_count BY user dest '
           '| where event_count >= 3')
    assert search_fields(spl) == {"kamal_action", "user", "performer_flags", "status", "kamal_destination", "dest"}


def test_every_field_a_search_uses_is_produced_by_the_ta() -> None:
    app, refused = app_files(ROOT / "sigma_rules", DICTIONARY, load_tuning())
    assert refused == []
    macros = stanzas(app["kamal_security/default/macros.conf"].decode())
    by_macro = {s.splunk_macro: KNOWLEDGE[t] for t, s in DICTIONARY.logsources.items()}
    used_by: dict[str, set[str]] = defaultdict(set)
    for name, settings in stanzas(app["kamal_security/default/savedsearches.conf"].decode()).items():
        spl = settings["search"]
        macro = re.match(r"`([a-z_]+)`", spl)
        assert macro and macro.group(1) in by_macro, name
        k = by_macro[macro.group(1)]
        used = search_fields(spl) | search_fields(macros[macro.group(1)]["definition"])
        used |= set(filter(None, settings.get("alert.suppress.fields", "").split(",")))
        missing = used - k.produced()
        assert not missing, f"{name}: the TA gives {k.sourcetype} no {sorted(missing)}"
        used_by[k.sourcetype] |= used
    assert set(used_by) == {s.splunk_sourcetype for s in DICTIONARY.logsources.values()}
    assert {"kamal_action", "command", "user", "kamal_destination", "performer_flags"} <= used_by["kamal:audit"]


def test_log_source_macros_find_the_tas_source_types() -> None:
    app, _refused = app_files(ROOT / "sigma_rules", DICTIONARY, load_tuning())
    macros = stanzas(app["kamal_security/default/macros.conf"].decode())
    props = stanzas(FILES[f"{TA}/default/props.conf"].decode())
    for source in DICTIONARY.logsources.values():
        definition = macros[source.splunk_macro]["definition"]
        assert definition.startswith("(`kamal_index` ")  # the index macro first
        assert re.search(r'sourcetype="([^"]+)"', definition).group(1) in props  # type: ignore[union-attr]


# -- CIM ------------------------------------------------------------------------------------------------

def test_eventtypes_tag_kamal_operations_for_the_change_data_model() -> None:
    eventtypes = stanzas(FILES[f"{TA}/default/eventtypes.conf"].decode())
    tags = stanzas(FILES[f"{TA}/default/tags.conf"].decode())
    by_sourcetype = {k.sourcetype: k for k in KNOWLEDGE.values()}
    change = set()
    for name, settings in eventtypes.items():
        sourcetype = re.match(r'sourcetype="([^"]+)"', settings["search"]).group(1)  # type: ignore[union-attr]
        k = by_sourcetype[sourcetype]
        assert search_fields(settings["search"]) <= k.produced(), name
        assert set(tags[f"eventtype={name}"].values()) == {"enabled"}
        if "change" in tags[f"eventtype={name}"]:
            change.add(k.log_type)
            assert set(ACTION_OUTPUTS) <= k.produced() and {"vendor_product", "dest", "object"} & k.produced(), name
    assert {"audit", "run", "docker"} <= change
    assert "web" in tags["eventtype=kamal_proxy_request"] and {"process", "report"} <= set(tags["eventtype=kamal_process"])


def test_every_kamal_action_maps_to_a_cim_change_action() -> None:
    rows = LOOKUPS["kamal_cim_actions"].decode().splitlines()
    table = {tuple(r.split(",")[:2]): r.split(",")[2] for r in rows[1:]}
    assert set(table.values()) <= CIM_ACTIONS
    audit = set(default_definitions()["audit"].actions) - {"unknown"}
    assert {a for t, a in table if t == "audit"} == audit
    assert {("run", a) for a in ("run_start", "run_complete", "run_failed")} <= set(table)


def test_cim_fields_on_the_samples(samples: list[Compared]) -> None:
    boot = next(c for c in samples if c.fields.get("kamal_action") == ["app_boot"])
    assert (boot.fields["action"], boot.fields["object_category"], boot.fields["change_type"]) == (["updated"], ["app"], ["deployment"])
    assert boot.fields["vendor_product"] == ["Kamal"] and boot.fields["dest"] == [SPLUNK_HOST]
    failed = next(c for c in samples if "run_failed" in c.fields.get("kamal_action", []))
    assert "failure" in failed.fields["status"]
    request = next(c for c in samples if c.fields.get("kamal_action") == ["request"])
    assert request.fields["status"][0].isdigit()  # Web's HTTP status, not Change's


# -- inputs, app files ----------------------------------------------------------------------------------

def test_inputs_are_disabled_examples_for_every_log_type() -> None:
    text = FILES[f"{TA}/default/inputs.conf"].decode()
    inputs = stanzas(text)
    assert inputs and all(s["disabled"] == "1" for s in inputs.values())
    assert all(name.startswith("monitor:///") for name in inputs)  # no scripted input (not allowed in Splunk Cloud)
    assert {s["sourcetype"] for s in inputs.values()} == {x.splunk_sourcetype for x in DICTIONARY.logsources.values()}
    assert "monitor:///home/*/.kamal/*-audit.log" in inputs and "monitor:///root/.kamal/*-audit.log" in inputs
    comments = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    assert "docker events --format '{{json .}}'" in comments


def test_every_regex_compiles_in_pcre2_with_splunks_options() -> None:
    count = 0
    for k in KNOWLEDGE.values():
        for regex in [*(v.partition(" in ")[0] for v in k.extracts.values()), k.index_time["LINE_BREAKER"], k.index_time["TIME_PREFIX"],
                      *(t.regex for t in k.reports), *(r for e in k.evals.values() for r in eval_regexes(e))]:
            pcre(regex)
            count += 1
    assert count > 100


def eval_regexes(e: Expr) -> Iterator[str]:
    if isinstance(e, Call):
        if e.fn in ("match", "replace", "mvfind") and isinstance(e.args[1], Str):
            yield e.args[1].value
        for a in e.args:
            yield from eval_regexes(a)
    elif isinstance(e, Bin):
        yield from eval_regexes(e.left)
        yield from eval_regexes(e.right)
    elif isinstance(e, Not):
        yield from eval_regexes(e.operand)


@pytest.mark.parametrize("value", ['a"b', "C:\\temp\\", "\\\\d+", 'x\\"y', "plain"])
def test_eval_string_literals_read_back_as_written(value: str) -> None:
    assert unescape_literal(string_literal(value)) == value


def test_a_calculated_field_reading_another_is_refused() -> None:
    k = Knowledge("audit", "kamal:audit", "", {}, evals={"a": Fld("b"), "b": Str("x")})
    with pytest.raises(ValueError, match="EVAL-a reads the calculated field"):
        check_dependencies(k)
    check_dependencies(Knowledge("audit", "kamal:audit", "", {}, evals={"a": Fld("c"), "b": Str("x")}))


def test_the_ta_is_one_package_apart_from_the_content_app() -> None:
    assert all(path.startswith(f"{TA}/") for path in FILES)
    for name in ("app.conf", "props.conf", "transforms.conf", "eventtypes.conf", "tags.conf", "inputs.conf"):
        assert f"{TA}/default/{name}" in FILES
    assert b"export = system" in FILES[f"{TA}/metadata/default.meta"]  # its knowledge serves every app
    app = stanzas(FILES[f"{TA}/default/app.conf"].decode())
    assert app["package"]["id"] == app["id"]["name"] == TA and app["ui"]["is_visible"] == "0"
    manifest = json.loads(FILES[f"{TA}/app.manifest"])
    assert set(manifest["targetWorkloads"]) == {"_search_heads", "_indexers", "_forwarders"}
    assert not any("savedsearches" in p or "macros" in p for p in FILES)


def test_emulated_fields_are_lists() -> None:
    fields: Fields = search_time(KNOWLEDGE["audit"], "[2026-06-22T13:02:49Z] [bob@acme.example] [production] [web] Stopped app",
                                 source="/home/deploy/.kamal/shop-production-audit.log", host=SPLUNK_HOST, lookups=LOOKUPS)
    assert fields["kamal_action"] == ["app_stop"] and fields["kamal_role"] == ["web"] and fields["app"] == ["shop"]
    assert fields["action"] == ["stopped"] and "performer_flags" not in fields
