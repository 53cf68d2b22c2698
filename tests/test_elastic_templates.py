"""The Elasticsearch side of the Elastic bundle: every body type-checks against the Elasticsearch
client's API types (@elastic/elasticsearch 9.5, generated from Elastic's API specification) with
TypeScript, the templates map what the pipelines write and what the detection rules query with the
field dictionary's types, install.sh PUTs everything in dependency order, and builds are
byte-identical. Elasticsearch itself is not run (it cannot be installed here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from converter.fields import default_dictionary
from converter.pipelines import pipeline_data
from converter.targets.elastic_assets import FOLDERS, elastic_assets
from converter.targets.elastic_ingest import ROUTER
from converter.targets.elastic_templates import (BASE_MAPPINGS, PIPELINE_FIELDS, POLICY, SETTINGS, TYPES, Retention, ilm_policy,
                                                 mappings_name)
from converter.tuning import load_tuning

from .conftest import ROOT
from .tools import node_modules

DICTIONARY = default_dictionary()
REQUESTS = {"ingest-pipelines": ("IngestPutPipelineRequest", "id"), "component-templates": ("ClusterPutComponentTemplateRequest", "name"),
            "index-templates": ("IndicesPutIndexTemplateRequest", "name"), "ilm": ("IlmPutLifecycleRequest", "name")}
# what a compliance profile may look like (the retention profiles are someone else's next step)
PROFILES = [Retention(name="kamal-siem-pci-dss", warm_after="30d", cold_after="90d", delete_after="365d", description="PCI DSS: 1 year"),
            Retention(name="kamal-siem-sox", rollover_max_age="7d", cold_after="30d", delete_after="2555d", description="SOX: 7 years")]


@pytest.fixture(scope="module")
def assets() -> dict[str, bytes]:
    return elastic_assets(DICTIONARY)


def bodies(assets: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    return {name: json.loads(data) for name, data in assets.items() if name.endswith(".json")}


# -- TypeScript against the client's types ------------------------------------------------------------
HEADER = """import type * as T from '@elastic/elasticsearch/lib/api/types';
// a request's body: the request type without its path and query parameters (Omit keeps excess property checks)
type Body<R, K extends keyof R> = Omit<R, K | 'body' | 'querystring' | 'error_trace' | 'filter_path' | 'human' | 'pretty' | 'master_timeout' | 'timeout'>;
// index settings without the index signature of IndicesIndexSettings, so that a misspelled setting is an error
type StrictIndexSettings = { [K in keyof T.IndicesIndexSettingsKeys]?: T.IndicesIndexSettingsKeys[K] };
"""


def typescript(documents: dict[str, dict[str, Any]]) -> str:
    out = [HEADER]
    for i, (path, body) in enumerate(sorted(documents.items())):
        request, key = REQUESTS[path.split("/")[0]]
        out.append(f"// {path}\nexport const body{i}: Body<T.{request}, '{key}'> = {json.dumps(body, indent=1, ensure_ascii=False)};")
        settings = (body.get("template") or {}).get("settings", {}).get("index")
        if settings is not None:
            out.append(f"export const settings{i}: StrictIndexSettings = {json.dumps(settings, indent=1)};")
    return "\n".join(out) + "\n"


def tsc(directory: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    modules = node_modules()
    node = shutil.which("node")
    assert node, "node is missing: install Node.js (.ci/run does)"
    (directory / "node_modules").symlink_to(modules, target_is_directory=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return subprocess.run([node, str(modules / "typescript" / "bin" / "tsc"), "--noEmit", "--strict", "--skipLibCheck",
                           "--target", "es2020", "--module", "commonjs", "--moduleResolution", "node", *files],
                          cwd=directory, capture_output=True, text=True, timeout=600)


def documents_with_profiles(assets: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    documents = bodies(assets)
    documents.update({f"ilm/{p.name}.json": ilm_policy(p) for p in PROFILES})
    return documents


def faults(documents: dict[str, dict[str, Any]]) -> dict[str, tuple[str, int]]:
    """file -> (TypeScript with one planted mistake, the line tsc must report)."""
    valid = typescript(documents)
    mistakes = {
        "processor.ts": ('"grok": {', '"grokk": {', "grokk"),                           # no such processor
        "option.ts": ('"ignore_missing": true', '"ignore_mising": true', "ignore_mising"),  # misspelled option
        "kind.ts": ('"trace_match": true', '"trace_match": "true"', "trace_match"),     # a string for a boolean
        "mapping.ts": ('"ignore_above": 8191', '"ignore_abov": 8191', "ignore_abov"),   # misspelled mapping parameter
        "setting.ts": ('"default_pipeline": "kamal-siem-audit"\n}', '"default_pipelin": "kamal-siem-audit"\n}', "default_pipelin"),
        "ilm.ts": ('"max_primary_shard_size"', '"max_primary_shard_sizes"', "max_primary_shard_sizes"),
        "type.ts": ('"type": "date_nanos"', '"type": "date_nano"', "date_nano"),        # no such field type
    }
    out = {}
    for name, (old, new, _key) in mistakes.items():
        assert old in valid, old
        out[name] = (valid.replace(old, new, 1), valid[:valid.index(old)].count("\n") + 1)
    return out


def test_every_body_type_checks_against_the_elasticsearch_client_types(assets: dict[str, bytes], tmp_path: Path) -> None:
    documents = documents_with_profiles(assets)
    assert {p.split("/")[0] for p in documents} == set(REQUESTS) and len(documents) >= 20
    bad = faults(documents)
    result = tsc(tmp_path, {"bundle.ts": typescript(documents), **{name: text for name, (text, _r) in bad.items()}})
    errors: dict[str, list[tuple[int, str]]] = {}
    for line in (result.stdout + result.stderr).splitlines():
        m = re.match(r"^([\w.]+)\((\d+),\d+\): error (.*)", line)
        if m:
            errors.setdefault(m.group(1), []).append((int(m.group(2)), m.group(3)))
    assert "bundle.ts" not in errors, "\n".join(map(str, errors["bundle.ts"][:20]))
    for name, (_text, where) in bad.items():  # tsc catches each planted mistake, on its line
        assert [n for n, _e in errors.get(name, [])] == [where], f"{name}: line {where}: {errors.get(name)}"


# -- templates ------------------------------------------------------------------------------------------
def composed(assets: dict[str, bytes], index_template: str) -> dict[str, dict[str, Any]]:
    """Dotted field name -> mapping, from our component templates an index template composes."""
    found = bodies(assets)
    template = found[f"index-templates/{index_template}.json"]
    flat: dict[str, dict[str, Any]] = {}

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for name, mapping in properties.items():
            if "properties" in mapping:
                walk(mapping["properties"], f"{prefix}{name}.")
            else:
                flat[f"{prefix}{name}"] = mapping

    for component in template["composed_of"]:
        body = found.get(f"component-templates/{component}.json")
        if body is not None:
            walk(body["template"].get("mappings", {}).get("properties", {}), "")
    return flat


def test_the_templates_map_each_log_type_with_the_dictionary_types(assets: dict[str, bytes]) -> None:
    for log_type, source in DICTIONARY.logsources.items():
        assert f"logs-{source.elastic_dataset}-*" in source.elastic_index  # the rules search our data stream
        mappings = composed(assets, f"logs-{source.elastic_dataset}")
        for field in DICTIONARY.fields_of(log_type):
            if field.name == "source":
                continue
            assert mappings[field.ecs] == TYPES[field.type], (log_type, field.name)
        assert mappings["@timestamp"]["type"] == "date_nanos" and mappings["event.original"]["index"] is False
        own = {f.ecs for f in DICTIONARY.fields_of(log_type) if f.name != "source"}
        assert set(mappings) == own | set(PIPELINE_FIELDS), log_type  # nothing of the other log types


def test_index_templates_route_to_existing_pipelines_and_components(assets: dict[str, bytes]) -> None:
    found = bodies(assets)
    index = {p: b for p, b in found.items() if p.startswith("index-templates/")}
    assert len(index) == len(DICTIONARY.log_types) + 1
    for path, body in index.items():
        assert body["data_stream"] == {} and body["priority"] > 100  # above Elastic's `logs` template
        pipeline = body["template"]["settings"]["index"]["default_pipeline"]
        assert f"ingest-pipelines/{pipeline}.json" in found, path
        ours = [c for c in body["composed_of"] if c.startswith("kamal-siem")]
        assert ours and all(f"component-templates/{c}.json" in found for c in ours)
        assert set(body["composed_of"]) - set(ours) - set(body["ignore_missing_component_templates"]) == \
            {"logs@mappings", "logs@settings", "ecs@mappings"}  # Elastic's built-in ones
        assert body["composed_of"].index(SETTINGS) > body["composed_of"].index("logs@settings")  # ours win
    assert index["index-templates/logs-kamal.json"]["template"]["settings"]["index"]["default_pipeline"] == ROUTER
    assert found[f"component-templates/{SETTINGS}.json"]["template"]["settings"]["index"]["lifecycle"]["name"] == POLICY
    assert f"ilm/{POLICY}.json" in found and f"component-templates/{BASE_MAPPINGS}.json" in found
    assert all(f"component-templates/{mappings_name(t)}.json" in found for t in DICTIONARY.log_types)


def test_every_field_the_detection_rules_query_is_mapped(assets: dict[str, bytes]) -> None:
    """The ECS names of the Elastic pySigma pipeline (what rule queries name) and the log sources'
    conditions, in the data stream of their log type, with the dictionary's type."""
    data = pipeline_data("elastic", DICTIONARY, load_tuning())
    checked = 0
    for item in data["transformations"]:
        if item["type"] not in ("field_name_mapping", "add_condition") or "rule_conditions" not in item:
            continue
        sigma = {k: v for k, v in item["rule_conditions"][0].items() if k != "type"}
        [log_type] = [t for t, s in DICTIONARY.logsources.items() if s.sigma == sigma]
        mappings = composed(assets, f"logs-{DICTIONARY.logsources[log_type].elastic_dataset}")
        names = item["mapping"].items() if item["type"] == "field_name_mapping" else ((None, f) for f in item["conditions"])
        for name, ecs in names:
            assert ecs in mappings, (log_type, ecs)
            if name is not None:
                assert mappings[ecs] == TYPES[DICTIONARY[name].type], (log_type, name)
            checked += 1
    assert checked > 60


