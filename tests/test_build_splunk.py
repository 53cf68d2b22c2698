"""`kamal-siem build --target splunk`: the content app `kamal_security`. The SPL is checked for
structure (the log source macro first, balanced quotes, parentheses and brackets, the rule's filter
macro last, lookups that exist), sliding windows for correlations instead of the upstream backend's
fixed buckets, and against a golden file a human reviewed (`pytest --update` rewrites it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from converter.cli import main
from converter.fields import default_dictionary
from converter.targets.splunk_app import APP, app_files
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
    assert len(searches) == 32
    for name, settings in searches.items():
        assert name.startswith("kamal-siem - ")
        assert settings["enableSched"] == "1" and settings["action.email"] == "0" and settings["alert.suppress"] == "1"
        assert settings["alert.severity"] in {"2", "3", "4", "5", "6"}


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
    packages = []
    for name in ("one", "two"):
        result = CliRunner().invoke(main, ["build", "--target", "splunk", "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        packages.append(next((tmp_path / name).glob("kamal_security-*.tgz")).read_bytes())
    assert packages[0] == packages[1]
