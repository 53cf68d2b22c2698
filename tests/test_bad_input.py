"""Bad input is reported line by line, never a crash, and no line goes missing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from converter.cli import main
from converter.parsing.files import Options, Summary, parse_inputs

AUDIT_OK = b"[2026-06-22T13:02:49Z] [bob@acme.example] [production] [web] Booted app version 714d1e19\n"
PROXY_OK = b'{"time":"2026-06-22T09:14:01Z","level":"INFO","msg":"Server started","http":80,"https":443}\n'


def parse(path: Path, **options: object) -> tuple[list[dict], Summary]:
    summary = Summary()
    return list(parse_inputs([str(path)], Options(**options), summary)), summary  # type: ignore[arg-type]


def audit_file(tmp_path: Path, content: bytes, name: str = "shop-production-audit.log") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_non_utf8_bytes_are_replaced_and_the_line_still_parsed(tmp_path: Path) -> None:
    """One bad byte must not hide a line from the rules: it is replaced, and the event says so."""
    path = audit_file(tmp_path, AUDIT_OK + b"[2026-06-22T13:02:50Z] [jos\xe9] [production] Pruned images\n" + AUDIT_OK)
    events, summary = parse(path)
    assert [e["line"] for e in events] == [1, 2, 3]
    assert events[1]["performer"] == "jos\ufffd"
    assert events[1]["action"] == "prune_images"
    assert events[1]["warnings"] == ["not valid UTF-8: 1 byte sequence(s) replaced with U+FFFD (the first at offset 27)"]
    assert (summary.sources[0].parsed, summary.sources[0].rejected) == (3, 0)


def test_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    events, _ = parse(audit_file(tmp_path, b"\xef\xbb\xbf" + AUDIT_OK))
    assert events[0]["action"] == "app_boot" and "warnings" not in events[0]


def test_crlf_line_endings_are_read_as_plain_lines(tmp_path: Path) -> None:
    path = audit_file(tmp_path, AUDIT_OK.replace(b"\n", b"\r\n") * 2)
    events, _ = parse(path)
    assert [e["version"] for e in events] == ["714d1e19", "714d1e19"]
    assert all("error" not in e for e in events)


def test_blank_lines_are_reported_not_skipped(tmp_path: Path) -> None:
    path = audit_file(tmp_path, AUDIT_OK + b"\n   \n" + AUDIT_OK)
    events, summary = parse(path)
    assert [(e["line"], e.get("error")) for e in events] == [(1, None), (2, "blank line"), (3, "blank line"), (4, None)]
    assert summary.sources[0].lines == 4


def test_huge_line_is_rejected_without_losing_its_neighbours(tmp_path: Path) -> None:
    huge = b"[2026-06-22T13:02:49Z] [x] " + b"A" * 5000 + b"\n"
    path = audit_file(tmp_path, AUDIT_OK + huge + AUDIT_OK + huge.rstrip(b"\n"))
    events, summary = parse(path, max_line_bytes=1024)
    assert [e["line"] for e in events] == [1, 2, 3, 4]
    assert events[1]["error"] == "line too long (5027 bytes; the limit is 1024)"
    assert events[3]["error"] == "line too long (5027 bytes; the limit is 1024)"
    assert events[2]["action"] == "app_boot"
    assert summary.sources[0].lines == 4


def test_last_line_without_newline_is_still_a_line(tmp_path: Path) -> None:
    path = audit_file(tmp_path, AUDIT_OK + AUDIT_OK.rstrip(b"\n"))
    events, _ = parse(path)
    assert [e["line"] for e in events] == [1, 2]


def test_empty_file_has_no_lines(tmp_path: Path) -> None:
    events, summary = parse(audit_file(tmp_path, b""))
    assert events == []
    assert summary.sources[0].lines == 0


def test_truncated_json_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "kamal-proxy.log"
    path.write_bytes(PROXY_OK + PROXY_OK[:40] + b"\n" + PROXY_OK)
    events, _ = parse(path)
    assert events[1]["error"].startswith("truncated JSON: ")
    assert [e.get("action") for e in events] == ["server_started", None, "server_started"]


def test_json_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "kamal-proxy.log"
    path.write_bytes(PROXY_OK + b"[1, 2]\n" + b'"text"\n' + b"[" * 100000 + b"\n")
    events, _ = parse(path)
    assert events[1]["error"] == "expected a JSON object, got list"
    assert events[2]["error"] == "expected a JSON object, got str"
    assert events[3]["error"].startswith("invalid JSON") or events[3]["error"].startswith("truncated JSON")


def test_gzip_is_read_by_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "shop-production-audit.log.1"  # a rotated file, gzipped, without .gz
    path.write_bytes(gzip.compress(AUDIT_OK * 3))
    events, _ = parse(path)
    assert [e["destination"] for e in events] == ["production"] * 3


def test_truncated_gzip_stream_reports_the_input(tmp_path: Path) -> None:
    data = gzip.compress(AUDIT_OK * 200)
    path = tmp_path / "shop-production-audit.log.gz"
    path.write_bytes(data[: len(data) // 2])
    events, summary = parse(path)
    assert summary.sources[0].failed and "read failed" in summary.sources[0].failed
    assert all(e["line"] <= summary.sources[0].lines for e in events)


def test_lines_of_a_broken_multiline_document_are_read_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "otel.json"
    path.write_text('{\n  "resourceLogs": [\n    {"resource": {}\n')
    events, summary = parse(path)
    assert [e["line"] for e in events] == [1, 2, 3]
    assert events[0]["error"].startswith("truncated JSON")
    assert all("error" in e for e in events)
    assert summary.sources[0].rejected == 3


def test_a_lone_brace_in_json_lines_costs_only_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "kamal-proxy.log"
    path.write_bytes(PROXY_OK + b"{\n" + PROXY_OK + PROXY_OK)
    events, _ = parse(path)
    assert [e.get("action", e.get("error")) for e in events] == [
        "server_started", "truncated JSON: Expecting property name enclosed in double quotes (column 2)",
        "server_started", "server_started"]


# --- the command line --------------------------------------------------------------------------------

def test_missing_file_exits_2_and_names_it(tmp_path: Path) -> None:
    ok = audit_file(tmp_path, AUDIT_OK)
    result = CliRunner().invoke(main, ["parse", str(tmp_path / "nope.log"), str(ok)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope.log'}: cannot open" in result.stderr
    assert json.loads(result.stdout.splitlines()[0])["action"] == "app_boot"  # the other input still parsed


def test_undetectable_file_named_explicitly_is_rejected_per_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    result = CliRunner().invoke(main, ["parse", str(path)])
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["error"] for x in lines] == ["could not tell which Kamal log this file is (use --log-type)"] * 2
    assert result.exit_code == 0


def test_strict_exits_1_on_rejected_lines(tmp_path: Path) -> None:
    path = audit_file(tmp_path, AUDIT_OK + b"garbage\n")
    assert CliRunner().invoke(main, ["parse", str(path)]).exit_code == 0
    assert CliRunner().invoke(main, ["parse", "--strict", str(path)]).exit_code == 1


def test_unknown_time_zone_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["parse", "--assume-tz", "Mars/Olympus", str(audit_file(tmp_path, AUDIT_OK))])
    assert result.exit_code == 2
    assert "unknown time zone 'Mars/Olympus'" in result.stderr


@pytest.mark.parametrize("content", [b"\x00\x01\x02\n", b"\xff\xfe\n\n", b"{\n"])
def test_forced_log_type_accounts_for_every_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(content)
    for log_type in ("audit", "run", "proxy", "docker"):
        events, summary = parse(path, log_type=log_type)
        assert summary.sources[0].parsed + summary.sources[0].rejected == summary.sources[0].lines
        assert {e["line"] for e in events} == set(range(1, summary.sources[0].lines + 1))
