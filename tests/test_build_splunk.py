"""`kamal-siem build --target splunk`: the content app `kamal_security` (the add-on TA-kamal is
tests/test_splunk_ta.py's, AppInspect tests/test_appinspect.py's). The SPL is checked for
structure (the log source macro first, balanced quotes, parentheses and brackets, the rule's filter
macro last, lookups that exist), and against a golden file a human reviewed (`pytest --update`
rewrites it).

The Splunk traps of DESIGN.md ("Traps already seen with the upstream backends"), each shown with
the plain upstream backend (so the test notices when upstream changes) and with ours:
- a `|re` condition OR-ed with other conditions: upstream moves a leading term in front of its
  `| rex` as a mandatory filter and leaves `| search OR ...`; its savedsearches format starts the
  search with `| rex` (no events to run on);
- correlations in fixed `bin _time` buckets, where ours count in a sliding window;
- a correlation we cannot build is refused, naming the rule file and the target."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sigma.backends.splunk import SplunkBackend
from sigma.collection import SigmaCollection

from converter.cli import main
from converter.fields import default_dictionary
from converter.pipelines import pipeline
from converter.targets.splunk_app import APP, app_files
from converter.targets.splunk_searches import SplunkRefusal, one_line
from converter.targets.splunk_ta import TA
from converter.tuning import load_tuning

from .conftest import ROOT

GOLDEN = ROOT / "tests" / "targets" / "splunk-searches-expected.txt"


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    built, refused = app_files(ROOT / "sigma_rules", default_dictionary(), load_tuning())
    assert refused == []
    return built


def stanzas(text: str) -> dict[str, dict[str, str]]:
    """A .conf file: every setting on one `key = value` line, no key twice in a stanza."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            assert line.endswith("]"), number
            current = out.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition(" = ")
        assert sep and current is not None and key not in current, f"line {number}: {line[:80]}"
        current[key] = value
    return out


def balanced(spl: str) -> bool:
    depth = {"(": 0, "[": 0}
    closing = {")": "(", "]": "["}
    in_quote = False
    i = 0
    while i < len(spl):
        c = spl[i]
        if c == "\\" and in_quote:
            i += 2
            continue
        if c == '"':
            in_quote = not in_quote
        elif not in_quote and c in depth:
            depth[c] += 1
        elif not in_quote and c in closing:
            depth[closing[c]] -= 1
            if depth[closing[c]] < 0:
                return False
        i += 1
    return not in_quote and all(v == 0 for v in depth.values())


def test_one_scheduled_alert_per_alerting_rule(files: dict[str, bytes]) -> None:
    searches = stanzas(files[f"{APP}/default/savedsearches.conf"].decode())
    assert len(searches) == 35
    for name, settings in searches.items():
        assert name.startswith("kamal-siem - ")
        assert settings["enableSched"] == "1" and settings["action.email"] == "0" and settings["alert.suppress"] == "1"
        assert settings["alert.severity"] in {"2", "3", "4", "5", "6"}
        # throttled per actor and place (or per correlation group), never the whole rule for an hour
        assert settings["alert.digest_mode"] == "0" and settings["alert.suppress.fields"], name


def test_spl_structure(files: dict[str, bytes]) -> None:
    searches = stanzas(files[f"{APP}/default/savedsearches.conf"].decode())
    macros = stanzas(files[f"{APP}/default/macros.conf"].decode())
    log_source_macros = {s.splunk_macro for s in default_dictionary().logsources.values()}
    for name, settings in searches.items():
        spl = settings["search"]
        first = re.match(r"`([a-z_]+)` ", spl)
        assert first and first.group(1) in log_source_macros, name  # the index/sourcetype macro comes first
        assert balanced(spl), name
        last = re.search(r"\| `([a-z0-9_]+)`$", spl)
        assert last and last.group(1) in macros, name  # the rule's own filter macro ends it
        for lookup in re.findall(r"inputlookup ([a-z_]+\.csv)", spl):
            assert f"{APP}/lookups/{lookup}" in files, name
        assert "| rex" not in spl.split("|")[0] and not spl.startswith("| "), name  # a trap of the upstream backend
    for macro in log_source_macros:
        assert macro in macros


def test_correlations_count_in_sliding_windows(files: dict[str, bytes]) -> None:
    searches = stanzas(files[f"{APP}/default/savedsearches.conf"].decode())
    repeated = searches["kamal-siem - Repeated Failed Kamal Commands by One Performer"]
    assert "| bin _time" not in repeated["search"]  # pySigma's Splunk backend counts in fixed buckets
    assert "| sort 0 _time | streamstats time_window=900s count AS event_count BY user | where event_count >= 3" in repeated["search"]
    assert (repeated["cron_schedule"], repeated["dispatch.earliest_time"]) == ("*/5 * * * *", "-21m@m")
    assert repeated["alert.suppress.fields"] == "user"
    single = searches["kamal-siem - Secrets Dumped Through a Kamal Exec"]
    assert (single["cron_schedule"], single["dispatch.earliest_time"], single["dispatch.latest_time"]) == ("*/5 * * * *", "-6m@m", "-1m@m")
    assert '"mitre_attack": ["T1552.001"]' in single["action.correlationsearch.annotations"]


