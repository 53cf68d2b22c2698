"""`kamal-siem parse` as a user runs it: NDJSON on stdout, the summary on stderr, exit codes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from converter.cli import main

from .conftest import ROOT

AUDIT = ("[2026-06-22T13:02:49Z] [bob@acme.example] [production] [web] Booted app version 714d1e19\n"
         "[2026-06-22T13:03:04Z] [bob@acme.example] [production] Tagging ghcr.io/acme/shop:714d1e19 as the latest image\n")


def test_ndjson_has_source_line_and_dictionary_fields(tmp_path: Path) -> None:
    path = tmp_path / ".kamal" / "shop-production-audit.log"
    path.parent.mkdir()
    path.write_text(AUDIT)
    result = CliRunner().invoke(main, ["parse", str(path)])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0] == {
        "source": str(path), "line": 1, "log_type": "audit", "timestamp": "2026-06-22T13:02:49Z",
        "performer": "bob@acme.example", "service": "shop", "destination": "production", "role": "web",
        "version": "714d1e19", "action": "app_boot", "message": "Booted app version 714d1e19",
    }
    assert events[1]["image"] == "ghcr.io/acme/shop:714d1e19"
    assert "2 line(s) read: 2 parsed, 0 rejected" in result.stderr
    assert result.stderr.count("audit") >= 2  # per file and per log type


def test_folders_are_walked_with_hidden_ones_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b" / ".kamal").mkdir(parents=True)
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / ".kamal" / "shop-audit.log").write_text(AUDIT)
    (tmp_path / "a" / "kamal-proxy.log.gz").write_bytes(gzip.compress(
        b'{"time":"2026-06-22T09:14:01Z","level":"INFO","msg":"Server started","http":80,"https":443}\n', mtime=0))
    (tmp_path / "a" / "README.md").write_text("# not a log\n")
    result = CliRunner().invoke(main, ["parse", str(tmp_path)])
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(Path(e["source"]).name, e["line"], e["log_type"]) for e in events] == [
        ("kamal-proxy.log.gz", 1, "proxy"), ("shop-audit.log", 1, "audit"), ("shop-audit.log", 2, "audit")]
    assert "not recognized as a Kamal log" in result.stderr  # the README was skipped, and said so
    assert "1 file(s) skipped" in result.stderr


def test_standard_input_and_forced_log_type() -> None:
    result = CliRunner().invoke(main, ["parse", "--log-type", "audit", "-"], input=AUDIT)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    # without a file name the one tag of a role-bearing message is the role, and there is no service
    assert events[0]["source"] == "-"
    assert (events[0].get("destination"), events[0].get("role")) == ("production", "web")
    assert "service" not in events[0]


def test_table_format_shows_every_line(tmp_path: Path) -> None:
    path = tmp_path / "shop-production-audit.log"
    path.write_text(AUDIT + "garbage\n")
    result = CliRunner().invoke(main, ["parse", "--format", "table", str(path)], terminal_width=200)
    assert result.exit_code == 0
    assert "app_boot" in result.stdout and "image_tag_latest" in result.stdout
    assert "not a Kamal audit line" in result.stdout


def test_assume_tz_converts_zone_less_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "mrsk-shop-staging-audit.log"
    path.write_text("[2023-03-01 10:00:00] [deploy] [web] Booted app version abc\n")
    result = CliRunner().invoke(main, ["parse", "--assume-tz", "Europe/Berlin", str(path)])
    [event] = [json.loads(line) for line in result.stdout.splitlines()]
    assert event["timestamp"] == "2023-03-01T09:00:00Z"
    assert event["timestamp_assumed_tz"] == "Europe/Berlin"
    assert (event["service"], event["destination"], event["role"]) == ("shop", "staging", "web")


def test_output_is_deterministic(tmp_path: Path) -> None:
    runs = [CliRunner().invoke(main, ["parse", str(ROOT / "tests" / "parsers")]).stdout for _ in range(2)]
    assert runs[0] == runs[1]
    assert len(runs[0].splitlines()) > 150


def test_console_script_is_installed() -> None:
    """The entry point of pyproject.toml works as a real process (the README's commands use it)."""
    exe = Path(sys.executable).with_name("kamal-siem")
    result = subprocess.run([str(exe), "parse", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "--log-type" in result.stdout
