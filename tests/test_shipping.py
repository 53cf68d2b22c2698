"""integrations/shipping/: the log-shipper configs and their Kamal accessories.

- Every source type, index, data stream and pipeline they name is the one the field dictionary and
  a real `kamal-siem build` define (converter.shipping), and a name drifting on either side fails:
  shown with the build's names changed, with fields.yml changed and rebuilt, and with a config changed.
- The vendors' binaries (otelcol-contrib, Vector, Filebeat, Splunk UF) are not installable here, and
  no registry we reach publishes a schema for their configs: the structure is checked against the
  component and option names of their documentation (noted below with the version read).
- rsyslog is real: `rsyslogd -N1` on the shipped file, and the sample logs delivered through it over
  TLS to another rsyslogd (the hook-delivery test's receiver), every line arriving unchanged.
- The Docker events sidecar script runs under /bin/sh with a stand-in `docker` command.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from converter.fields import FieldDictionary, default_dictionary, load_field_dictionary
from converter.shipping import BuildNames, build_names, check, load_manifest, parse_conf, routes, stray_names

from .hooks_support import require
from .test_hook_delivery import Rsyslog, rsyslog  # noqa: F401  (the receiver fixture)

ROOT = Path(__file__).resolve().parent.parent
SHIPPING = ROOT / "integrations" / "shipping"
SAMPLES = ROOT / "samples" / "web-1"
SERVER_TYPES = {"audit", "proxy", "docker"}


def run_build(out: Path, cwd: Path = ROOT, pythonpath: Path | None = None) -> None:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run([sys.executable, "-c", "from converter.cli import main; main()", "build", "-o", str(out)],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildNames:
    out = tmp_path_factory.mktemp("build")
    run_build(out)
    return build_names(out)


# ------------------------------------------------------------------------------ names vs the build

def test_every_config_names_what_the_build_defines(built: BuildNames) -> None:
    assert check(built, default_dictionary()) == []
    assert stray_names(built) == []
    assert built.index_macro == "index=kamal" and "kamal:audit" in built.sourcetypes  # the check compared real names


def test_every_config_sends_each_server_log_type() -> None:
    manifest = load_manifest()
    assert set(manifest.server_logs) == SERVER_TYPES
    for c in manifest.configs():
        mine = [r for r in routes() if r.config == c["file"]]
        covered = {t for r in mine for t, paths in manifest.server_logs.items() if set(r.paths) <= set(paths)}
        assert covered == SERVER_TYPES, c["file"]
        if c["backend"] == "splunk":
            assert {r.sourcetype for r in mine} == {"kamal:audit", "kamal:proxy", "kamal:docker"}, c["file"]
        elif c["backend"] == "elasticsearch":
            assert {r.data_stream for r in mine} == {f"logs-kamal.{t}-default" for t in SERVER_TYPES}, c["file"]
        else:
            assert {r.log_type for r in mine} == SERVER_TYPES


def test_the_server_paths_are_ta_kamals_inputs(built: BuildNames) -> None:
    for log_type, paths in load_manifest().server_logs.items():
        for path in paths:
            assert built.ta_inputs[path] == (f"kamal:{log_type}", "kamal")


def _renamed(built: BuildNames, old: str, new: str) -> BuildNames:
    return dataclasses.replace(built, sourcetypes={new if s == old else s for s in built.sourcetypes},
                               ta_inputs={p: (new if st == old else st, i) for p, (st, i) in built.ta_inputs.items()})


SPLUNK_CONFIGS = {"otel-collector/config.splunk.yaml", "vector/vector.splunk.toml", "splunk-uf/inputs.conf"}
ELASTIC_CONFIGS = {"otel-collector/config.elasticsearch.yaml", "vector/vector.elasticsearch.toml", "filebeat/filebeat.yml"}


def _configs_named(problems: list[str]) -> set[str]:
    return {p.split(":", 1)[0] for p in problems}


def test_a_source_type_renamed_by_the_build_fails_every_splunk_config(built: BuildNames) -> None:
    drifted = _renamed(built, "kamal:audit", "kamal:auditlog")
    problems = check(drifted, default_dictionary())
    assert _configs_named(problems) == SPLUNK_CONFIGS | {"shipping.yml"}
    assert all("kamal:audit" in p for p in problems)
    assert {p.split(":", 1)[0] for p in stray_names(drifted)} >= {"splunk-uf/inputs.conf", "vector/vector.splunk.toml"}


def test_another_index_fails_every_splunk_config(built: BuildNames) -> None:
    problems = check(dataclasses.replace(built, index_macro="index=kamal_prod"), default_dictionary())
    assert _configs_named(problems) == SPLUNK_CONFIGS
    assert len(problems) == 3 + 3 + 4  # every route of each: UF has two audit stanzas


def test_a_renamed_data_stream_or_pipeline_fails_every_elastic_config(built: BuildNames) -> None:
    templates = dict(built.templates)
    patterns, prio, pipeline = templates.pop("logs-kamal.proxy")
    templates["logs-kamal.web"] = (["logs-kamal.web-*"], prio, pipeline)
    problems = check(dataclasses.replace(built, templates=templates), default_dictionary())
    assert _configs_named(problems) == ELASTIC_CONFIGS and all("(proxy)" in p for p in problems)
    templates = dict(built.templates)
    patterns, prio, _ = templates["logs-kamal.docker"]
    templates["logs-kamal.docker"] = (patterns, prio, "kamal-siem-docker-v2")
    problems = check(dataclasses.replace(built, templates=templates), default_dictionary())
    assert _configs_named(problems) == ELASTIC_CONFIGS and all("kamal-siem-docker-v2" in p for p in problems)


def _content_copy(tmp: Path) -> Path:
    """The package and its content in a folder of their own, for a build from a changed fields.yml."""
    copy = tmp / "repo"
    for name in ("converter", "parsers", "sigma_rules", "dashboards", "integrations"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "_content"))
    for name in ("tuning.yml", "elastic-version-lock.json", "validation.yml"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, copy / name)
    return copy


def test_a_name_changed_in_fields_yml_and_rebuilt_fails_the_configs(tmp_path: Path) -> None:
    copy = _content_copy(tmp_path)
    fields = copy / "parsers" / "fields.yml"
    text = fields.read_text(encoding="utf-8")
    text = text.replace('splunk: {sourcetype: "kamal:docker", macro: kamal_docker}',
                        'splunk: {sourcetype: "kamal:docker_events", macro: kamal_docker}')
    text = text.replace('elastic: {dataset: kamal.proxy, index: ["logs-kamal.proxy-*"]}',
                        'elastic: {dataset: kamal.web, index: ["logs-kamal.web-*"]}')
    assert text != fields.read_text(encoding="utf-8")
    fields.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    run_build(out, cwd=copy, pythonpath=copy)
    drifted: FieldDictionary = load_field_dictionary(fields)
    assert drifted.logsources["docker"].splunk_sourcetype == "kamal:docker_events"
    problems = check(build_names(out), drifted, copy / "integrations" / "shipping")
    docker = [p for p in problems if "(docker)" in p]
    proxy = [p for p in problems if "(proxy)" in p]
    assert _configs_named(docker) == SPLUNK_CONFIGS | {"shipping.yml"} or _configs_named(docker) == SPLUNK_CONFIGS
    assert _configs_named(proxy) == ELASTIC_CONFIGS
    assert any("kamal:docker_events" in p for p in docker) and any("kamal.web" in p for p in proxy)
    assert not [p for p in problems if p not in docker + proxy and "shipping.yml" not in p]


def test_a_name_changed_in_a_config_fails(built: BuildNames, tmp_path: Path) -> None:
    copy = tmp_path / "shipping"
    shutil.copytree(SHIPPING, copy)
    vector = copy / "vector" / "vector.splunk.toml"
    vector.write_text(vector.read_text().replace('sourcetype = "kamal:proxy"', 'sourcetype = "kamal:kamal-proxy"'))
    filebeat = copy / "filebeat" / "filebeat.yml"
    filebeat.write_text(filebeat.read_text().replace("index: logs-kamal.audit-default", "index: logs-kamal-audit"))
    rsyslog_conf = copy / "rsyslog" / "kamal-siem.conf"
    rsyslog_conf.write_text(rsyslog_conf.read_text().replace('set $!kamal_type = "docker";', 'set $!kamal_type = "proxy";'))
    problems = check(built, default_dictionary(), copy)
    assert sorted(_configs_named(problems)) == ["filebeat/filebeat.yml", "rsyslog/kamal-siem.conf", "vector/vector.splunk.toml"]
    # vector: not the dictionary's name, nor the build's; filebeat: not logs-kamal.audit-<ns>, and the
    # router's template (logs-kamal-*) would take it with kamal-siem-router; rsyslog: the wrong type
    assert len(problems) == 2 + 2 + 1


# ------------------------------------------------------------------------------ structure of each format
# Component and option names as documented: OpenTelemetry Collector contrib READMEs and config.go of
# filelogreceiver, splunkhecexporter, elasticsearchexporter, filestorage, resourceprocessor,
# transformprocessor (0.147 era); Vector 0.58 generated component reference; Filebeat 8/9 filestream
# and Elasticsearch output reference; Kamal 2.12 lib/kamal/configuration/docs/accessory.yml.

OTEL_OPTIONS = {
    "filelog": {"include", "exclude", "exclude_older_than", "start_at", "multiline", "force_flush_period", "encoding",
                "preserve_leading_whitespaces", "preserve_trailing_whitespaces", "include_file_name", "include_file_path",
                "include_file_name_resolved", "include_file_path_resolved", "include_file_owner_name",
                "include_file_owner_group_name", "include_file_record_number", "poll_interval", "fingerprint_size",
                "initial_buffer_size", "max_log_size", "max_concurrent_files", "max_batches", "delete_after_read",
                "acquire_fs_lock", "attributes", "resource", "operators", "storage", "header", "retry_on_failure",
                "ordering_criteria"},
    "splunk_hec": {"endpoint", "token", "source", "sourcetype", "index", "timeout", "tls", "headers", "disable_compression",
                   "max_content_length_logs", "max_event_size", "splunk_app_name", "splunk_app_version", "log_data_enabled",
                   "profiling_data_enabled", "otel_attrs_to_hec_metadata", "hec_metadata_to_otel_attrs", "otel_to_hec_fields",
                   "health_path", "health_check_enabled", "export_raw", "use_multi_metric_format", "heartbeat", "telemetry",
                   "sending_queue", "retry_on_failure", "batcher"},
    "elasticsearch": {"endpoint", "endpoints", "cloudid", "user", "password", "api_key", "auth", "logs_index",
                      "logs_dynamic_index", "logs_dynamic_id", "pipeline", "mapping", "retry", "sending_queue", "num_workers",
                      "discover", "tls", "timeout", "headers", "logstash_format", "telemetry", "batcher", "flush"},
    "file_storage": {"directory", "create_directory", "directory_permissions", "timeout", "compaction", "fsync"},
    "resource": {"attributes"},
    "transform": {"error_mode", "log_statements", "trace_statements", "metric_statements"},
    "batch": {"timeout", "send_batch_size", "send_batch_max_size"},
}
VECTOR_OPTIONS = {
    "file": {"acknowledgements", "data_dir", "encoding", "exclude", "file_key", "fingerprint", "glob_minimum_cooldown_ms",
             "host_key", "ignore_checkpoints", "ignore_not_found", "ignore_older_secs", "include", "internal_metrics",
             "line_delimiter", "max_line_bytes", "max_read_bytes", "multiline", "offset_key", "oldest_first", "read_from",
             "remove_after_secs", "rotate_wait_secs"},
    "splunk_hec_logs": {"acknowledgements", "auto_extract_timestamp", "batch", "compression", "default_token", "encoding",
                        "endpoint", "endpoint_target", "host_key", "index", "indexed_fields", "request", "source",
                        "sourcetype", "timestamp_key", "tls"},
    "elasticsearch": {"acknowledgements", "api_version", "auth", "aws", "batch", "bulk", "compression", "data_stream",
                      "distribution", "doc_type", "encoding", "endpoint", "endpoints", "id_key", "metrics", "mode",
                      "opensearch_service_type", "pipeline", "query", "request", "request_retry_partial", "suppress_type_name",
                      "tls"},
    "remap": {"source", "file", "drop_on_error", "drop_on_abort", "reroute_dropped", "timezone", "metric_tag_values"},
}
FILESTREAM_OPTIONS = {"type", "id", "enabled", "paths", "index", "pipeline", "prospector.scanner.symlinks", "fields",
                      "fields_under_root", "tags", "processors", "parsers", "encoding", "exclude_lines", "include_lines",
                      "ignore_older", "file_identity", "close", "clean_removed", "clean_inactive", "message_max_bytes"}
KAMAL_ACCESSORY_KEYS = {"service", "image", "registry", "host", "hosts", "role", "roles", "tag", "tags", "cmd", "port",
                        "labels", "options", "env", "files", "directories", "volumes", "network", "proxy"}
ENV_REF = re.compile(r"\$\{(?:env:)?([A-Z][A-Z0-9_]*)\}|\$([A-Z][A-Z0-9_]*)\b")
SECRET_NAME = re.compile(r"TOKEN|API_KEY|PASSWORD|SECRET")


def _otel(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SHIPPING / "otel-collector" / name).read_text())
    return data


@pytest.mark.parametrize("name", ["config.splunk.yaml", "config.elasticsearch.yaml"])
def test_otel_collector_config_structure(name: str) -> None:
    config = _otel(name)
    defined = {section: set(config.get(section, {})) for section in ("receivers", "processors", "exporters", "extensions")}
    for section, ids in defined.items():
        for component in ids:
            kind = component.split("/")[0]
            assert kind in OTEL_OPTIONS, f"{section}: {component} is not a component we checked"
            unknown = set(config[section][component] or {}) - OTEL_OPTIONS[kind]
            assert not unknown, f"{component}: undocumented options {unknown}"
    assert set(config["service"]["extensions"]) == defined["extensions"]
    for pipeline_id, pipeline in config["service"]["pipelines"].items():
        assert pipeline_id.split("/")[0] == "logs"
        for section in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(section, [])) <= defined[section], pipeline_id
    for receiver in config["receivers"].values():
        assert receiver["include_file_path"] is True and receiver["start_at"] == "beginning"
        assert receiver["storage"] in defined["extensions"]
    assert config["processors"]["resource/kamal_host"]["attributes"] == [
        {"key": "host.name", "value": "${env:KAMAL_HOST}", "action": "upsert"}]
    for exporter_id, exporter in config["exporters"].items():
        if exporter_id.startswith("splunk_hec"):
            assert exporter["otel_attrs_to_hec_metadata"]["source"] == "log.file.path"
            assert exporter["token"] == "${env:KAMAL_SIEM_HEC_TOKEN}"
        else:
            assert exporter["api_key"] == "${env:KAMAL_SIEM_ES_API_KEY}"
            # ECS documents (message, log.file.path): chosen by the scope attribute since 0.147
            using = [p for p in config["service"]["pipelines"].values() if exporter_id in p["exporters"]]
            assert using and all("transform/ecs_mapping" in p["processors"] for p in using)
            statements = config["processors"]["transform/ecs_mapping"]["log_statements"]
            assert statements == [{"context": "scope", "statements": ['set(scope.attributes["elastic.mapping.mode"], "ecs")']}]


@pytest.mark.parametrize("name", ["vector.splunk.toml", "vector.elasticsearch.toml"])
def test_vector_config_structure(name: str) -> None:
    config = tomllib.loads((SHIPPING / "vector" / name).read_text())
    ids = {i for section in ("sources", "transforms") for i in config.get(section, {})}
    for section in ("sources", "transforms", "sinks"):
        for component_id, component in config[section].items():
            kind = component["type"]
            assert kind in VECTOR_OPTIONS, f"{component_id}: {kind} is not a component type we checked"
            unknown = set(component) - VECTOR_OPTIONS[kind] - {"type", "inputs"}
            assert not unknown, f"{component_id}: undocumented options {unknown}"
            assert set(component.get("inputs", [])) <= ids, component_id
    for sink in config["sinks"].values():
        if sink["type"] == "splunk_hec_logs":  # the raw endpoint: TA-kamal's index-time settings apply
            assert sink["endpoint_target"] == "raw" and sink["encoding"] == {"codec": "text"}
            assert sink["source"] == "{{ file }}" and sink["default_token"] == "${KAMAL_SIEM_HEC_TOKEN}"
        else:
            assert sink["mode"] == "data_stream" and sink["request"]["headers"]["Authorization"] == "ApiKey ${KAMAL_SIEM_ES_API_KEY}"
    for transform in config.get("transforms", {}).values():
        assert 'get_env_var("KAMAL_HOST")' in transform["source"]
        if name.startswith("vector.elasticsearch"):
            assert ".log.file.path = del(.file)" in transform["source"] and ".host.name = host_name" in transform["source"]


def test_filebeat_config_structure() -> None:
    config = yaml.safe_load((SHIPPING / "filebeat" / "filebeat.yml").read_text())
    assert set(config) == {"filebeat.inputs", "processors", "output.elasticsearch", "setup.template.enabled", "setup.ilm.enabled"}
    ids = [i["id"] for i in config["filebeat.inputs"]]
    assert len(set(ids)) == len(ids)
    for item in config["filebeat.inputs"]:
        assert item["type"] == "filestream" and not set(item) - FILESTREAM_OPTIONS
    proxy = next(i for i in config["filebeat.inputs"] if "/var/log/kamal/kamal-proxy-json.log" in i["paths"])
    assert proxy["prospector.scanner.symlinks"] is True  # the sidecar's link
    assert config["output.elasticsearch"] == {"hosts": ["${KAMAL_SIEM_ES_URL}"], "api_key": "${KAMAL_SIEM_ES_API_KEY}"}
    assert config["setup.template.enabled"] is False and config["setup.ilm.enabled"] is False


def test_splunk_uf_conf_files() -> None:
    inputs = parse_conf((SHIPPING / "splunk-uf" / "inputs.conf").read_text())
    assert inputs and all(s.startswith("monitor://") and set(v) == {"sourcetype", "index"} for s, v in inputs.items())
    outputs = parse_conf((SHIPPING / "splunk-uf" / "outputs.conf").read_text())
    group = outputs["tcpout"]["defaultGroup"]
    assert outputs[f"tcpout:{group}"]["useSSL"] == "true" and outputs[f"tcpout:{group}"]["sslVerifyServerCert"] == "true"
    assert outputs[f"tcpout:{group}"]["useACK"] == "true"
    server = parse_conf((SHIPPING / "splunk-uf" / "server.conf").read_text())
    deploy = _deploy("splunk-uf")["kamal-siem-uf"]
    assert any(f.endswith(":" + server["sslConfig"]["sslRootCAPath"] + ":ro") for f in deploy["files"])


# ------------------------------------------------------------------------------ the Kamal accessories

def _deploy(shipper: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SHIPPING / shipper / "deploy.yml").read_text())["accessories"]
    return data


SHIPPERS = ["otel-collector", "vector", "splunk-uf", "filebeat", "rsyslog"]


@pytest.mark.parametrize("shipper", SHIPPERS)
def test_accessory_snippet(shipper: str) -> None:
    manifest = load_manifest()
    accessories = _deploy(shipper)
    sidecar = _deploy("docker-events")[manifest.sidecar["accessory"]]
    assert accessories.pop(manifest.sidecar["accessory"]) == sidecar  # the same sidecar everywhere
    ((name, accessory),) = accessories.items()
    assert name.startswith("kamal-siem-") and not set(accessory) - KAMAL_ACCESSORY_KEYS
    assert accessory["roles"] and re.match(r"^[a-z0-9./-]+(:[0-9][\w.-]*)$", accessory["image"]), accessory["image"]
    # every file a config reads is under a read-only mount of the same host path
    mounts = {v.split(":")[1]: v for v in accessory["volumes"]}
    assert all(v.endswith(":ro") for v in mounts.values())
    for r in routes():
        if r.config.startswith(shipper + "/"):
            for path in r.paths:
                if path.startswith("/root/"):
                    continue  # the default SSH user root: the snippets mount /home/deploy and say so
                directory = path.replace("/home/*/", "/home/deploy/").rsplit("/", 1)[0]
                assert any(directory == m or directory.startswith(m + "/") for m in mounts), (path, mounts)
    assert "/var/lib/docker/containers" in mounts  # the link's target, at the same path
    # configs come in with `files:`, read-only; every env the configs use is provided, tokens as secrets
    configs = [c["file"] for c in manifest.shippers[shipper]["configs"]]
    assert all(f.endswith(":ro") for f in accessory["files"])
    used: set[str] = set()
    for config in configs:
        settings = "\n".join(line for line in (SHIPPING / config).read_text().splitlines() if not line.lstrip().startswith("#"))
        for m in ENV_REF.finditer(settings):
            used.add(m.group(1) or m.group(2))
    env = accessory.get("env", {})
    clear, secret = set(env.get("clear", {})), set(env.get("secret", []))
    provided_somewhere = clear | secret | {"KAMAL_HOST"} | _commented_env(shipper)
    assert used <= provided_somewhere, used - provided_somewhere
    assert all(SECRET_NAME.search(n) for n in secret)
    assert not [n for n in clear if SECRET_NAME.search(n) and n != "SPLUNK_START_ARGS"]
    assert {n for n in used if SECRET_NAME.search(n)} <= secret | _commented_env(shipper)


def _commented_env(shipper: str) -> set[str]:
    """Env names offered commented out (the other backend's), e.g. `# - KAMAL_SIEM_ES_API_KEY`."""
    text = (SHIPPING / shipper / "deploy.yml").read_text()
    return set(re.findall(r"#\s*-?\s*(KAMAL_SIEM_[A-Z_]+)", text))


def test_no_secret_value_is_written_in_the_folder() -> None:
    inline = re.compile(r"(?i)(token|api_key|password|passwd)\s*[:=]\s*['\"]?(?!\$\{)[A-Za-z0-9+/_-]{8,}")
    for path in sorted(p for p in SHIPPING.rglob("*") if p.is_file()):
        for line in path.read_text().splitlines():
            if not line.lstrip().startswith("#"):
                assert not inline.search(line), f"{path}: {line}"


# ------------------------------------------------------------------------------ rsyslog for real

def _rsyslogd() -> str:
    binary = shutil.which("rsyslogd") or shutil.which("rsyslogd", path="/usr/sbin:/sbin")
    require(binary is not None, "`rsyslogd` is not installed (Debian package rsyslog)")
    assert binary is not None
    return binary


RSYSLOG_ENV = {"KAMAL_HOST": "web-1", "KAMAL_SIEM_SYSLOG_TARGET": "localhost", "KAMAL_SIEM_SYSLOG_PORT": "6514"}


def test_the_shipped_rsyslog_config_passes_rsyslogd_n1() -> None:
    binary = _rsyslogd()
    conf = SHIPPING / "rsyslog" / "kamal-siem.conf"
    result = subprocess.run([binary, "-N1", "-f", str(conf)], env=dict(os.environ, **RSYSLOG_ENV), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "End of config validation run" in result.stderr
    broken = conf.read_text().replace('TCP_Framing="octet-counted"', 'TCP_Framing="octet-countd"')
    assert broken != conf.read_text()
    bad = subprocess.run([binary, "-N1", "-f", "/dev/stdin"], input=broken, env=dict(os.environ, **RSYSLOG_ENV),
                         capture_output=True, text=True)
    assert bad.returncode != 0  # -N1 does catch a wrong value


@dataclasses.dataclass
class Host:
    """A host's Kamal logs laid out under a temporary root, and the sender's config pointing at them."""

    root: Path
    audit: list[Path]
    proxy_link: Path
    events: Path

    def map(self, path: str) -> str:
        return str(self.root) + path


def _host(root: Path) -> Host:
    kamal = root / "home" / "deploy" / ".kamal"
    kamal.mkdir(parents=True)
    audit = []
    for f in sorted((SAMPLES / "home" / "deploy" / ".kamal").glob("*-audit.log")):
        shutil.copy(f, kamal / f.name)
        audit.append(kamal / f.name)
    logs = root / "var" / "log" / "kamal"
    logs.mkdir(parents=True)
    shutil.copy(SAMPLES / "var" / "log" / "docker-events.jsonl", logs / "docker-events.jsonl")
    (original,) = (SAMPLES / "var" / "lib" / "docker" / "containers").glob("*/*-json.log")
    container = root / "var" / "lib" / "docker" / "containers" / original.parent.name
    container.mkdir(parents=True)
    shutil.copy(original, container / original.name)
    (logs / "kamal-proxy-json.log").symlink_to(container / original.name)
    return Host(root, audit, logs / "kamal-proxy-json.log", logs / "docker-events.jsonl")


@pytest.fixture
def sender(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(timeout=15)


def test_sample_logs_reach_a_tls_receiver_unchanged(rsyslog: Rsyslog, sender: list[subprocess.Popen[bytes]],  # noqa: F811
                                                    tmp_path: Path) -> None:
    binary = _rsyslogd()
    rsyslog.start()
    host = _host(tmp_path / "host")
    spool = tmp_path / "spool"
    spool.mkdir()
    text = (SHIPPING / "rsyslog" / "kamal-siem.conf").read_text()
    for path in ("/home/*/.kamal/", "/root/.kamal/", "/var/log/kamal/"):
        assert path in text
        text = text.replace(f'"{path}', f'"{host.map(path)}')
    text = text.replace("/var/spool/rsyslog", str(spool)).replace("/etc/kamal-siem/syslog-ca.pem", str(rsyslog.cert))
    conf = tmp_path / "sender.conf"
    conf.write_text(text)
    env = dict(os.environ, **{**RSYSLOG_ENV, "KAMAL_SIEM_SYSLOG_PORT": str(rsyslog.port)})
    assert subprocess.run([binary, "-N1", "-f", str(conf)], env=env, capture_output=True).returncode == 0
    sender.append(subprocess.Popen([binary, "-n", "-f", str(conf), "-i", str(tmp_path / "sender.pid")], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    expected: dict[tuple[str, str], list[str]] = {}
    for f in host.audit:
        expected[("audit", str(f))] = f.read_text().splitlines()
    expected[("proxy", str(host.proxy_link))] = host.proxy_link.read_text().splitlines()
    expected[("docker", str(host.events))] = host.events.read_text().splitlines()
    total = sum(len(v) for v in expected.values())
    received = _by_file(rsyslog.lines(total, timeout=20))
    assert received == expected

    # a line appended later, long (20k) and non-ASCII; then kamal-proxy rebooted: the link moves
    long_line = "[2026-10-06T10:00:00Z] [dörte@shop.example] [production] Executed cmd 'echo " + "x" * 20000 + "' on web-1"
    with host.audit[0].open("a", encoding="utf-8") as out:
        out.write(long_line + "\n")
    expected[("audit", str(host.audit[0]))].append(long_line)
    new_log = host.root / "var" / "lib" / "docker" / "containers" / "f00d" / "f00d-json.log"
    new_log.parent.mkdir()
    proxy_line = '{"log":"{\\"time\\":\\"2026-10-06T10:00:01Z\\",\\"level\\":\\"INFO\\",\\"msg\\":\\"Server started\\"}\\n","stream":"stdout","time":"2026-10-06T10:00:01.5Z"}'
    new_log.write_text(proxy_line + "\n")
    tmp_link = host.proxy_link.with_name("link.new")
    tmp_link.symlink_to(new_log)
    tmp_link.replace(host.proxy_link)  # as the sidecar does: an atomic rename
    expected[("proxy", str(host.proxy_link))].append(proxy_line)
    received = _by_file(rsyslog.lines(total + 2, timeout=20))
    assert received == expected


def _by_file(lines: list[str]) -> dict[tuple[str, str], list[str]]:
    """The receiver's lines (pri|version|time|host|app|procid|msgid|sd|msg) grouped by type and file,
    after checking each header."""
    grouped: dict[tuple[str, str], list[str]] = {}
    sd = re.compile(r'^\[kamal@32473 type="(audit|proxy|docker)" file="([^"]+)"\]$')
    for line in lines:
        pri, version, _time, hostname, app, procid, msgid, structured, msg = line.split("|", 8)
        assert (pri, version, hostname, app, procid) == ("174", "1", "web-1", "kamal-siem", "-"), line[:200]
        m = sd.match(structured)
        assert m and m.group(1) == msgid, structured
        grouped.setdefault((msgid, m.group(2)), []).append(msg)
    return grouped


# ------------------------------------------------------------------------------ the Docker events sidecar

FAKE_DOCKER = """#!/bin/sh
# Stand-in for the Docker CLI: `events` prints $FAKE_EVENTS (and the --since it got), `inspect` the proxy's log path.
printf '%s\\n' "$*" >> "$FAKE_DIR/calls"
case $1 in
  inspect) cat "$FAKE_DIR/logpath"; [ -f "$FAKE_DIR/logpath.next" ] && mv "$FAKE_DIR/logpath.next" "$FAKE_DIR/logpath" ;;
  events) cat "$FAKE_DIR/events"; while [ -f "$FAKE_DIR/hold" ]; do sleep 0.1; done ;;
esac
exit 0
"""


def _start_sidecar(tmp: Path, **env: str) -> subprocess.Popen[bytes]:
    sh = shutil.which("sh")
    require(sh is not None, "no POSIX sh")
    assert sh is not None
    script = SHIPPING / "docker-events" / "kamal-siem-events.sh"
    environment = dict(os.environ, PATH=f"{tmp / 'bin'}:{os.environ['PATH']}", FAKE_DIR=str(tmp),
                       KAMAL_SIEM_LOG_DIR=str(tmp / "log"), **env)
    return subprocess.Popen([sh, str(script)], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_sidecar_appends_events_unchanged_rotates_and_relinks_the_proxy_log(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    docker = tmp_path / "bin" / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    sample = (SAMPLES / "var" / "log" / "docker-events.jsonl").read_text().splitlines()
    proxy_start = json.dumps({"Type": "container", "Action": "start", "Actor": {"ID": "f00d", "Attributes": {
        "image": "basecamp/kamal-proxy:v0.9.2", "name": "kamal-proxy"}}, "scope": "local", "time": 1791270999,
        "timeNano": 1791270999000000001}, separators=(",", ":"))
    events = sample + [proxy_start]
    (tmp_path / "events").write_text("\n".join(events) + "\n")
    (tmp_path / "logpath").write_text("/var/lib/docker/containers/abc/abc-json.log\n")
    (tmp_path / "logpath.next").write_text("/var/lib/docker/containers/f00d/f00d-json.log\n")  # after the first look
    (tmp_path / "hold").touch()
    log = tmp_path / "log"
    process = _start_sidecar(tmp_path, KAMAL_SIEM_EVENTS_MAX_BYTES="1500", KAMAL_SIEM_EVENTS_KEEP="2")
    try:
        link = log / "kamal-proxy-json.log"
        _wait_for(lambda: link.is_symlink())

        def written() -> list[str]:
            files = [log / "docker-events.jsonl.2", log / "docker-events.jsonl.1", log / "docker-events.jsonl"]
            return [line for f in files if f.exists() for line in f.read_text().splitlines()]
        _wait_for(lambda: len(written()) == len(events))
        assert written() == events  # every line, unchanged, in order, across rotations
        assert (log / "docker-events.jsonl.1").stat().st_size >= 1500
        assert not (log / "docker-events.jsonl.3").exists()
        _wait_for(lambda: os.readlink(link) == "/var/lib/docker/containers/f00d/f00d-json.log")  # relinked on start
        assert (tmp_path / "calls").read_text().count("inspect --format {{.LogPath}} kamal-proxy") == 2  # start, proxy start
        # a restart (the daemon's stream ended): asks for events since the last one, writes none twice
        (tmp_path / "hold").unlink()
        more = json.dumps({"Type": "container", "Action": "die", "Actor": {"ID": "f00d", "Attributes": {"name": "kamal-proxy"}},
                           "time": 1791271000, "timeNano": 1791271000000000002}, separators=(",", ":"))
        (tmp_path / "events").write_text("\n".join(events + [more]) + "\n")
        _wait_for(lambda: "--since 1791270999.000000001" in (tmp_path / "calls").read_text())
        _wait_for(lambda: len(written()) >= len(events) + 1)
        time.sleep(0.5)
        assert written()[-1] == more and written().count(more) == 1
        assert len(set(written())) == len(written())  # nothing written twice (the kept files hold no repeat)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _out, err = process.communicate(timeout=10)
    linked = re.findall(r"-> (\S+)", err.decode())
    assert linked == ["/var/lib/docker/containers/abc/abc-json.log", "/var/lib/docker/containers/f00d/f00d-json.log"]
