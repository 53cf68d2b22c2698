"""Retention profiles (integrations/retention/retention.yml) compiled by `kamal-siem build --retention`:
the Splunk index app `kamal_indexes` and the Elastic ILM (and SLM) policies hold each profile's
numbers, computed here again from the YAML; bad profile files are reported with file, line and
reason; builds are byte-identical; the index app passes AppInspect and the policies type-check
against the Elasticsearch client's API types.

Splunk Cloud: AppInspect 4.3 applies its Splunk Cloud rules for indexes.conf in every precert run
(the checks are tagged both `splunk_appinspect` and `cloud`): an index stanza may hold only
homePath/coldPath/thawedPath as `$SPLUNK_DB/<index>/...`, frozenTimePeriodInSecs, repFactor = auto,
datatype and disabled, and no volume. So the package's default/indexes.conf is exactly that, and
it passes with and without `--included-tags cloud`; the Splunk Enterprise tiering (volumes,
maxHotSpanSecs, maxWarmDBCount, maxTotalDataSizeMB, coldToFrozenDir) ships as
README/indexes.conf.example for local/, which Splunk does not read and AppInspect does not parse.
Splunk Cloud Platform itself manages indexes through ACS: README.txt gives the ACS and Terraform
values, and docs/retention.md says to use them there.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from converter.cli import main
from converter.errors import ContentError, ContentErrors, KamalSiemError
from converter.fields import default_dictionary
from converter.retention import RetentionProfile, builtin_profiles_path, load_profile_file, load_profiles, select_profile
from converter.targets.elastic_assets import elastic_assets
from converter.targets.elastic_retention import SLM_POLICY, ilm_policy_for, slm_policies
from converter.targets.splunk import write_app
from converter.targets.splunk_indexes import INDEXES_APP, acs_values, indexes_app_files

from .conftest import ROOT
from .test_appinspect import EXIT, MODES, _run, findings
from .test_build_splunk import stanzas
from .test_elastic_templates import HEADER, tsc, typescript
from .tools import appinspect

BUILTIN = ROOT / "integrations" / "retention" / "retention.yml"
EXAMPLES = ROOT / "integrations" / "retention" / "retention.example.yml"
DAY = 86400


# -- the numbers, computed here from the YAML alone ---------------------------------------------------------
def _yaml_profiles(path: Path) -> dict[str, dict[str, Any]]:
    profiles: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text())["profiles"]
    return profiles


def days(value: str) -> int:
    assert re.fullmatch(r"\d+d", value), value
    return int(value[:-1])


def expected(entry: dict[str, Any]) -> dict[str, int]:
    """hot_warm, cold, frozen, total and archive days of a profile entry."""
    hot_warm, total, frozen = days(entry["hot_warm"]), days(entry["total"]), days(entry.get("frozen", "0d"))
    cold = days(entry["cold"]) if "cold" in entry else total - hot_warm - frozen
    return {"hot_warm": hot_warm, "cold": cold, "frozen": frozen, "total": total,
            "archive": days(entry["archive"]["keep"]) if "archive" in entry else 0}


def every_profile() -> dict[str, tuple[dict[str, Any], RetentionProfile]]:
    """Every profile, built-in and the examples: its YAML entry and as loaded."""
    profiles = load_profiles(EXAMPLES)
    entries = {**_yaml_profiles(BUILTIN), **_yaml_profiles(EXAMPLES)}
    assert set(entries) == set(profiles)
    return {name: (entries[name], profiles[name]) for name in sorted(profiles)}


def longest_span(months: int) -> int:
    """The most days `months` consecutive calendar months can hold (over a whole 400-year cycle)."""
    best = 0
    for year in range(2000, 2400):
        for month in range(1, 13):
            end_year, end_month = divmod(month - 1 + months, 12)
            start, end = dt.date(year, month, 1), dt.date(year + end_year, end_month + 1, 1)
            best = max(best, (end - start).days)
    return best


def test_the_built_in_profiles_keep_what_their_rules_say() -> None:
    entries = _yaml_profiles(BUILTIN)
    assert list(entries) == ["default", "pci-dss", "hipaa", "sox"]
    numbers = {name: expected(entry) for name, entry in entries.items()}
    assert numbers["default"] == {"hot_warm": 90, "cold": 0, "frozen": 0, "total": 90, "archive": 0}  # earlier builds' 90 days
    assert longest_span(3) == 92 and longest_span(12) == 366 and calendar.leapdays(2027, 2033) == 2
    assert numbers["pci-dss"]["hot_warm"] >= longest_span(3) and numbers["pci-dss"]["total"] >= longest_span(12)  # 10.5.1
    assert numbers["hipaa"]["total"] >= longest_span(6 * 12) and numbers["sox"]["total"] >= longest_span(7 * 12)
    for number in numbers.values():
        assert number["hot_warm"] + number["cold"] + number["frozen"] == number["total"]
        assert number["frozen"] == 0 and number["archive"] == 0  # built-ins need no license or repository, keep no copy
    hipaa = " ".join(entries["hipaa"]["description"].split())
    assert "is about documentation" in hipaa and "164.316(b)(2)" in hipaa and "no retention period" in hipaa


def test_loaded_profiles_match_the_yaml() -> None:
    for name, (entry, profile) in every_profile().items():
        number = expected(entry)
        assert (profile.hot_warm_days, profile.cold_days, profile.frozen_days, profile.total_days) == \
            (number["hot_warm"], number["cold"], number["frozen"], number["total"]), name
        assert (profile.archive.keep_days if profile.archive else 0) == number["archive"]


# -- Splunk -------------------------------------------------------------------------------------------------
def test_indexes_conf_holds_each_profiles_numbers() -> None:
    for name, (entry, profile) in every_profile().items():
        number = expected(entry)
        files = indexes_app_files(profile)
        assert sorted(files) == sorted(f"{INDEXES_APP}/{p}" for p in (
            "default/app.conf", "default/indexes.conf", "README/indexes.conf.example", "README.txt", "metadata/default.meta",
            "app.manifest"))
        default = stanzas(files[f"{INDEXES_APP}/default/indexes.conf"].decode())
        assert default == {"kamal": {"homePath": "$SPLUNK_DB/kamal/db", "coldPath": "$SPLUNK_DB/kamal/colddb",
                                     "thawedPath": "$SPLUNK_DB/kamal/thaweddb",
                                     "frozenTimePeriodInSecs": str(number["total"] * DAY), "repFactor": "auto"}}, name
        text = files[f"{INDEXES_APP}/README/indexes.conf.example"].decode()
        example = stanzas(text)
        index = example["kamal"]
        assert set(example) == {"kamal", "volume:kamal_hotwarm", "volume:kamal_cold"}
        assert index["frozenTimePeriodInSecs"] == str(number["total"] * DAY)
        assert index["maxWarmDBCount"] == str(number["hot_warm"]) and index["maxHotSpanSecs"] == str(DAY)  # one-day buckets
        assert index["homePath"] == "volume:kamal_hotwarm/kamal/db" and index["coldPath"] == "volume:kamal_cold/kamal/colddb"
        assert index["thawedPath"] == "$SPLUNK_DB/kamal/thaweddb"  # the spec forbids a volume here
        assert index["maxTotalDataSizeMB"] == str(entry.get("splunk", {}).get("max_total_data_size_mb", 500000))
        frozen_dir = entry.get("archive", {}).get("splunk_frozen_dir")
        if frozen_dir:
            assert index["coldToFrozenDir"] == frozen_dir
        else:  # a placeholder, commented: never a path that might not exist on the indexer
            assert "coldToFrozenDir" not in index and re.search(r"^# coldToFrozenDir = /\S+$", text, re.M)
        if "archive" in entry and not frozen_dir:
            assert "frozen buckets are DELETED" in text
        header = files[f"{INDEXES_APP}/default/indexes.conf"].decode()
        assert ("This profile keeps an archive" in " ".join(header.replace("#", "").split())) == ("archive" in entry)
        assert "never by age" in text  # warm -> cold is by count or size
        acs = acs_values(profile)
        assert acs["searchableDays"] == number["total"]
        assert acs.get("splunkArchivalRetentionDays") == (number["total"] + number["archive"] if number["archive"] else None)
        readme = files[f"{INDEXES_APP}/README.txt"].decode()
        assert f"--searchable-days {number['total']} " in readme and re.search(rf"searchable_days\s+= {number['total']}\n", readme)


@pytest.fixture(scope="module")
def inspected(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
    """AppInspect's report on kamal_indexes of each profile, with and without the Splunk Cloud checks."""
    assert appinspect().exists()  # skips (or fails under make test) when AppInspect is not installed
    reports = {}
    for name, (_entry, profile) in every_profile().items():
        out = tmp_path_factory.mktemp(name)
        [_folder, package] = write_app(INDEXES_APP, indexes_app_files(profile), out)
        for mode in MODES:
            reports[(name, mode)] = _run(package, mode, out)
    return reports


