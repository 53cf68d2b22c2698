"""The log-shipper configurations of integrations/shipping/: what each one reads and the names it
sends the lines under (Splunk source type and index, Elasticsearch data stream and pipeline, syslog
log type), taken out of the files themselves and checked against the field dictionary and the
output of `kamal-siem build`, so that a name changed on either side is reported, per file."""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .content import content_root
from .fields import FieldDictionary


def shipping_dir() -> Path:
    return content_root() / "integrations" / "shipping"


@dataclass(frozen=True)
class Route:
    """Files one input of a shipper reads, and what the lines are sent as."""

    config: str                      # path under integrations/shipping/
    paths: tuple[str, ...]
    sourcetype: str | None = None    # Splunk
    index: str | None = None
    data_stream: str | None = None   # Elasticsearch
    pipeline: str | None = None      # an explicit ingest pipeline (else the data stream's default)
    log_type: str | None = None      # syslog: the type the message says


@dataclass
class Manifest:
    server_logs: dict[str, list[str]]
    sidecar: dict[str, str]
    shippers: dict[str, dict[str, Any]]

    def configs(self) -> list[dict[str, str]]:
        return [c for s in self.shippers.values() for c in s["configs"]]


def load_manifest(root: Path | None = None) -> Manifest:
    data = yaml.safe_load(((root or shipping_dir()) / "shipping.yml").read_text(encoding="utf-8"))
    return Manifest(data["server_logs"], data["sidecar"], data["shippers"])


# ------------------------------------------------------------------------------ reading the configs

def _otelcol(text: str, name: str) -> list[Route]:
    config = yaml.safe_load(text)
    receivers, exporters = config.get("receivers", {}), config.get("exporters", {})
    routes = []
    for pipeline in config["service"]["pipelines"].values():
        for r in pipeline["receivers"]:
            receiver = receivers[r] or {}
            attributes = receiver.get("attributes", {})
            for e in pipeline["exporters"]:
                exporter = exporters[e] or {}
                kind = e.split("/")[0]
                routes.append(Route(name, tuple(receiver.get("include", [])),
                                    sourcetype=attributes.get("com.splunk.sourcetype", exporter.get("sourcetype"))
                                    if kind == "splunk_hec" else None,
                                    index=attributes.get("com.splunk.index", exporter.get("index")) if kind == "splunk_hec" else None,
                                    data_stream=exporter.get("logs_index") if kind == "elasticsearch" else None,
                                    pipeline=exporter.get("pipeline")))
    return routes


def _vector(text: str, name: str) -> list[Route]:
    config = tomllib.loads(text)
    sources, transforms = config.get("sources", {}), config.get("transforms", {})

    def origins(inputs: list[str]) -> list[str]:
        found: list[str] = []
        for i in inputs:
            base = i.split(".")[0]
            found += [base] if base in sources else origins(transforms[base]["inputs"])
        return found

    routes = []
    for sink in config.get("sinks", {}).values():
        stream = None
        if sink["type"] == "elasticsearch" and sink.get("mode") == "data_stream":
            ds = sink.get("data_stream", {})
            stream = f"{ds.get('type', 'logs')}-{ds.get('dataset', 'generic')}-{ds.get('namespace', 'default')}"
        for source in origins(sink["inputs"]):
            routes.append(Route(name, tuple(sources[source]["include"]), sourcetype=sink.get("sourcetype"),
                                index=sink.get("index"), data_stream=stream, pipeline=sink.get("pipeline")))
    return routes


def parse_conf(text: str) -> dict[str, dict[str, str]]:
    """A Splunk .conf file: stanza -> settings (comments and blank lines skipped)."""
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",), comment_prefixes=("#",), strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # Splunk keys are case-sensitive
    parser.read_string(text)
    return {s: dict(parser[s]) for s in parser.sections()}


def _splunk_inputs(text: str, name: str) -> list[Route]:
    return [Route(name, (stanza.removeprefix("monitor://"),), sourcetype=s.get("sourcetype"), index=s.get("index"))
            for stanza, s in parse_conf(text).items() if stanza.startswith("monitor://")]