def test_the_ilm_policy_comes_from_a_retention_profile() -> None:
    default = ilm_policy()["policy"]["phases"]
    assert list(default) == ["hot", "delete"] and default["hot"]["actions"]["rollover"]["max_age"] == "30d"
    assert default["delete"] == {"min_age": "90d", "actions": {"delete": {}}}
    pci = ilm_policy(PROFILES[0])["policy"]
    assert list(pci["phases"]) == ["hot", "warm", "cold", "delete"] and pci["phases"]["delete"]["min_age"] == "365d"
    assert pci["_meta"]["description"] == "PCI DSS: 1 year"


# -- install.sh and the bundle ---------------------------------------------------------------------------
def test_install_script_puts_everything_in_dependency_order(assets: dict[str, bytes], tmp_path: Path) -> None:
    script = assets["install.sh"].decode()
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    puts = re.findall(r"^put (\S+) (\S+)$", script, re.M)
    assert sorted(file for _api, file in puts) == sorted(p for p in assets if p.endswith(".json"))
    order = [folder for folder, _api in FOLDERS]
    assert [order.index(file.split("/")[0]) for _api, file in puts] == sorted(order.index(f.split("/")[0]) for _a, f in puts)
    assert order == ["ilm", "component-templates", "ingest-pipelines", "index-templates"]
    assert all(api.split("/")[-1] == Path(file).stem for api, file in puts)
    assert not re.search(r"(?i)(password|apikey)\s*[:=]\s*\S", script)  # credentials only from the environment
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "curl").write_text("#!/usr/bin/env bash\necho \"$@\" >> \"$CURL_LOG\"\n")
    (fake / "curl").chmod(0o755)
    bundle = tmp_path / "bundle"
    for name, data in assets.items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_bytes(data)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "ES_URL": "https://es.example:9200/", "ES_API_KEY": "k",
           "CURL_LOG": str(tmp_path / "curl.log")}
    subprocess.run(["bash", str(bundle / "install.sh")], env=env, check=True, capture_output=True)
    calls = (tmp_path / "curl.log").read_text().splitlines()
    assert len(calls) == len(puts) and "https://es.example:9200/_ilm/policy/kamal-siem" in calls[0]
    assert "Authorization: ApiKey k" in calls[0] and f"@{puts[-1][1]}" in calls[-1]
    without = subprocess.run(["bash", str(bundle / "install.sh")], env={"PATH": env["PATH"]}, capture_output=True, text=True)
    assert without.returncode != 0 and "ES_URL" in without.stderr