def test_the_index_app_passes_appinspect(inspected: dict[tuple[str, str], tuple[int, dict[str, Any]]]) -> None:
    assert {mode for _name, mode in inspected} == {"precert", "cloud"} and len(inspected) == 2 * len(every_profile())
    for (name, mode), (code, report) in inspected.items():
        summary = report["reports"][0]["summary"]
        assert summary["success"] > 50, (name, mode, summary)  # it really inspected the package
        assert findings(report) == {} and code == EXIT["clean"], (name, mode, summary, findings(report))
        checks = {c["name"]: c["result"] for g in report["reports"][0]["groups"] for c in g["checks"]}
        for check in ("check_indexes_conf_properties", "check_indexes_conf_only_uses_splunk_db_variable",
                      "check_for_index_volume_usage", "check_lower_cased_index_names"):
            assert checks[check] == "success", (name, mode, check)  # the index checks ran on our indexes.conf


def test_appinspect_refuses_the_tiering_in_default(tmp_path: Path) -> None:
    """Why the tiering is an example: the same settings in default/indexes.conf fail precert."""
    appinspect()
    profile = select_profile("pci-dss")
    files = indexes_app_files(profile)
    files[f"{INDEXES_APP}/default/indexes.conf"] = files[f"{INDEXES_APP}/README/indexes.conf.example"]
    [_folder, package] = write_app(INDEXES_APP, files, tmp_path)
    code, report = _run(package, "precert", tmp_path)
    found = findings(report)
    assert code == EXIT["failures"]
    assert {"check_indexes_conf_properties", "check_for_index_volume_usage",
            "check_indexes_conf_only_uses_splunk_db_variable"} <= set(found)
    check: Any = found["check_indexes_conf_properties"]  # a check's report (findings() is annotated as a list)
    messages = " ".join(m["message"] for m in check["messages"])
    assert "Illegal property maxWarmDBCount" in messages and "Illegal property maxHotSpanSecs" in messages


