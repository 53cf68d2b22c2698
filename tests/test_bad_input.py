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
    for log_type in ("audit", "run", "proxy", "docker", "process"):
        events, summary = parse(path, log_type=log_type)
        assert summary.sources[0].parsed + summary.sources[0].rejected == summary.sources[0].lines
        assert {e["line"] for e in events} == set(range(1, summary.sources[0].lines + 1))


# --- found in review: each of these once crashed, hung, leaked or misread ----------------------------

def test_deeply_nested_json_costs_one_line(tmp_path: Path) -> None:
    path = tmp_path / "kamal-proxy.log"
    nested = b'{"time":"2026-06-22T09:14:01Z","level":"INFO","msg":"Request","x":' + b"[" * 600 + b"]" * 600 + b"}\n"
    path.write_bytes(PROXY_OK + nested + PROXY_OK)
    events, _ = parse(path)
    assert events[1]["error"] == "invalid JSON: nested more than 64 levels deep"
    assert events[2]["action"] == "server_started"


def test_nan_and_infinity_are_not_json(tmp_path: Path) -> None:
    path = tmp_path / "kamal-proxy.log"
    path.write_bytes(b'{"time":"2026-06-22T09:14:01Z","level":"INFO","msg":"Request","duration":NaN}\n')
    [event] = parse(path)[0]
    assert event["error"] == "invalid JSON: NaN is not JSON"


def test_timestamp_out_of_range_is_a_warning(tmp_path: Path) -> None:
    path = audit_file(tmp_path, b"[0001-01-01T00:30:00+01:00] [bob] [production] Pruned images\n")
    [event] = parse(path)[0]
    assert event["action"] == "prune_images" and "timestamp" not in event
    assert event["warnings"] == ["timestamp: timestamp out of range"]


def test_otlp_errors_never_quote_values(tmp_path: Path) -> None:
    path = tmp_path / "otel.jsonl"
    path.write_text('{"resourceLogs":[{"resource":{"attributes":[{"key":"x","value":{"intValue":"DB_PASSWORD=hunter2"}}]},'
                    '"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","body":{"stringValue":"x"}}]}]}]}\n')
    [event] = parse(path, log_type="run")[0]
    assert event["error"] == "invalid OTLP logs request: an intValue is not an integer"


def test_fifo_in_a_walked_folder_is_skipped_not_waited_on(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "x-audit.log")
    audit_file(tmp_path, AUDIT_OK)
    events, summary = parse(tmp_path)
    assert [e["action"] for e in events] == ["app_boot"]
    fifo = next(s for s in summary.sources if s.source.endswith("x-audit.log"))
    assert fifo.skipped == "not a regular file (a pipe, socket or device)"


def test_lines_before_a_truncated_gzip_are_kept(tmp_path: Path) -> None:
    data = gzip.compress(AUDIT_OK * 5000, mtime=0)
    path = tmp_path / "shop-production-audit.log.gz"
    path.write_bytes(data[: len(data) * 3 // 4])
    events, summary = parse(path)
    stats = summary.sources[0]
    assert stats.failed and stats.lines > 100
    assert len(events) == stats.lines and all(e["action"] == "app_boot" for e in events)


def test_file_names_that_are_not_utf8_are_escaped(tmp_path: Path) -> None:
    import os

    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9-production-audit.log"
    with open(raw, "wb") as f:
        f.write(AUDIT_OK)
    events, _ = parse(tmp_path)
    assert events[0]["source"].endswith("caf\\xe9-production-audit.log")
    json.dumps(events[0]).encode("utf-8")  # writable as strict UTF-8


def test_other_tools_logs_in_a_walked_folder_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("[2026-06-22 13:02:49] [INFO] Server started on port 3000\n")
    (tmp_path / "service.jsonl").write_text('{"time":"2026-06-22T13:02:49Z","level":"INFO","msg":"listening","port":8080}\n')
    events, summary = parse(tmp_path)
    assert events == []
    assert {s.skipped for s in summary.sources} == {"not recognized as a Kamal log"}


def test_a_performer_full_of_brackets_is_bounded_work(tmp_path: Path) -> None:
    """Every `] ` is a candidate end of the performer; only the first 16 are tried, so a huge forged
    line costs linear time (it took minutes when all were tried)."""
    line = b"[2026-06-22T13:02:49Z] [" + b"x] Executed cmd '" * 30000 + b"end\n"
    path = audit_file(tmp_path, line + AUDIT_OK)
    events, _ = parse(path)
    assert events[0]["action"] == "unknown" and events[0]["performer_flags"] == ["split_limit"]
    assert events[1]["action"] == "app_boot"


def test_table_shows_control_characters_as_escapes(tmp_path: Path) -> None:
    path = audit_file(tmp_path, b"[2026-06-22T13:02:49Z] [bob\x1b[2J\xe2\x80\xae] [production] Pruned images\n")
    result = CliRunner().invoke(main, ["parse", "--format", "table", str(path)])
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "bob\\x1b" in result.stdout and "\\u202e" in result.stdout