def _filebeat(text: str, name: str) -> list[Route]:
    config = yaml.safe_load(text)
    return [Route(name, tuple(i["paths"]), data_stream=i.get("index"), pipeline=i.get("pipeline"))
            for i in config["filebeat.inputs"]]


_RS_BLOCK = re.compile(r'\b(input|ruleset)\((.*?)\)\s*(\{(.*?)\})?', re.S)
_RS_PARAM = re.compile(r'([A-Za-z.]+)="([^"]*)"')
_RS_TYPE = re.compile(r'set \$!kamal_type = "([^"]*)";')


def _rsyslog(text: str, name: str) -> list[Route]:
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    types, inputs = {}, []
    for kind, params, _, body in _RS_BLOCK.findall(text):
        p = {k.lower(): v for k, v in _RS_PARAM.findall(params)}
        if kind == "ruleset" and (m := _RS_TYPE.search(body or "")):
            types[p["name"]] = m.group(1)
        elif kind == "input" and p.get("type") == "imfile":
            inputs.append(p)
    return [Route(name, (p["file"],), log_type=types.get(p.get("ruleset", ""))) for p in inputs]


READERS = {"otelcol": _otelcol, "vector": _vector, "splunk_inputs": _splunk_inputs, "filebeat": _filebeat, "rsyslog": _rsyslog}


def routes(root: Path | None = None, manifest: Manifest | None = None) -> list[Route]:
    root = root or shipping_dir()
    manifest = manifest or load_manifest(root)
    found = []
    for c in manifest.configs():
        found += READERS[c["format"]]((root / c["file"]).read_text(encoding="utf-8"), c["file"])
    return found


# ------------------------------------------------------------------------------ the build's names

@dataclass
class BuildNames:
    """The names a `kamal-siem build` output defines."""

    sourcetypes: set[str] = field(default_factory=set)           # TA-kamal props.conf stanzas
    ta_inputs: dict[str, tuple[str, str]] = field(default_factory=dict)  # inputs.conf path -> (sourcetype, index)
    index_macro: str = ""                                         # kamal_security's kamal_index definition
    templates: dict[str, tuple[list[str], int, str]] = field(default_factory=dict)  # name -> (patterns, priority, pipeline)
    pipelines: set[str] = field(default_factory=set)              # ingest pipeline ids