# -- Elastic ------------------------------------------------------------------------------------------------
def test_the_ilm_policy_holds_each_profiles_numbers() -> None:
    for name, (entry, profile) in every_profile().items():
        number = expected(entry)
        options = entry.get("elastic", {})
        repository = options.get("snapshot_repository", "kamal-siem-snapshots")
        policy = ilm_policy_for(profile)["policy"]
        phases = policy["phases"]
        want = ["hot", "warm"] + ["cold"] * bool(number["cold"]) + ["frozen"] * bool(number["frozen"]) + ["delete"]
        assert [p for p in ("hot", "warm", "cold", "frozen", "delete") if p in phases] == want, name
        assert phases["hot"]["actions"]["rollover"] == {"max_age": options.get("rollover_max_age", "30d"),
                                                        "max_primary_shard_size": options.get("rollover_max_primary_shard_size", "50gb")}
        assert phases["warm"]["actions"]["forcemerge"] == {"max_num_segments": 1} and "readonly" in phases["warm"]["actions"]
        if number["cold"]:
            assert phases["cold"]["min_age"] == f"{number['hot_warm']}d"
            snapshot = phases["cold"]["actions"].get("searchable_snapshot")
            assert snapshot == ({"snapshot_repository": repository} if options.get("cold_searchable_snapshot") else None)
        if number["frozen"]:
            assert phases["frozen"] == {"min_age": f"{number['hot_warm'] + number['cold']}d",
                                        "actions": {"searchable_snapshot": {"snapshot_repository": repository}}}
        assert phases["delete"]["min_age"] == f"{number['total']}d"
        ages = [0 if phases[p]["min_age"] == "0ms" else days(phases[p]["min_age"]) for p in want]
        assert ages == sorted(ages)  # Elasticsearch wants phases in order of age
        slm = slm_policies(profile)
        if number["archive"]:
            assert phases["delete"]["actions"] == {"wait_for_snapshot": {"policy": SLM_POLICY}, "delete": {}}
            [(slm_name, body)] = slm.items()
            assert slm_name == SLM_POLICY and body["retention"] == {"expire_after": f"{number['archive']}d"}
            assert body["repository"] == repository and body["config"]["include_global_state"] is False
            assert {"logs-kamal.*-*", "logs-kamal-*"} == set(body["config"]["indices"])  # every kamal-siem data stream
        else:
            assert phases["delete"]["actions"] == {"delete": {}} and slm == {}
        assert policy["_meta"]["retention_profile"] == name