def test_two_processes_build_byte_identical_assets(tmp_path: Path) -> None:
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        run = subprocess.run([sys.executable, "-m", "converter.cli", "build", "--target", "elastic", "-o", str(out)], cwd=ROOT,
                             env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        outputs.append({p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert outputs[0] == outputs[1]
    assert {"elastic/install.sh", "elastic/ingest-pipelines/kamal-siem-audit.json", "elastic/ilm/kamal-siem.json",
            "elastic/index-templates/logs-kamal.audit.json", "kamal-siem-elastic.zip"} <= set(outputs[0])


def test_every_field_a_processor_writes_is_mapped(assets: dict[str, bytes]) -> None:
    """Statically: each processor's target outside the scratch object `_tmp` is in the mappings of
    the data streams the pipeline serves (the router's, for the router)."""
    found = bodies(assets)
    checked = set()
    for path, body in found.items():
        if not path.startswith("ingest-pipelines/"):
            continue
        name = Path(path).stem
        log_type = name.removeprefix("kamal-siem-")
        mappings = composed(assets, "logs-kamal" if name == ROUTER else f"logs-{DICTIONARY.logsources[log_type].elastic_dataset}")
        stack = list(body["processors"]) + list(body["on_failure"])
        while stack:
            [(kind, options)] = stack.pop().items()
            stack += options.get("on_failure", []) + ([options["processor"]] if "processor" in options else [])
            targets = [options.get("target_field") or options.get("field")] if kind in (
                "set", "append", "rename", "convert", "join", "date", "json", "gsub") else []
            if kind == "script":
                targets = [re.match(r"ctx\.([\w.]+) =", options["source"]).group(1)]  # type: ignore[union-attr]
            if kind == "grok":
                targets = re.findall(r"\(\?<([^>=!]+)>", "".join(options["patterns"]) + "".join(options.get("pattern_definitions", {}).values()))
            for target in targets:
                if isinstance(target, str) and not target.startswith(("_tmp", "_ingest")) and target != "message":
                    assert target in mappings, (name, kind, target)
                    checked.add(target)
    assert len(checked) > 80