def test_lookups_hold_the_tuning_values(files: dict[str, bytes]) -> None:
    rows = files[f"{APP}/lookups/kamal_protected_destinations.csv"].decode().splitlines()
    assert rows == ["value", *load_tuning().placeholders["kamal_protected_destinations"].values]


def test_searches_match_the_reviewed_golden_file(files: dict[str, bytes], update_golden: bool) -> None:
    searches = stanzas(files[f"{APP}/default/savedsearches.conf"].decode())
    text = "".join(f"{name}\n    {settings['search']}\n\n" for name, settings in sorted(searches.items()))
    if update_golden:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert GOLDEN.read_text() == text, "the SPL changed: review it, then run pytest --update"


def test_two_builds_give_byte_identical_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    packages: list[dict[str, bytes]] = []
    for name in ("one", "two"):
        result = CliRunner().invoke(main, ["build", "--target", "splunk", "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        packages.append({p.name: p.read_bytes() for p in (tmp_path / name).glob("*.tgz")})
    assert sorted(packages[0]) == [f"{TA}-0.1.0.tgz", "kamal_indexes-0.1.0.tgz", f"{APP}-0.1.0.tgz"]  # the index app: tests/test_retention.py
    assert packages[0] == packages[1]


def test_the_index_macro_comes_first(files: dict[str, bytes]) -> None:
    macros = stanzas(files[f"{APP}/default/macros.conf"].decode())
    assert macros["kamal_index"]["definition"] == "index=kamal"
    for source in default_dictionary().logsources.values():
        assert macros[source.splunk_macro]["definition"].startswith("(`kamal_index` sourcetype=")
    assert 'kamal_action="process_start"' in macros["kamal_process"]["definition"]  # the log source is process starts


def test_destructive_command_values_are_read_from_a_lookup(files: dict[str, bytes]) -> None:
    """AppInspect fails an app whose .conf files hold `rm -rf`; the rule's values are in a lookup."""
    conf = b"".join(data for path, data in files.items() if path.endswith(".conf"))
    assert not re.search(rb"rm\s+-[rf]", conf.replace(b"docker rm -f", b""))  # only the prose of one description
    searches = stanzas(files[f"{APP}/default/savedsearches.conf"].decode())
    spl = searches["kamal-siem - Destructive Command Through a Kamal Exec"]["search"]
    name = "kamal_siem_destructive_command_through_a_kamal_exec_values1"
    assert f"[| inputlookup {name}.csv | rename value AS command | fields command]" in spl
    rows = files[f"{APP}/lookups/{name}.csv"].decode().splitlines()
    assert rows == ["value", "*rm -rf*", "*rm -fr*", "*rm -r *", "*rm -f -r*", "*rm --recursive*"]


def test_quoted_values_stay_exact_on_one_line() -> None:
    assert one_line('`m` a="x  |  y"\n| rex field=b "(?<c>d  e)"\n| search c="true"') == \
        '`m` a="x  |  y" | rex field=b "(?<c>d  e)" | search c="true"'
    with pytest.raises(SplunkRefusal, match="line break"):
        one_line('a="x\ny"')


def test_extra_files_join_the_app_but_replace_none(tmp_path: Path) -> None:
    view = f"{APP}/default/data/ui/views/kamal_overview.xml"
    built, _refused = app_files(ROOT / "sigma_rules", default_dictionary(), load_tuning(), extra={view: b"<dashboard/>"})
    assert built[view] == b"<dashboard/>"
    for bad in (f"{APP}/default/macros.conf", "other_app/default/app.conf"):
        with pytest.raises(ValueError, match="extra files"):
            app_files(ROOT / "sigma_rules", default_dictionary(), load_tuning(), extra={bad: b""})


# -- the upstream traps -------------------------------------------------------------------------------

REGEX_OR_RULE = """title: Regex OR-ed With an Action
id: 6f1c2a4e-0b7d-4e55-9a3c-1d2e3f405162
status: test
description: A trap test rule.
author: kamal-siem
date: 2026-11-28
tags: [attack.impact, attack.t1485]
logsource: {product: kamal, service: audit}
detection:
  exec:
    action: server_exec
  wipe:
    cmd|re: '^rm +-rf /'
  condition: exec or wipe
level: high
"""


def _rules_dir(tmp_path: Path, **rules: str) -> Path:
    folder = tmp_path / "sigma_rules"
    for name, text in rules.items():
        (folder / "audit").mkdir(parents=True, exist_ok=True)
        (folder / "audit" / f"{name}.yml").write_text(text)
    return folder


def test_trap_or_ed_regex_upstream_leaves_a_dangling_or() -> None:
    collection = SigmaCollection.from_yaml(REGEX_OR_RULE)
    backend = SplunkBackend(pipeline("splunk", default_dictionary(), load_tuning()))
    [upstream] = backend.convert(collection)
    head, _, condition = upstream.rpartition("\n| search ")
    assert head.startswith('`kamal_audit` kamal_action="server_exec"') and "| rex field=command" in head
    assert condition.startswith("OR ")  # the OR dangles, and the action became mandatory


def test_trap_or_ed_regex_ours_keeps_the_or(tmp_path: Path) -> None:
    built, refused = app_files(_rules_dir(tmp_path, regex_or=REGEX_OR_RULE), default_dictionary(), load_tuning())
    assert refused == []
    [settings] = stanzas(built[f"{APP}/default/savedsearches.conf"].decode()).values()
    spl = settings["search"]
    assert spl.startswith("`kamal_audit` | rex field=command ") and balanced(spl)
    assert '| search kamal_action="server_exec" OR commandCondition="true" | `' in spl
    assert "| search OR" not in spl


def test_trap_upstream_savedsearches_format_starts_with_rex() -> None:
    rule = REGEX_OR_RULE.replace("condition: exec or wipe", "condition: wipe or exec")
    saved = SplunkBackend(pipeline("splunk", default_dictionary(), load_tuning())).convert(SigmaCollection.from_yaml(rule), "savedsearches")
    search = saved.split("search = ", 1)[1].split("\n\n")[0].replace(" \\\n", "\n")
    assert search.lstrip().startswith("| rex")  # a search that starts with a pipe has no events to run on


def test_trap_upstream_correlations_count_in_fixed_buckets(files: dict[str, bytes]) -> None:
    """A burst that straddles a bucket boundary: upstream's buckets see 1 + 2 failures, the sliding
    window 3, which the rule (3 failed commands by one performer within 15 minutes) wants."""
    paths = sorted((ROOT / "sigma_rules").rglob("*.yml"))
    collection = SigmaCollection.load_ruleset([str(p) for p in paths])
    collection.resolve_rule_references()
    backend = SplunkBackend(pipeline("splunk", default_dictionary(), load_tuning()))
    corr = next(r for r in collection.rules if r.title == "Repeated Failed Kamal Commands by One Performer")
    base = next(r for r in collection.rules if str(r.id) == str(corr.rules[0].rule.id))
    backend.convert_rule(base)
    [upstream] = backend.convert_correlation_rule(corr)
    span = re.search(r"\| bin _time span=([0-9]+)m", upstream)
    assert span and "| stats count as event_count by _time user" in upstream
    ours = stanzas(files[f"{APP}/default/savedsearches.conf"].decode())[f"kamal-siem - {corr.title}"]["search"]
    window = re.search(r"\| sort 0 _time \| streamstats time_window=([0-9]+)s count AS event_count BY user \| where event_count >= ([0-9]+)", ours)
    assert window and "| bin _time" not in ours
    minutes = [14, 15, 16]  # failures at 14:58, 15:00 and 15:02 (minutes after 14:44)
    buckets: dict[int, int] = {}
    for m in minutes:
        buckets[m // int(span.group(1))] = buckets.get(m // int(span.group(1)), 0) + 1
    sliding = max(sum(1 for n in minutes if t - int(window.group(1)) / 60 < n <= t) for t in minutes)
    threshold = int(window.group(2))
    assert max(buckets.values()) < threshold <= sliding


def test_trap_a_correlation_we_cannot_build_is_refused_by_name(tmp_path: Path) -> None:
    base = REGEX_OR_RULE.replace("title: Regex OR-ed With an Action", "title: Server Exec").replace(
        "condition: exec or wipe", "condition: exec").replace("\nlevel: high", "\nname: server_exec_base\nlevel: high")
    corr = """title: Many Hosts Execed
id: 7a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d
status: test
description: A trap test rule.
author: kamal-siem
date: 2026-11-28
tags: [attack.impact, attack.t1485]
correlation:
  type: value_count
  rules: [server_exec_base]
  group-by: [performer]
  timespan: 10m
  condition: {gte: 3, field: host}
level: high
"""
    rules = _rules_dir(tmp_path, server_exec=base)
    (rules / "correlations").mkdir()
    (rules / "correlations" / "many_hosts_execed.yml").write_text(corr)
    built, refused = app_files(rules, default_dictionary(), load_tuning())
    why = "only an event_count over one rule with gte/gt is built as a sliding-window search"
    assert refused == [(str(rules / "correlations" / "many_hosts_execed.yml"), why)]
    assert "Many Hosts Execed" not in built[f"{APP}/default/savedsearches.conf"].decode()
    result = CliRunner().invoke(main, ["build", "--target", "splunk", "--rules", str(rules), "-o", str(tmp_path / "dist")])
    assert result.exit_code == 0
    assert f"not built for Splunk: {rules / 'correlations' / 'many_hosts_execed.yml'}: {why}" in " ".join(result.output.split())