def test_install_script_checks_the_repository_and_puts_slm_first(tmp_path: Path) -> None:
    profile = load_profiles(EXAMPLES)["pci-dss-archive"]
    assets = elastic_assets(default_dictionary(), profile)
    script = assets["install.sh"].decode()
    puts = re.findall(r"^put (\S+) (\S+)$", script, re.M)
    assert puts[0] == (f"_slm/policy/{SLM_POLICY}", f"slm/{SLM_POLICY}.json") and puts[1][0] == "_ilm/policy/kamal-siem"
    assert sorted(file for _api, file in puts) == sorted(p for p in assets if p.endswith(".json"))
    bundle = tmp_path / "bundle"
    for name, data in assets.items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_bytes(data)
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "curl.log"
    (fake / "curl").write_text('#!/usr/bin/env bash\necho "$@" >> "$CURL_LOG"\n[[ "$*" != *_snapshot/* || -z "$NO_REPO" ]] || exit 22\n')
    (fake / "curl").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "ES_URL": "https://es.example:9200", "ES_API_KEY": "k",
           "CURL_LOG": str(log)}
    subprocess.run(["bash", str(bundle / "install.sh")], env=env, check=True, capture_output=True)
    calls = log.read_text().splitlines()
    assert "https://es.example:9200/_snapshot/kamal-siem-snapshots" in calls[0] and "-X PUT" not in calls[0]
    assert f"_slm/policy/{SLM_POLICY}" in calls[1] and "_ilm/policy/kamal-siem" in calls[2] and len(calls) == len(puts) + 1
    log.unlink()
    missing = subprocess.run(["bash", str(bundle / "install.sh")], env={**env, "NO_REPO": "1"}, capture_output=True, text=True)
    assert missing.returncode != 0 and "kamal-siem-snapshots is not registered" in missing.stderr
    assert len(log.read_text().splitlines()) == 1  # nothing was PUT
    readme = assets["README-elasticsearch.md"].decode()
    assert "Register the snapshot repository `kamal-siem-snapshots`" in readme and "274 days later" in readme


def test_a_profile_without_repository_needs_none() -> None:
    assets = elastic_assets(default_dictionary(), select_profile("sox"))
    assert "need_repository" not in assets["install.sh"].decode() and not any(p.startswith("slm/") for p in assets)
    assert "delete, 2557 days after rollover (no archive)" in assets["README-elasticsearch.md"].decode()


SLM_TYPE = """// SLM retention: Elasticsearch takes each of expire_after, max_count and min_count alone (all optional
// in its docs); the client's SlmRetention marks all three required, so they are Partial here.
type SlmBody = Omit<Body<T.SlmPutLifecycleRequest, 'policy_id'>, 'retention'> & { retention?: Partial<T.SlmRetention> };
"""


def policies_typescript() -> str:
    documents: dict[str, dict[str, Any]] = {}
    slm: list[dict[str, Any]] = []
    for name, (_entry, profile) in every_profile().items():
        documents[f"ilm/{name}.json"] = ilm_policy_for(profile)
        slm += slm_policies(profile).values()
    assert slm, "no example profile keeps an archive"
    ilm = typescript(documents)
    assert ilm.startswith(HEADER)
    return ilm + SLM_TYPE + "".join(f"export const slm{i}: SlmBody = {json.dumps(body, indent=1)};\n" for i, body in enumerate(slm))