def build_names(out: Path) -> BuildNames:
    ta = out / "splunk" / "TA-kamal" / "default"
    names = BuildNames()
    names.sourcetypes = {s for s in parse_conf((ta / "props.conf").read_text(encoding="utf-8")) if ":" in s}
    names.ta_inputs = {s.removeprefix("monitor://"): (v["sourcetype"], v["index"])
                       for s, v in parse_conf((ta / "inputs.conf").read_text(encoding="utf-8")).items()}
    macros = parse_conf((out / "splunk" / "kamal_security" / "default" / "macros.conf").read_text(encoding="utf-8"))
    names.index_macro = macros["kamal_index"]["definition"]
    for path in sorted((out / "elastic" / "index-templates").glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        names.templates[path.stem] = (body["index_patterns"], body.get("priority", 0),
                                      body["template"]["settings"]["index"]["default_pipeline"])
    names.pipelines = {p.stem for p in (out / "elastic" / "ingest-pipelines").glob("*.json")}
    return names


# ------------------------------------------------------------------------------ the check

def _log_type_of(path: str, manifest: Manifest) -> str | None:
    return next((t for t, paths in manifest.server_logs.items() if path in paths), None)


def _template_for(stream: str, build: BuildNames) -> tuple[str, str] | None:
    """The index template Elasticsearch would apply to a new data stream: (template, default pipeline)."""
    matching = [(prio, name, pipeline) for name, (patterns, prio, pipeline) in build.templates.items()
                if any(fnmatch.fnmatchcase(stream, p) for p in patterns)]
    if not matching:
        return None
    _prio, name, pipeline = max(matching)
    return name, pipeline


def check(build: BuildNames, dictionary: FieldDictionary, root: Path | None = None) -> list[str]:
    """Every problem found, as `<config>: <what>`; empty when the configs and the build agree."""
    root = root or shipping_dir()
    manifest = load_manifest(root)
    problems = []
    index = build.index_macro.removeprefix("index=")
    for log_type, paths in manifest.server_logs.items():
        if log_type not in dictionary.logsources:
            problems.append(f"shipping.yml: {log_type!r} is not a log type of the field dictionary")
            continue
        sourcetype = dictionary.logsources[log_type].splunk_sourcetype
        for path in paths:
            if build.ta_inputs.get(path, (None,))[0] != sourcetype:
                problems.append(f"shipping.yml: {path} is not among TA-kamal's inputs for {sourcetype}")
    all_routes = routes(root, manifest)
    for c in manifest.configs():
        mine = [r for r in all_routes if r.config == c["file"]]
        read = {p for r in mine for p in r.paths}
        for log_type, paths in manifest.server_logs.items():
            missing = [p for p in paths if p not in read]
            if missing:
                problems.append(f"{c['file']}: does not read {', '.join(missing)} ({log_type})")
        for r in mine:
            types = {_log_type_of(p, manifest) for p in r.paths}
            if None in types or len(types) != 1:
                problems.append(f"{r.config}: an input reads {', '.join(r.paths)}, not the files of one kamal-siem log type")
                continue
            (route_type,) = types
            assert route_type is not None
            problems += _check_route(r, route_type, c["backend"], build, dictionary, index)
    return problems


def _check_route(r: Route, log_type: str, backend: str, build: BuildNames, dictionary: FieldDictionary,
                 index: str) -> list[str]:
    source = dictionary.logsources[log_type]
    where = f"{r.config}: {r.paths[0]} ({log_type})"
    problems = []
    if backend == "splunk":
        if r.sourcetype != source.splunk_sourcetype:
            problems.append(f"{where}: source type {r.sourcetype!r}, the dictionary says {source.splunk_sourcetype!r}")
        if r.sourcetype not in build.sourcetypes:
            problems.append(f"{where}: source type {r.sourcetype!r} is not defined by the built TA-kamal")
        if r.index != index:
            problems.append(f"{where}: index {r.index!r}, the built kamal_index macro searches {build.index_macro!r}")
    elif backend == "elasticsearch":
        dataset = source.elastic_dataset or f"kamal.{log_type}"
        if r.data_stream is None or not re.fullmatch(rf"logs-{re.escape(dataset)}-[a-z0-9_]+", r.data_stream):
            problems.append(f"{where}: data stream {r.data_stream!r}, the dictionary's dataset is {dataset!r} "
                            f"(logs-{dataset}-<namespace>)")
        template = _template_for(r.data_stream or "", build)
        if template is None:
            problems.append(f"{where}: no index template of the build matches data stream {r.data_stream!r}")
        else:
            name, pipeline = template
            expected = f"kamal-siem-{log_type}"
            if pipeline != expected or pipeline not in build.pipelines:
                problems.append(f"{where}: data stream {r.data_stream!r} gets template {name} whose default pipeline "
                                f"{pipeline!r} is not the built {expected!r}")
        if r.pipeline is not None and r.pipeline != f"kamal-siem-{log_type}":
            problems.append(f"{where}: pipeline {r.pipeline!r} is not kamal-siem-{log_type}")
    elif backend == "syslog" and r.log_type != log_type:
        problems.append(f"{where}: sent as log type {r.log_type!r}")
    return problems


NAME_TOKENS = re.compile(r"(?<![\w./-])kamal:[a-z_]+|\blogs-kamal(?:\.[a-z_]+)?-[a-z0-9_*<>]+")


def stray_names(build: BuildNames, root: Path | None = None) -> list[str]:
    """Source types and data streams named anywhere in the folder's text (comments, READMEs) that the
    build does not define: the prose must drift no more than the settings."""
    root = root or shipping_dir()
    problems = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        for token in NAME_TOKENS.findall(path.read_text(encoding="utf-8", errors="replace")):
            if token.startswith("kamal:"):
                ok = token in build.sourcetypes
            else:
                probe = token.replace("<namespace>", "default").replace("<type>", "audit").replace("*", "default")
                ok = _template_for(probe, build) is not None
            if not ok:
                problems.append(f"{path.relative_to(root)}: names {token!r}, which the build does not define")
    return problems


__all__ = ["READERS", "BuildNames", "Manifest", "Route", "build_names", "check", "load_manifest", "parse_conf", "routes",
           "shipping_dir", "stray_names"]
