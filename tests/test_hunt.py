"""`kamal-siem hunt` on the bundled samples: the right alerts, pointing at the right raw lines."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from converter.cli import main

from .conftest import ROOT

SAMPLES = ROOT / "samples"
AUDIT = "samples/web-1/home/deploy/.kamal/shop-api-production-audit.log"
OTEL = "samples/deployer/otel/kamal-otel.jsonl"
DOCKER = "samples/web-1/var/log/docker-events.jsonl"
PROXY = ("samples/web-1/var/lib/docker/containers/3ed557ec7a26eeae7bcbf7b972a0241987ef3a7c11f6ad8ec52a2984abaafd7c/"
         "3ed557ec7a26eeae7bcbf7b972a0241987ef3a7c11f6ad8ec52a2984abaafd7c-json.log")


def run(*args: str) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(main, ["hunt", "--format", "json", *args])
    return result.exit_code, [json.loads(x) for x in result.stdout.splitlines()], result.stderr


def test_samples_raise_the_expected_alerts(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The bundled samples are a made-up week with the incidents the rules exist for (reviewed line
    by line): each raises exactly these alerts, and the ordinary deploys around them raise none."""
    monkeypatch.chdir(ROOT)
    code, alerts, stderr = run("samples")
    assert code == 1
    found = sorted((a["title"], tuple((e["source"], e["line"]) for e in a["events"])) for a in alerts)
    performer_root = [(AUDIT, n) for n in range(26, 32)]  # `root` (git had no user.email) deploys to production
    assert found == sorted([
        ("Forged or Odd Performer in the Kamal Audit Log", ((AUDIT, 35),)),
        ("Interactive Shell or Console Opened in a Kamal App Container", ((DOCKER, 1),)),
        ("Interactive Shell or Console Opened in a Kamal App Container", ((DOCKER, 4),)),
        ("Kamal App Put in Maintenance Mode", ((DOCKER, 5),)),
        ("Kamal App Stopped on a Protected Destination", ((AUDIT, 35),)),
        ("Kamal App Stopped on a Protected Destination", ((AUDIT, 43),)),
        *(("Kamal Fallback Account Acting on a Protected Destination", (w,)) for w in performer_root),
        ("Kamal Proxy Refused a Host Already Owned by Another Service", ((PROXY, 14),)),
        ("Kamal Proxy Stopped or Removed on a Protected Destination", ((AUDIT, 47),)),
        ("Kamal Proxy Stopped or Removed on a Protected Destination", ((AUDIT, 48),)),
        ("Kamal Remove on a Protected Destination", ((AUDIT, 44),)),
        ("Kamal Remove on a Protected Destination", ((AUDIT, 45),)),
        ("Kamal Remove on a Protected Destination", ((AUDIT, 46),)),
        *(("Kamal Run by a Performer Outside the Deployer Allowlist", (w,)) for w in [*performer_root, (AUDIT, 35)]),
        ("Kamal Server Exec on a Protected Destination", ((AUDIT, 32),)),
        ("Remote Code Fetched and Run Through a Kamal Exec", ((AUDIT, 32),)),
        ("Repeated Failed Kamal Commands by One Performer", ((OTEL, 1), (OTEL, 2), (OTEL, 3))),
        ("Secrets Dumped Through a Kamal Exec", ((AUDIT, 15),)),
        ("Uncommitted Kamal Version Booted in Production", ((AUDIT, 27),)),
        ("Uncommitted Kamal Version Booted in Production", ((AUDIT, 28),)),
        ("Unknown Message in the Kamal Audit Log", ((AUDIT, 36),)),
    ])
    assert "32 alert(s)" in stderr


def test_alert_json_shape(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    _code, alerts, _ = run("samples")
    for alert in alerts:
        assert list(alert)[:4] == ["rule_id", "title", "level", "tags"] and "events" in alert
        for event in alert["events"]:
            assert list(event)[:2] == ["source", "line"] and "timestamp" in event
    secret = next(a for a in alerts if a["title"].startswith("Secrets"))
    assert secret["level"] == "high" and "attack.t1552.001" in secret["tags"]
    assert secret["events"][0]["cmd"] == "printenv"
    raw = (ROOT / AUDIT).read_text().splitlines()[secret["events"][0]["line"] - 1]
    assert "Executed cmd 'printenv'" in raw  # the alert points at the raw line that caused it
    correlation = next(a for a in alerts if a["title"].startswith("Repeated"))
    assert correlation["group"] == {"performer": "erik@shop.example"}
    assert [e["record"] for e in correlation["events"]] == [2, 2, 2]


def test_a_benign_baseline_raises_nothing(tmp_path: Path) -> None:
    (tmp_path / ".kamal").mkdir()
    (tmp_path / ".kamal" / "shop-production-audit.log").write_text(
        "[2026-10-01T10:00:00Z] [dana@shop.example] [production] Pulled image with version abc\n"
        "[2026-10-01T10:00:10Z] [dana@shop.example] [production] [web] Booted app version abc\n"
        "[2026-10-01T10:05:00Z] [dana@shop.example] [production] Executed cmd 'bin/rails db:migrate:status' on app version abc\n")
    code, alerts, stderr = run(str(tmp_path))
    assert (code, alerts) == (0, [])
    assert "0 alert(s)" in stderr


def test_min_level_leaves_out_lower_rules(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    _code, alerts, _ = run("--min-level", "high", "samples")
    assert {a["level"] for a in alerts} == {"high"}


def test_a_broken_rule_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("title: x\ndetection: [not, a, map\n")
    code, _alerts, stderr = run("--rules", str(tmp_path), str(SAMPLES))
    assert code == 2
    assert "broken.yml" in stderr and "not a valid Sigma rule" in stderr


def test_table_output(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["hunt", "samples"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "Secrets Dumped" in result.stdout and "shop-api-production-audit.log:15" in result.stdout


def test_progress_is_reported_up_to_the_size_of_each_input(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    from converter.local.hunt import hunt
    from converter.parsing.files import Options

    monkeypatch.chdir(ROOT)
    seen: dict[str, list[int]] = {}
    hunt(["samples"], ROOT / "sigma_rules", Options(), progress=lambda source, at: seen.setdefault(source, []).append(at))
    assert len(seen) == 6
    for source, positions in seen.items():
        assert positions == sorted(positions) and positions[-1] == os.path.getsize(source)