def test_the_policies_type_check_against_the_elasticsearch_client_types(tmp_path: Path) -> None:
    valid = policies_typescript()
    mistakes = {
        "wait.ts": ('"wait_for_snapshot": {', '"wait_for_snapshots": {'),               # no such ILM action
        "repository.ts": ('"snapshot_repository": "acme', '"snapshot_repositry": "acme'),  # misspelled option
        "merge.ts": ('"max_num_segments": 1', '"max_num_segments": "1"'),                 # a string for a number
        "expire.ts": ('"expire_after": "274d"', '"expire_afer": "274d"'),                # misspelled SLM retention
        "global.ts": ('"include_global_state": false', '"include_global_state": "false"'),
    }
    bad = {}
    for file, (old, new) in mistakes.items():
        assert old in valid, old
        bad[file] = (valid.replace(old, new, 1), valid[:valid.index(old)].count("\n") + 1)
    result = tsc(tmp_path, {"policies.ts": valid, **{file: text for file, (text, _line) in bad.items()}})
    errors: dict[str, list[int]] = {}
    for line in (result.stdout + result.stderr).splitlines():
        m = re.match(r"^([\w.]+)\((\d+),\d+\): error", line)
        if m:
            errors.setdefault(m.group(1), []).append(int(m.group(2)))
    assert "policies.ts" not in errors, (result.stdout + result.stderr)[:3000]
    for file, (_text, where) in bad.items():  # each planted mistake is caught, on its line
        assert errors.get(file) == [where], (file, where, errors.get(file))


# -- bad profile files --------------------------------------------------------------------------------------
GOOD = """profiles:
  mine:
    description: my own
    hot_warm: 30d
    total: 365d
"""
BAD = {  # YAML, line, reason (a fragment)
    "longer": (GOOD.replace("hot_warm: 30d", "hot_warm: 400d"), 4, "hot_warm (400d) is longer than total (365d)"),
    "unknown key": (GOOD + "    hot: 10d\n", 6, "unknown key 'hot'"),
    "sum": (GOOD + "    cold: 300d\n", 5, "hot_warm + cold + frozen is 330d, but total is 365d"),
    "unit": (GOOD.replace("total: 365d", "total: 1y"), 5, "'1y' does not match"),
    "frozen": (GOOD + "    frozen: 400d\n", 6, "hot_warm + frozen (430d) is longer than total (365d)"),
    "duplicate": (GOOD + "    total: 366d\n", 6, "duplicate key 'total'"),
    "archive key": (GOOD + "    archive:\n      keep: 30d\n      splunk_frozen_dir: relative/dir\n", 8, "does not match"),
    "elastic key": (GOOD + "    elastic:\n      rollover_max_age: 7d\n      shrink: true\n", 8, "unknown key 'shrink'"),
    "no cold": (GOOD.replace("365d", "30d") + "    elastic:\n      cold_searchable_snapshot: true\n", 7,
                "cold_searchable_snapshot, but the profile has no cold days"),
    "too long for Splunk": (GOOD.replace("365d", "50000d"), 5, "longer than Splunk can keep an index (49710d"),
    "name": (GOOD.replace("mine:", "Mine:"), 2, "a profile name is lowercase letters"),
    "builtin name": (GOOD.replace("mine:", "pci-dss:"), 2, "`pci-dss` is a built-in profile"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_profile_file_names_file_line_and_reason(case: str, tmp_path: Path) -> None:
    text, line, reason = BAD[case]
    path = tmp_path / "retention.yml"
    path.write_text(text)
    with pytest.raises(ContentError) as caught:
        load_profiles(path)
    assert (caught.value.path, caught.value.line) == (str(path), line) and reason in caught.value.reason, str(caught.value)
    result = CliRunner().invoke(main, ["build", "--target", "elastic", "-o", str(tmp_path / "dist"), "--retention-file", str(path),
                                       "--retention", "mine"])
    assert result.exit_code == 2 and f"{path}:{line}: " in " ".join(result.output.split()), result.output
    assert not (tmp_path / "dist").exists()  # nothing half-built


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "retention.yml"
    path.write_text(GOOD.replace("hot_warm: 30d", "hot_warm: 400d") + "  other:\n    description: x\n    hot_warm: 9d\n    total: 1d\n")
    with pytest.raises(ContentErrors) as caught:
        load_profile_file(path)
    assert [(e.line, e.reason.split(":")[0]) for e in caught.value.errors] == [(4, "profiles/mine"), (8, "profiles/other")]


def test_an_unknown_profile_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(KamalSiemError, match="no retention profile 'gdpr': choose one of default, hipaa, pci-dss, sox"):
        select_profile("gdpr")
    result = CliRunner().invoke(main, ["build", "-o", str(tmp_path), "--retention", "pci"])
    assert result.exit_code == 2 and "no retention profile 'pci'" in result.output


def test_the_built_in_file_is_the_shipped_one() -> None:
    assert builtin_profiles_path().resolve() == BUILTIN.resolve()  # in a checkout; the wheel force-includes integrations/retention


# -- the build ----------------------------------------------------------------------------------------------
def _build(out: Path, *args: str, seed: str = "0") -> dict[str, bytes]:
    run = subprocess.run([sys.executable, "-m", "converter.cli", "build", "-o", str(out), *args], cwd=ROOT,
                         env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_builds_are_byte_identical_and_hold_the_profile(tmp_path: Path) -> None:
    args = ("--retention-file", str(EXAMPLES), "--retention", "tiered-year")
    one, two = _build(tmp_path / "one", *args, seed="1"), _build(tmp_path / "two", *args, seed="2")
    assert one == two
    conf = stanzas(one["splunk/kamal_indexes/default/indexes.conf"].decode())
    assert conf["kamal"]["frozenTimePeriodInSecs"] == str(366 * DAY)
    ilm = json.loads(one["elastic/ilm/kamal-siem.json"])
    assert ilm["policy"]["_meta"]["retention_profile"] == "tiered-year" and ilm["policy"]["phases"]["frozen"]["min_age"] == "90d"
    assert json.loads(one[f"elastic/slm/{SLM_POLICY}.json"])["retention"]["expire_after"] == "30d"
    assert str(ROOT) not in "".join(data.decode("utf-8", "replace") for data in one.values())  # no checkout path inside


def test_the_default_build_uses_the_default_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["build", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    title = " ".join(result.output.split())
    assert "retention profile default: hot/warm 90d, total 90d" in title
    assert "index kamal, frozen after 90 days" in title and "ILM hot > warm > delete at 90d" in title
    conf = stanzas((tmp_path / "splunk/kamal_indexes/default/indexes.conf").read_text())
    assert conf["kamal"]["frozenTimePeriodInSecs"] == str(90 * DAY)
    ilm = json.loads((tmp_path / "elastic/ilm/kamal-siem.json").read_text())["policy"]["phases"]
    assert ilm["delete"] == {"min_age": "90d", "actions": {"delete": {}}} and ilm["hot"]["actions"]["rollover"]["max_age"] == "30d"


def test_a_retention_yml_beside_the_rules_is_read(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "sigma_rules").mkdir(parents=True)
    rule = next((ROOT / "sigma_rules" / "audit").glob("*.yml"))
    (project / "sigma_rules" / rule.name).write_bytes(rule.read_bytes())
    (project / "retention.yml").write_text(GOOD)
    result = CliRunner().invoke(main, ["build", "--target", "splunk", "--rules", str(project / "sigma_rules"),
                                       "-o", str(tmp_path / "dist"), "--retention", "mine"])
    assert result.exit_code == 0, result.output
    conf = stanzas((tmp_path / "dist/splunk/kamal_indexes/default/indexes.conf").read_text())
    assert conf["kamal"]["frozenTimePeriodInSecs"] == str(365 * DAY)
    assert "Retention profile `mine` (retention.yml)" in (tmp_path / "dist/splunk/kamal_indexes/README.txt").read_text()
